"""``tracelab calibrate``: fit the performance profile to your own measurements."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._hardware import read_catalog
from tracelab.commands._options import Catalog, Json, OutputFile, Precision, Profile


def calibrate(
    measured: Annotated[
        Path, typer.Argument(help="CSV with model, phase, batch, context, ms[, device].")
    ],
    output: OutputFile = None,
    device: Annotated[
        str, typer.Option("--device", help="Device for rows without a device column.")
    ] = "h100-sxm",
    precision: Precision = "bf16",
    catalog: Catalog = None,
    profile: Profile = None,
    json_out: Json = False,
) -> None:
    """Fit mfu, mbu and per-layer overheads (least squares on log error); print the error."""
    from datetime import UTC, datetime

    from tracelab.hardware.calibrate import FIT_TERMS, fit_profile, read_measurements
    from tracelab.hardware.profile import dump_profile, load_profile
    from tracelab.hardware.registry import load_models

    frame = read_measurements(measured)
    base = load_profile(profile)
    result = fit_profile(frame, read_catalog(catalog, None), load_models(), base, device, precision)
    fitted = result.profile
    provenance = {
        "fitted_on": f"{measured.name} ({result.rows} rows)",
        "method": "scipy.optimize.least_squares, log(predicted/measured), loss soft_l1, f_scale 0.05",
        "device": device,
        "precision": precision,
        "rows": result.rows,
        "median_abs_err_before": round(result.median_abs_err_before, 4),
        "median_abs_err_after": round(result.median_abs_err_after, 4),
        "date": datetime.now(UTC).date().isoformat(),
    }
    fitted = type(fitted)(
        fitted.defaults, fitted.tiers, fitted.devices, provenance, str(output or "")
    )
    values = {k: getattr(fitted.defaults, k) for k in FIT_TERMS}
    if output is not None:
        from tracelab.outputs import output_files

        with output_files(output) as (temp,):
            temp.write_text(dump_profile(fitted), encoding="utf-8")
        sys.stderr.write(f"wrote {output}; apply it with --profile {output}\n")
    if json_out:
        sys.stdout.write(
            json.dumps(
                {**provenance, "fitted": values, "errors_after": list(result.errors_after)},
                indent=2,
            )
            + "\n"
        )
        return
    sys.stdout.write(
        f"rows {result.rows}: median |error| {result.median_abs_err_before:.1%} before, "
        f"{result.median_abs_err_after:.1%} after\n"
    )
    for k, v in values.items():
        sys.stdout.write(f"  {k:<18} {v:.4g}\n")


def register(app: typer.Typer) -> None:
    app.command(
        "calibrate",
        help="Fit the performance profile to your measurements; -o FILE writes the fitted "
        "profile TOML (use it with --profile).",
    )(boundary(calibrate, files=("output",)))
