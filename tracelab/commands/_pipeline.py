"""The verbs' way into ``tracelab.pipeline``: flags → one ``PipelineOptions``, validated
before any heavy work, and the pipeline run with a progress bar and the CLI's process
settings (``_process``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tracelab.commands._options import input_paths, parse_model_map_option, parse_only
from tracelab.commands._process import cli_process, load_paused

if TYPE_CHECKING:
    from tracelab.commands._sources import SourceOptions
    from tracelab.pipeline import Pipeline, PipelineOptions, PipelineResult, Progress
    from tracelab.scale.executor import Executor


def pipeline_options(
    *, fmt: str | None = None, strict: bool = False, config: Path | None = None,
    k: int | None = None, random_state: int = 0, model_map: list[str] | None = None,
    assume_model: str | None = None, catalog: Path | None = None,
    price: list[str] | None = None, profile: Path | None = None, slo: list[str] | None = None,
    percentile: float = 95.0, growth: float = 1.0, window_s: float = 60.0,
    cache_capacity: int | None = None, only: str | None = None,
    exclude: list[str] | None = None, by: str = "labels", precision: str = "bf16",
    capacities: Sequence[int] = (), sample_rate: float | None = None,
    credit_session_reuse: bool = False,
    max_device_types: int = 3, max_pools: int | None = None, attainment: float = 0.99,
    verify: bool = False, providers: str | None = None, commitment: str = "none",
    spot: bool = False, schedule: str = "hourly", schedule_floor: int = 1,
) -> PipelineOptions:
    """CLI flags → validated ``PipelineOptions`` (``ParamError``/``ConfigError`` first)."""
    from tracelab.pipeline import PipelineOptions

    chosen = parse_only(only)
    return PipelineOptions(
        format=fmt, strict=strict, config=config, k=k, random_state=random_state,
        model_map=parse_model_map_option(model_map) or {}, assume_model=assume_model,
        catalog=catalog, prices=tuple(price or ()), profile=profile, slos=tuple(slo or ()),
        percentile=percentile, growth=growth, window_s=window_s,
        cache_capacity=cache_capacity, only=tuple(chosen) if chosen else None,
        exclude=tuple(exclude) if exclude else None, by=by, precision=precision,
        capacities=tuple(capacities), sample_rate=sample_rate,
        credit_session_reuse=credit_session_reuse,
        max_device_types=max_device_types, max_pools=max_pools, attainment=attainment,
        verify=verify, providers=providers, commitment=commitment, spot=spot,
        schedule=schedule, schedule_floor=schedule_floor,
    ).validate()


@contextmanager
def progress_bar() -> Iterator[Progress | None]:
    """A progress callback: a rich bar on stderr when it is a terminal, else None."""
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


def open_pipeline(inputs: list[str] | None, options: PipelineOptions,
                  progress: Progress | None = None,
                  source: SourceOptions | None = None) -> Pipeline:
    """The pipeline over ``inputs`` (the bundled sample when empty; databases read with
    ``source``); its files are read and checked now, before any trace is."""
    from tracelab.pipeline import Pipeline

    return Pipeline(input_paths(inputs, source), options, progress=progress)


def run_report(inputs: list[str] | None, options: PipelineOptions, *,
               executor: Executor | None = None, preload: Sequence[str] = (),
               source: SourceOptions | None = None) -> PipelineResult:
    """Every stage and the summary on ``inputs``, with a progress bar (``tracelab report``,
    ``tracelab diff``)."""
    with progress_bar() as update, cli_process():
        pipe = open_pipeline(inputs, options, update, source)
        # The imports start only now, so the option checks above (Python, holding the GIL)
        # are not slowed by them; with the collector paused (the CLI owns the process).
        return pipe.report(executor=executor, preload=preload, loader=load_paused)
