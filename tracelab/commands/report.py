"""``tracelab report``: run the whole pipeline and write Markdown, HTML and summary.json."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._hardware import native_stdout_to_stderr
from tracelab.commands._options import (
    AssumeModel,
    Catalog,
    Config,
    Exclude,
    Executor,
    Format,
    Growth,
    Inputs,
    Json,
    K,
    LocalCluster,
    ModelMap,
    Only,
    OutputDir,
    Percentile,
    Price,
    Profile,
    RandomState,
    Scheduler,
    Slo,
    Strict,
    WindowS,
    input_paths,
    parse_model_map_option,
    parse_only,
)
from tracelab.commands._sources import Query, Since, SourceOptions, Until, Watermark

if TYPE_CHECKING:
    from tracelab.pipeline import PipelineResult

HELP = (
    "Run the whole pipeline (ingest → cache reuse → features and labels → plan) and write a "
    "report folder: report.md with SVG charts beside it, a self-contained report.html and "
    "summary.json (schema: schemas/summary.schema.json). No INPUT: the bundled sample trace."
)
DEFAULT_OUTPUT = Path("tracelab-report")

CacheCapacity = Annotated[int | None, typer.Option(
    "--cache-capacity", help="LRU prefix-cache capacity (blocks) credited to the plan "
    "(default: the smallest reaching 80% of achievable hits).")]


def pipeline_options(
    *, fmt: str | None, strict: bool, config: Path | None, k: int | None, random_state: int,
    model_map: list[str] | None, assume_model: str | None, catalog: Path | None,
    price: list[str] | None, profile: Path | None, slo: list[str] | None, percentile: float,
    growth: float, window_s: float, cache_capacity: int | None = None, only: str | None = None,
    exclude: list[str] | None = None,
) -> dict[str, Any]:
    """CLI options → ``run_pipeline`` keyword arguments (option errors raise ConfigError)."""
    return {
        "format": fmt, "strict": strict, "config": config, "k": k,
        "random_state": random_state, "model_map": parse_model_map_option(model_map),
        "assume_model": assume_model, "catalog": catalog, "prices": list(price or []),
        "profile": profile, "slos": list(slo or []), "percentile": percentile,
        "growth": growth, "window_s": window_s, "cache_capacity": cache_capacity,
        "only": parse_only(only), "exclude": list(exclude or []) or None,
    }


@contextmanager
def progress_bar() -> Iterator[Any]:
    """A progress callback: a rich bar on stderr when it is a terminal, else silent."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<22}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("starting", total=1)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        yield update


def run_with_progress(inputs: list[str] | None, options: dict[str, Any],
                      source: SourceOptions | None = None) -> PipelineResult:
    """Run the pipeline on ``inputs`` (the bundled sample when empty) with a progress bar."""
    from tracelab.pipeline import run_pipeline

    paths = input_paths(inputs, source)
    with progress_bar() as update, native_stdout_to_stderr():
        return run_pipeline(paths, progress=update, **options)


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
    only: Only = None,
    exclude: Exclude = None,
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
    )
    from tracelab.scale.executor import make_executor

    runner = make_executor(executor, scheduler=scheduler, local_cluster=local_cluster)
    # The charts' library (import and font cache: ~0.7 s) loads while the pipeline runs.
    options["preload"] = ("matplotlib.figure", "matplotlib.backends.backend_svg")
    source = SourceOptions(query, since, until, watermark)
    if runner is None:
        result = run_with_progress(inputs, options, source)
    else:
        with runner:
            result = run_with_progress(inputs, {**options, "executor": runner}, source)
    # A large trace's work folder (GBs of partitions: ~0.4 s to delete) goes while the
    # report is written; the interpreter waits for the thread before it exits.
    if result.trace.workdir is not None:
        threading.Thread(target=result.trace.workdir.cleanup, name="tracelab-cleanup").start()
    files = write_report(result.summary, folder)
    if as_json:
        sys.stdout.write(dump_summary(result.summary))
    else:
        from rich.console import Console

        from tracelab.report.terminal import render_terminal

        Console(file=sys.stdout).print(render_terminal(result.summary))
    sys.stderr.write(
        f"wrote {files.markdown.name} (+ {len(files.charts)} charts in charts/), "
        f"{files.html.name} and {files.summary.name} to {folder} "
        f"in {result.elapsed_s:.1f} s\n"
    )


def register(app: typer.Typer) -> None:
    app.command("report", help=HELP)(boundary(report))
