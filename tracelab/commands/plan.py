"""``tracelab plan``: the cheapest hardware tier mix for a trace, with baselines and a ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._hardware import load_perf_model, native_stdout_to_stderr, read_catalog
from tracelab.commands._options import (
    AssumeModel,
    Catalog,
    Exclude,
    Format,
    Growth,
    Inputs,
    Json,
    ModelMap,
    Only,
    OutputDir,
    Percentile,
    Precision,
    Price,
    Profile,
    Slo,
    Strict,
    WindowS,
    load_inputs,
    parse_model_map_option,
    parse_only,
)
from tracelab.commands._sources import Query, Since, SourceOptions, Until, Watermark
from tracelab.errors import ConfigError

if TYPE_CHECKING:
    from tracelab.plan import Plan

HELP = (
    "Plan the cheapest mix of hardware tiers (a MILP over devices and prefill/decode routes) "
    "for the trace's demand under SLOs; print the fleet, $/hour, savings against the H100 "
    "and best-single-device baselines and the ledger roll-up; -o DIR writes fleet.csv, "
    "fleet.parquet, ledger.parquet and plan.json."
)


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
    plan.ledger.sink_parquet(paths[2])  # streams: the per-request ledger never sits in memory
    paths[3].write_text(json.dumps(plan.to_json(), indent=2, default=str) + "\n")
    return paths


def plan(
    inputs: Inputs = None,
    fmt: Format = None,
    strict: Strict = False,
    output: OutputDir = None,
    price: Price = None,
    slo: Slo = None,
    exclude: Exclude = None,
    only: Only = None,
    growth: Growth = 1.0,
    percentile: Percentile = 95.0,
    window_s: WindowS = 60.0,
    by: Annotated[str, typer.Option("--by", help="Classes: labels or cluster.")] = "labels",
    catalog: Catalog = None,
    profile: Profile = None,
    precision: Precision = "bf16",
    model_map: ModelMap = None,
    assume_model: AssumeModel = None,
    as_json: Json = False,
    query: Query = None,
    since: Since = None,
    until: Until = None,
    watermark: Watermark = None,
) -> None:
    """Plan the hardware tier mix for a trace."""
    from tracelab.plan import fit_plan, load_slos

    slos = load_slos(overrides=slo or [])  # option errors first, before any heavy import

    from rich.console import Console

    from tracelab.labels import cluster_labeled, load_label_config, materialise_labels

    cat = read_catalog(catalog, price)
    perf = load_perf_model(cat, profile)
    mapping = parse_model_map_option(model_map)
    trace = load_inputs(inputs, fmt, strict, SourceOptions(query, since, until, watermark))
    config = load_label_config()
    features = materialise_labels(trace, config=config, model_map=mapping,
                                  assume_model=assume_model)
    labeled = cluster_labeled(features, config=config, model_map=mapping,
                              assume_model=assume_model)
    with native_stdout_to_stderr():
        result = fit_plan(
            labeled.frame, perf, slos=slos, by=by, window_s=window_s, percentile=percentile,
            growth=growth, only=parse_only(only), exclude=exclude or None, precision=precision,
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
