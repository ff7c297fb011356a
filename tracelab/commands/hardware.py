"""``tracelab hardware``: list the device catalog with tiers, prices and sources."""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated, Any

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._hardware import load_perf_model, read_catalog, resolve_model
from tracelab.commands._options import Catalog, Json, Precision, Price, Profile


def _num(value: float | None) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def hardware(
    tier: Annotated[str | None, typer.Option("--tier", help="Only this tier.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Also show $ per 1M tokens serving this model.")
    ] = None,
    prompt: Annotated[
        int, typer.Option("--prompt", help="Prompt tokens for the $/M input column.")
    ] = 2048,
    context: Annotated[
        int, typer.Option("--context", help="Mean decode context for $/M output, tokens.")
    ] = 2048,
    ttft: Annotated[float | None, typer.Option("--ttft", help="TTFT target, seconds.")] = None,
    tpot: Annotated[float | None, typer.Option("--tpot", help="TPOT target, seconds.")] = None,
    precision: Precision = "bf16",
    catalog: Catalog = None,
    price: Price = None,
    profile: Profile = None,
    json_out: Json = False,
) -> None:
    """List devices: tier, peak rates, memory, unit, price and sources."""
    from tracelab.errors import ConfigError
    from tracelab.hardware.catalog import TIERS

    cat = read_catalog(catalog, price)
    if tier is not None and tier not in TIERS:
        msg = f"--tier '{tier}': unknown; use one of {', '.join(TIERS)}"
        raise ConfigError(msg)
    devices = [d for d in cat.devices.values() if tier is None or d.tier == tier]
    costs: dict[str, tuple[float, float]] = {}
    if model is not None:
        model_id, _how = resolve_model(model)
        pm = load_perf_model(cat, profile)
        for d in devices:
            if d.tflops(precision) is not None:
                costs[d.id] = pm.usd_per_mtok(
                    d.id, model_id, prompt, context, precision, ttft, tpot
                )
    if json_out:
        rows = []
        for d in devices:
            row = {
                k: _num(v) if isinstance(v, float) or v is None else v for k, v in vars(d).items()
            }
            row["estimated"] = list(d.estimated)
            row["plannable"] = d.plannable
            if model is not None:
                usd_in, usd_out = costs.get(d.id, (math.nan, math.nan))
                row["usd_per_mtok_input"] = _num(usd_in)
                row["usd_per_mtok_output"] = _num(usd_out)
            rows.append(row)
        sys.stdout.write(
            json.dumps({"devices": rows, "sources": list(cat.sources)}, indent=2) + "\n"
        )
        return
    from tracelab.commands._process import stdout_console
    from tracelab.report.tables import hardware_tables

    console = stdout_console()
    for table in hardware_tables(devices, costs, model):
        console.print(table)
    unpriced = [d.id for d in devices if not d.plannable]
    if unpriced:
        sys.stderr.write(
            f"{len(unpriced)} device(s) have no price and are not plannable "
            f"(give --price ID=USD): {', '.join(unpriced)}\n"
        )


def register(app: typer.Typer) -> None:
    app.command("hardware", help="List the hardware catalog: tiers, prices and sources.")(
        boundary(hardware)
    )
