"""Fit the performance model's efficiencies and overheads to measured timings.

``fit_profile`` takes rows (model, phase, batch, context, ms[, device]) and solves for mfu,
mbu and the per-layer overheads with ``scipy.optimize.least_squares`` on the log of
predicted/measured time, with a soft-L1 loss so a few unrepresentative rows (e.g. plain
SDPA decode at batch 1 and 32K context, a lower bound per the calibration README) do not
drag the physical terms. ``fit_sram_latency`` solves an SRAM part's per-layer and per-hop
latency from published per-user decode speeds (``SRAM_ANCHORS``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from tracelab.errors import ConfigError, InputFileError
from tracelab.hardware.catalog import Catalog
from tracelab.hardware.profile import PerfProfile
from tracelab.hardware.registry import ModelSpec, match_model

FIT_TERMS = ("mfu", "mbu", "t_layer_prefill_s", "t_layer_decode_s")
_BOUNDS = {
    "mfu": (0.02, 1.0),
    "mbu": (0.02, 1.0),
    "t_layer_prefill_s": (0.0, 1e-3),
    "t_layer_decode_s": (0.0, 1e-3),
    "t_step_s": (0.0, 0.05),
    "t_hop_s": (0.0, 0.05),
}
_SCALE = {
    "mfu": 0.1,
    "mbu": 0.1,
    "t_layer_prefill_s": 1e-5,
    "t_layer_decode_s": 1e-5,
    "t_step_s": 1e-4,
    "t_hop_s": 1e-4,
}

# Published per-user decode speeds on SRAM parts (tokens/s per stream, bf16 shapes).
# (device, model id, tokens/s, context, source)
SRAM_ANCHORS: tuple[tuple[str, str, float, int, str], ...] = (
    (
        "groq-lpu-v1",
        "llama-3.1-8b",
        750.0,
        2048,
        "TechPowerUp 2024-02 (Llama-2-7B 750 tok/s, LLMPerf); cerebras.ai 2024-08-27 implies ~750 for Llama-3.1-8B",
    ),
    (
        "groq-lpu-v1",
        "llama-3.1-70b",
        300.0,
        4096,
        "TechPowerUp 2024-02 (Llama-2-70B, 4K context, 300 tok/s; Llama 3.1 70B shape used)",
    ),
    (
        "cerebras-wse-3",
        "llama-3.1-8b",
        1800.0,
        2048,
        "Cerebras launch blog 2024-08-27 (Artificial Analysis >1,800)",
    ),
    (
        "cerebras-wse-3",
        "llama-3.1-70b",
        450.0,
        2048,
        "Cerebras launch blog 2024-08-27 (Artificial Analysis >446)",
    ),
)

REQUIRED_COLUMNS = ("model", "phase", "batch", "context", "ms")


@dataclass(frozen=True)
class FitResult:
    """A fitted profile and its error on the rows (median |pred/meas − 1|, before/after)."""

    profile: PerfProfile
    rows: int
    median_abs_err_before: float
    median_abs_err_after: float
    errors_after: tuple[float, ...]


def read_measurements(path: Path) -> pl.DataFrame:
    """Read a measurements CSV; ``ms_measured`` is accepted for ``ms``."""
    try:
        frame = pl.read_csv(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        msg = f"{path}: cannot read as CSV ({' '.join(str(exc).split())[:120]}); pass a CSV file"
        raise InputFileError(msg) from None
    if "ms" not in frame.columns and "ms_measured" in frame.columns:
        frame = frame.rename({"ms_measured": "ms"})
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        msg = (
            f"{path}: missing column(s) {', '.join(missing)}; calibrate needs "
            f"{', '.join(REQUIRED_COLUMNS)} (and optionally device)"
        )
        raise InputFileError(msg)
    bad = frame.filter(
        ~pl.col("phase").is_in(["prefill", "decode"])
        | (pl.col("batch") < 1)
        | (pl.col("context") < 1)
        | (pl.col("ms") <= 0)
    )
    if bad.height:
        row = bad.row(0, named=True)
        msg = (
            f"{path}: row with model={row['model']} phase={row['phase']} batch={row['batch']} "
            f"context={row['context']} ms={row['ms']} is invalid; phase must be prefill|decode, "
            "batch/context >= 1, ms > 0"
        )
        raise InputFileError(msg)
    return frame


def _predict(
    rows: Sequence[tuple[str, str, str, int, int]],
    catalog: Catalog,
    models: Mapping[str, ModelSpec],
    profile: PerfProfile,
    precision: str,
) -> list[float]:
    from tracelab.hardware.perf import PerfModel

    pm = PerfModel(catalog, dict(models), profile)
    out = []
    for device_id, model_id, phase, batch, context in rows:
        f = pm.prefill_s if phase == "prefill" else pm.decode_step_s
        out.append(f(device_id, model_id, batch, context, precision))
    return out


def fit_profile(
    measured: pl.DataFrame,
    catalog: Catalog,
    models: Mapping[str, ModelSpec],
    base: PerfProfile,
    device: str = "h100-sxm",
    precision: str = "bf16",
    terms: Sequence[str] = FIT_TERMS,
) -> FitResult:
    """Fit ``terms`` of the profile's defaults to ``measured`` (columns as REQUIRED_COLUMNS)."""
    import numpy as np
    from scipy.optimize import least_squares

    if "device" not in measured.columns:
        measured = measured.with_columns(pl.lit(device).alias("device"))
    rows = []
    for r in measured.iter_rows(named=True):  # a few dozen rows: the loop is the fit's input
        model_id, _how = match_model(str(r["model"]), models=models)
        if model_id is None:
            msg = f"measurements: model '{r['model']}' is not in the registry; use a registry id"
            raise ConfigError(msg)
        catalog.get(r["device"])
        rows.append((r["device"], model_id, r["phase"], int(r["batch"]), int(r["context"])))
    meas = np.array(measured["ms"].cast(pl.Float64).to_list()) / 1e3

    def err(p: PerfProfile) -> np.ndarray:
        return np.log(np.array(_predict(rows, catalog, models, p, precision)) / meas)

    before = err(base)
    x0 = np.array([getattr(base.defaults, k) for k in terms], dtype=float)
    lo = np.array([_BOUNDS[k][0] for k in terms])
    hi = np.array([_BOUNDS[k][1] for k in terms])
    x0 = np.clip(x0, lo + 1e-12, hi - 1e-12)

    def residual(x: np.ndarray) -> np.ndarray:
        return err(base.with_defaults(**dict(zip(terms, map(float, x), strict=True))))

    sol = least_squares(
        residual,
        x0,
        bounds=(lo, hi),
        x_scale=np.array([_SCALE[k] for k in terms]),
        loss="soft_l1",
        f_scale=0.05,
    )
    fitted = base.with_defaults(**{k: float(f"{v:.4g}") for k, v in zip(terms, sol.x, strict=True)})
    after = err(fitted)
    med_before = float(np.median(np.abs(np.expm1(before))))
    med_after = float(np.median(np.abs(np.expm1(after))))
    return FitResult(
        profile=fitted,
        rows=len(rows),
        median_abs_err_before=med_before,
        median_abs_err_after=med_after,
        errors_after=tuple(float(e) for e in np.expm1(after)),
    )


