"""``tracelab report``: run the whole pipeline and write Markdown, HTML and summary.json."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from tracelab.commands._boundary import HINTS, boundary
from tracelab.commands._options import (
    AssumeModel,
    Attainment,
    CacheCapacity,
    Catalog,
    Commitment,
    Config,
    CreditSessionReuse,
    Exclude,
    Executor,
    Format,
    Growth,
    Inputs,
    Json,
    K,
    LocalCluster,
    MaxDeviceTypes,
    MaxPools,
    ModelMap,
    Only,
    OutputDir,
    Percentile,
    Price,
    Profile,
    Providers,
    RandomState,
    Replay,
    Schedule,
    ScheduleFloor,
    Scheduler,
    Slo,
    Spot,
    Strict,
    WindowS,
)
from tracelab.commands._pipeline import pipeline_options, run_report
from tracelab.commands._sources import Query, Since, SourceOptions, Until, Watermark

HELP = (
    "Run the whole pipeline (ingest → cache reuse → features and labels → plan) and write a "
    "report folder: report.md with SVG charts beside it, a self-contained report.html and "
    "summary.json (schema: schemas/summary.schema.json). No INPUT: the bundled sample trace."
)
DEFAULT_OUTPUT = Path("tracelab-report")

def report(
    inputs: Inputs = None,
    output: OutputDir = DEFAULT_OUTPUT,
    fmt: Format = None,
    strict: Strict = False,
    config: Config = None,
    k: K = None,
    random_state: RandomState = 0,
    model_map: ModelMap = None,
    assume_model: AssumeModel = None,
    catalog: Catalog = None,
    price: Price = None,
    profile: Profile = None,
    slo: Slo = None,
    percentile: Percentile = 95.0,
    growth: Growth = 1.0,
    window_s: WindowS = 60.0,
    cache_capacity: CacheCapacity = None,
    credit_session_reuse: CreditSessionReuse = False,
    only: Only = None,
    exclude: Exclude = None,
    max_device_types: MaxDeviceTypes = 3,
    max_pools: MaxPools = None,
    providers: Providers = None,
    commitment: Commitment = "none",
    spot: Spot = False,
    attainment: Attainment = 0.99,
    replay: Replay = True,
    schedule: Schedule = "hourly",
    schedule_floor: ScheduleFloor = 1,
    executor: Executor = "inline",
    scheduler: Scheduler = None,
    local_cluster: LocalCluster = None,
    as_json: Json = False,
    query: Query = None,
    since: Since = None,
    until: Until = None,
    watermark: Watermark = None,
) -> None:
    """Report on a trace: terminal summary, report.md, report.html, summary.json."""
    import threading

    from tracelab.report.summary import dump_summary
    from tracelab.report.write import write_report

    folder = output or DEFAULT_OUTPUT

    options = pipeline_options(
        fmt=fmt, strict=strict, config=config, k=k, random_state=random_state,
        model_map=model_map, assume_model=assume_model, catalog=catalog, price=price,
        profile=profile, slo=slo, percentile=percentile, growth=growth, window_s=window_s,
        cache_capacity=cache_capacity, only=only, exclude=exclude,
        credit_session_reuse=credit_session_reuse,
        max_device_types=max_device_types, max_pools=max_pools, attainment=attainment, providers=providers,
        commitment=commitment, spot=spot,
        verify=replay, schedule=schedule, schedule_floor=schedule_floor,
    )
    from tracelab.scale.executor import make_executor

    runner = make_executor(executor, scheduler=scheduler, local_cluster=local_cluster)
    # The charts' library (import and font cache: ~0.7 s) loads while the pipeline runs.
    charts = ("matplotlib.figure", "matplotlib.backends.backend_svg")
    source = SourceOptions(query, since, until, watermark)
    if runner is None:
        result = run_report(inputs, options, preload=charts, source=source)
    else:
        with runner:
            result = run_report(inputs, options, executor=runner, preload=charts,
                                source=source)
    # A large trace's work folder (GBs of partitions: ~0.4 s to delete) goes while the
    # report is written; the interpreter waits for the thread before it exits.
    if result.trace.workdir is not None:
        threading.Thread(target=result.trace.workdir.cleanup, name="tracelab-cleanup").start()
    files = write_report(result.summary, folder)
    if not result.features.modelled:
        sys.stderr.write(f"no fleet was planned: {HINTS['assume_model']}\n")
    if as_json:
        sys.stdout.write(dump_summary(result.summary))
    else:
        from tracelab.commands._process import stdout_console
        from tracelab.report.terminal import render_terminal

        stdout_console().print(render_terminal(result.summary))
    if result.plan is not None and result.plan.per_token_alternatives():
        sys.stderr.write(f"note: some models cost less per token: {HINTS['providers']}\n")
    sys.stderr.write(
        f"wrote {files.markdown.name} (+ {len(files.charts)} charts in charts/), "
        f"{files.html.name} and {files.summary.name} to {folder} "
        f"in {result.elapsed_s:.1f} s\n"
    )


def register(app: typer.Typer) -> None:
    app.command("report", help=HELP)(boundary(report, folders=("output",)))
