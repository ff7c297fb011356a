"""``tracelab plan``: the cheapest hardware tier mix for a trace, with baselines and a ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import Format, Inputs, Json, Strict, load_inputs
from tracelab.errors import ConfigError

if TYPE_CHECKING:
    from tracelab.plan import Plan

HELP = (
    "Plan the cheapest mix of hardware tiers (a MILP over devices and prefill/decode routes) "
    "for the trace's demand under SLOs; print the fleet, $/hour, savings against the H100 "
    "and best-single-device baselines and the ledger roll-up; -o DIR writes fleet.csv, "
    "fleet.parquet, ledger.parquet and plan.json."
)

Many = list[str] | None


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def _tables(plan: Plan) -> list[Any]:
    from rich.table import Table

    fleet = Table(title=f"Fleet — {_money(plan.usd_per_hour)}/hour, "
                        f"{_money(plan.usd_per_mtok)} per 1M tokens")
    for col in ("device", "model", "replicas", "devices", "$/hour", "role"):
        fleet.add_column(col, justify="right" if col in ("replicas", "devices", "$/hour") else "left")
    for row in plan.fleet.iter_rows(named=True):
        fleet.add_row(row["device_id"], row["model_id"], str(row["replicas"]), str(row["devices"]),
                      _money(row["usd_per_hour"]), row["role"])
    base = Table(title="Against the baselines")
    for col in ("fleet", "$/hour", "saving"):
        base.add_column(col, justify="left" if col == "fleet" else "right")
    base.add_row("this plan", _money(plan.usd_per_hour), "")
    savings = plan.savings()
    for key, label in (("h100", "everything on H100"), ("best_single", "best single device")):
        entry = plan.baselines.get(key)
        name = label if entry is None else f"{label} ({entry['device_id']})"
        saving = savings.get(key)
        base.add_row(name, _money(None if entry is None else entry["usd_per_hour"]),
                     "cannot serve it" if entry is None else f"{saving:.1%}")
    base.caption = (
        f"span {plan.span_hours:.2f} h: fleet {_money(plan.fleet_usd)} = ledger "
        f"{_money(plan.ledger_usd)} + idle {_money(plan.idle_usd)}"
    )
    roll = Table(title="Ledger by label × phase × device")
    for col in ("label", "phase", "device", "tokens", "% tokens", "$", "% $"):
        roll.add_column(col, justify="left" if col in ("label", "phase", "device") else "right")
    for row in plan.rollup.iter_rows(named=True):
        roll.add_row(row["class_id"], row["phase"], row["device"], f"{row['tokens']:,}",
                     f"{row['token_share']:.1%}", f"${row['usd']:,.4f}", f"{row['usd_share']:.1%}")
    return [fleet, base, roll]


def write_plan(plan: Plan, directory: Path) -> list[Path]:
    """Write fleet.csv, fleet.parquet, ledger.parquet and plan.json into ``directory``."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"--output {directory}: cannot create the folder ({exc.strerror}); pick another path"
        raise ConfigError(msg) from None
    paths = [directory / n for n in ("fleet.csv", "fleet.parquet", "ledger.parquet", "plan.json")]
    plan.fleet.write_csv(paths[0])
    plan.fleet.write_parquet(paths[1])
    plan.ledger.write_parquet(paths[2])
    paths[3].write_text(json.dumps(plan.to_json(), indent=2, default=str) + "\n")
    return paths


def plan(
    inputs: Inputs = None,
    fmt: Format = None,
    strict: Strict = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder for fleet.csv/.parquet, ledger.parquet and plan.json.")] = None,
    price: Annotated[Many, typer.Option(
        "--price", help="Override a device price: ID=USD per device-hour (repeatable).")] = None,
    slo: Annotated[Many, typer.Option(
        "--slo", help="Override an SLO: MODE.FIELD=SECONDS, e.g. interactive.tpot_s=0.02.")] = None,
    exclude: Annotated[Many, typer.Option("--exclude", help="Leave a device out (repeatable).")] = None,
    only: Annotated[str | None, typer.Option(
        "--only", help="Plan only on these devices: ID,ID,...")] = None,
    growth: Annotated[float, typer.Option("--growth", help="Scale demand, e.g. 2.0.")] = 1.0,
    percentile: Annotated[float, typer.Option(
        "--percentile", help="Plan for this percentile of windows.")] = 95.0,
    window_s: Annotated[float, typer.Option("--window-s", help="Demand window, seconds.")] = 60.0,
    by: Annotated[str, typer.Option("--by", help="Classes: labels or cluster.")] = "labels",
    catalog: Annotated[Path | None, typer.Option(
        "--catalog", help="Hardware catalog TOML merged over the bundled one.")] = None,
    profile: Annotated[Path | None, typer.Option(
        "--profile", help="Performance profile TOML (from `tracelab calibrate`).")] = None,
    precision: Annotated[str, typer.Option("--precision", help="bf16, fp8 or fp4.")] = "bf16",
    model_map: Annotated[Many, typer.Option(
        "--model-map", help="Map a logged model name to a registry id: NAME=ID (repeatable).")] = None,
    assume_model: Annotated[str | None, typer.Option(
        "--assume-model", help="Registry id for requests whose model is unknown or missing.")] = None,
    as_json: Json = False,
) -> None:
    """Plan the hardware tier mix for a trace."""
    from tracelab.plan import fit_plan, load_slos

    slos = load_slos(overrides=slo or [])  # option errors first, before any heavy import

    from rich.console import Console

    from tracelab.hardware.catalog import load_catalog, parse_prices
    from tracelab.hardware.perf import PerfModel
    from tracelab.hardware.profile import load_profile
    from tracelab.hardware.registry import load_models, parse_model_map
    from tracelab.labels import label_trace

    cat = load_catalog(catalog, prices=parse_prices(price or []))
    perf = PerfModel(cat, models=load_models(), profile=load_profile(profile))
    mapping = parse_model_map(model_map or [])
    trace = load_inputs(inputs, fmt, strict)
    labeled = label_trace(trace.frame, model_map=mapping or None, assume_model=assume_model)
    only_ids = [s.strip() for s in only.split(",") if s.strip()] if only else None
    result = fit_plan(
        labeled.frame, perf, slos=slos, by=by, window_s=window_s, percentile=percentile,
        growth=growth, only=only_ids, exclude=exclude or None, precision=precision,
        devices=cat.plannable(),
    )
    if output is not None:
        paths = write_plan(result, output)
        sys.stderr.write(f"wrote {', '.join(p.name for p in paths)} to {output}\n")
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, default=str) + "\n")
        return
    console = Console(file=sys.stdout)
    for table in _tables(result):
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("plan", help=HELP)(boundary(plan))