def fit_sram_latency(
    catalog: Catalog,
    models: Mapping[str, ModelSpec],
    profile: PerfProfile,
    device_id: str,
    anchors: Sequence[tuple[str, float, int]],
) -> dict[str, float]:
    """Per-layer decode latency and per-hop latency of an SRAM part from (model, tok/s, ctx)."""
    import numpy as np
    from scipy.optimize import least_squares

    from tracelab.hardware.perf import PerfModel

    catalog.get(device_id)
    target = np.array([1.0 / tok_s for _, tok_s, _ in anchors])

    def residual(x: np.ndarray) -> np.ndarray:
        override = {"t_layer_decode_s": float(x[0]), "t_hop_s": float(x[1])}
        p = replace(
            profile,
            devices={
                **profile.devices,
                device_id: {**profile.devices.get(device_id, {}), **override},
            },
        )
        pm = PerfModel(catalog, dict(models), p)
        pred = [pm.decode_step_s(device_id, mid, 1, ctx) for mid, _, ctx in anchors]
        return np.log(np.array(pred) / target)

    sol = least_squares(
        residual, np.array([2e-5, 1e-5]), bounds=([0, 0], [1e-3, 1e-2]), x_scale=[1e-5, 1e-5]
    )
    return {"t_layer_decode_s": float(f"{sol.x[0]:.4g}"), "t_hop_s": float(f"{sol.x[1]:.4g}")}


def median_abs_error(errors: Sequence[float]) -> float:
    ordered = sorted(abs(e) for e in errors)
    n = len(ordered)
    if n == 0:
        return math.nan
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
