"""``tracelab plan``: the cheapest hardware tier mix for a trace, with baselines and a ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tracelab.commands._boundary import HINTS, boundary
from tracelab.commands._options import (
    AssumeModel,
    Attainment,
    By,
    CacheCapacity,
    Catalog,
    Commitment,
    Config,
    CreditSessionReuse,
    Exclude,
    Format,
    Growth,
    Inputs,
    Json,
    K,
    MaxDeviceTypes,
    MaxPools,
    ModelMap,
    Only,
    OutputDir,
    Percentile,
    Precision,
    Price,
    Profile,
    Providers,
    RandomState,
    Replay,
    Schedule,
    ScheduleFloor,
    Slo,
    Spot,
    Strict,
    WindowS,
    print_trace_notes,
)
from tracelab.commands._pipeline import open_pipeline, pipeline_options, progress_bar
from tracelab.commands._process import cli_process
from tracelab.commands._sources import Query, Since, SourceOptions, Until, Watermark
from tracelab.errors import ConfigError, InputFileError

if TYPE_CHECKING:
    from tracelab.plan import Plan

HELP = (
    "Plan the cheapest mix of hardware tiers (a MILP over devices and prefill/decode routes) "
    "for the trace's demand under SLOs; print the fleet, $/hour, savings against the H100 "
    "and best-single-device baselines and the ledger roll-up; -o DIR writes fleet.csv, "
    "fleet.parquet, ledger.parquet and plan.json."
)


def write_plan(plan: Plan, directory: Path) -> list[Path]:
    """Write fleet.csv, fleet.parquet, ledger.parquet and plan.json into ``directory`` as one
    set (``tracelab.outputs.output_folder``); with per-token provider routes, the fleet files
    hold the replica pools and per_token.csv the routes (requests, tokens, $); with a
    schedule, schedule.csv and schedule.parquet (``tracelab.plan.schedule``)."""
    import polars as pl

    from tracelab.outputs import output_folder

    per_token = plan.per_token if plan.per_token is not None and plan.per_token.height else None
    names = ["fleet.csv", "fleet.parquet", "ledger.parquet", "plan.json",
             *(("per_token.csv",) if per_token is not None else ())]
    if plan.schedule_table is not None:
        names += ["schedule.csv", "schedule.parquet"]
    fleet = plan.fleet if per_token is None else plan.fleet.filter(
        ~pl.col("pool_id").is_in(per_token["pool_id"].implode()))
    with output_folder(directory) as stage:
        paths = [stage / n for n in names]
        fleet.write_csv(paths[0])
        fleet.write_parquet(paths[1])
        plan.ledger.sink_parquet(paths[2])  # streams: the per-request ledger never sits in memory
        paths[3].write_text(json.dumps(plan.to_json(), indent=2, default=str) + "\n")
        if per_token is not None:
            per_token.write_csv(paths[4])
        if plan.schedule_table is not None:
            plan.schedule_table.write_csv(paths[-2])
            plan.schedule_table.write_parquet(paths[-1])
    return [directory / n for n in names]


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
    by: By = "labels",
    cache_capacity: CacheCapacity = None,
    credit_session_reuse: CreditSessionReuse = False,
    config: Config = None,
    k: K = None,
    random_state: RandomState = 0,
    catalog: Catalog = None,
    profile: Profile = None,
    precision: Precision = "bf16",
    model_map: ModelMap = None,
    assume_model: AssumeModel = None,
    max_device_types: MaxDeviceTypes = 3,
    max_pools: MaxPools = None,
    providers: Providers = None,
    commitment: Commitment = "none",
    spot: Spot = False,
    attainment: Attainment = 0.99,
    replay: Replay = True,
    schedule: Schedule = "hourly",
    schedule_floor: ScheduleFloor = 1,
    as_json: Json = False,
    query: Query = None,
    since: Since = None,
    until: Until = None,
    watermark: Watermark = None,
) -> None:
    """Plan the hardware tier mix for a trace."""
    options = pipeline_options(
        fmt=fmt, strict=strict, config=config, k=k, random_state=random_state,
        model_map=model_map, assume_model=assume_model, catalog=catalog, price=price,
        profile=profile, slo=slo, percentile=percentile, growth=growth, window_s=window_s,
        cache_capacity=cache_capacity, only=only, exclude=exclude, by=by, precision=precision,
        credit_session_reuse=credit_session_reuse,
        max_device_types=max_device_types, max_pools=max_pools, attainment=attainment, providers=providers,
        commitment=commitment, spot=spot,
        verify=replay, schedule=schedule, schedule_floor=schedule_floor,
    )
    from tracelab.commands._process import stdout_console
    from tracelab.pipeline.summary import NO_MODEL_NOTE, NO_TIME_NOTE

    # The same stages as ``tracelab report`` (cache credit included), so both give one $/h.
    with progress_bar() as update, cli_process():
        pipe = open_pipeline(inputs, options, update,
                             SourceOptions(query, since, until, watermark))
        result = pipe.plan()
    print_trace_notes(pipe.trace())
    if result is None:
        if not pipe.features().modelled:
            raise ConfigError(NO_MODEL_NOTE, param="assume_model")
        raise InputFileError(NO_TIME_NOTE.split(" (")[0])
    verdict = (result.replay or {}).get("verdict")
    if verdict:
        sys.stderr.write(f"note: {verdict}\n")
    if result.per_token_alternatives():
        sys.stderr.write(f"note: some models cost less per token: {HINTS['providers']}\n")
    if output is not None:
        paths = write_plan(result, output)
        sys.stderr.write(f"wrote {', '.join(p.name for p in paths)} to {output}\n")
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, default=str) + "\n")
        return
    from tracelab.report.tables import plan_tables

    console = stdout_console()
    for table in plan_tables(result):
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("plan", help=HELP)(boundary(plan, folders=("output",)))
