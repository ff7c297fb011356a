"""``tracelab report``: run the whole pipeline and write Markdown, HTML and summary.json."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import Format, Inputs, Json, Strict

if TYPE_CHECKING:
    from tracelab.pipeline import PipelineResult

HELP = (
    "Run the whole pipeline (ingest → features → labels → cache reuse → plan) and write a "
    "report folder: report.md with SVG charts beside it, a self-contained report.html and "
    "summary.json (schema: schemas/summary.schema.json). No INPUT: the bundled sample trace."
)
DEFAULT_OUTPUT = Path("tracelab-report")

Many = list[str] | None
Config = Annotated[Path | None, typer.Option(
    "--config", help="Label thresholds TOML over the bundled labels.toml.")]
K = Annotated[int | None, typer.Option("--k", help="Number of clusters (default: chosen).")]
RandomState = Annotated[int, typer.Option("--random-state", help="Seed for clustering.")]
ModelMap = Annotated[Many, typer.Option(
    "--model-map", help="Map a logged model name to a registry id: NAME=ID (repeatable).")]
AssumeModel = Annotated[str | None, typer.Option(
    "--assume-model", help="Registry id for requests whose model is unknown or missing.")]
Catalog = Annotated[Path | None, typer.Option(
    "--catalog", help="Hardware catalog TOML merged over the bundled one.")]
Price = Annotated[Many, typer.Option(
    "--price", help="Override a device price: ID=USD per device-hour (repeatable).")]
Profile = Annotated[Path | None, typer.Option(
    "--profile", help="Performance profile TOML (from `tracelab calibrate`).")]
Slo = Annotated[Many, typer.Option(
    "--slo", help="Override an SLO: MODE.FIELD=SECONDS, e.g. interactive.tpot_s=0.02.")]
Percentile = Annotated[float, typer.Option(
    "--percentile", help="Plan for this percentile of demand windows.")]
Growth = Annotated[float, typer.Option("--growth", help="Scale demand, e.g. 2.0.")]
WindowS = Annotated[float, typer.Option("--window-s", help="Demand window, seconds.")]
CacheCapacity = Annotated[int | None, typer.Option(
    "--cache-capacity", help="LRU prefix-cache capacity (blocks) credited to the plan "
    "(default: the smallest reaching 80% of achievable hits).")]
Only = Annotated[str | None, typer.Option("--only", help="Plan only on these devices: ID,ID,...")]
Exclude = Annotated[Many, typer.Option("--exclude", help="Leave a device out (repeatable).")]


def pipeline_options(
    *, fmt: str | None, strict: bool, config: Path | None, k: int | None, random_state: int,
    model_map: Many, assume_model: str | None, catalog: Path | None, price: Many,
    profile: Path | None, slo: Many, percentile: float, growth: float, window_s: float,
    cache_capacity: int | None = None, only: str | None = None, exclude: Many = None,
) -> dict[str, Any]:
    """CLI options → ``run_pipeline`` keyword arguments (option errors raise ConfigError)."""
    from tracelab.hardware.registry import parse_model_map

    return {
        "format": fmt, "strict": strict, "config": config, "k": k,
        "random_state": random_state, "model_map": parse_model_map(model_map or []) or None,
        "assume_model": assume_model, "catalog": catalog, "prices": list(price or []),
        "profile": profile, "slos": list(slo or []), "percentile": percentile,
        "growth": growth, "window_s": window_s, "cache_capacity": cache_capacity,
        "only": [s.strip() for s in only.split(",") if s.strip()] if only else None,
        "exclude": list(exclude or []) or None,
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


@contextmanager
def native_stdout_to_stderr() -> Iterator[None]:
    """Send whatever native code writes to file descriptor 1 (HiGHS prints solver notes there)
    to stderr while the pipeline runs, so stdout carries only data (``--json > out.json``)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_with_progress(inputs: list[str] | None, options: dict[str, Any]) -> PipelineResult:
    """Run the pipeline on ``inputs`` (the bundled sample when empty) with a progress bar."""
    from tracelab.pipeline import run_pipeline
    from tracelab.resources import default_sample_trace

    paths = list(inputs) if inputs else [str(default_sample_trace())]
    with progress_bar() as update, native_stdout_to_stderr():
        return run_pipeline(paths, progress=update, **options)


def report(
    inputs: Inputs = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Folder for report.md, charts/, report.html and summary.json.")
    ] = DEFAULT_OUTPUT,
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
    as_json: Json = False,
) -> None:
    """Report on a trace: terminal summary, report.md, report.html, summary.json."""
    from tracelab.report.summary import dump_summary
    from tracelab.report.write import write_report

    options = pipeline_options(
        fmt=fmt, strict=strict, config=config, k=k, random_state=random_state,
        model_map=model_map, assume_model=assume_model, catalog=catalog, price=price,
        profile=profile, slo=slo, percentile=percentile, growth=growth, window_s=window_s,
        cache_capacity=cache_capacity, only=only, exclude=exclude,
    )
    result = run_with_progress(inputs, options)
    files = write_report(result.summary, output)
    if as_json:
        sys.stdout.write(dump_summary(result.summary))
    else:
        from rich.console import Console

        from tracelab.report.terminal import render_terminal

        Console(file=sys.stdout).print(render_terminal(result.summary))
    sys.stderr.write(
        f"wrote {files.markdown.name} (+ {len(files.charts)} charts in charts/), "
        f"{files.html.name} and {files.summary.name} to {output} "
        f"in {result.elapsed_s:.1f} s\n"
    )


def register(app: typer.Typer) -> None:
    app.command("report", help=HELP)(boundary(report))
