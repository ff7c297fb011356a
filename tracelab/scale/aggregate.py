"""The report's aggregates (``tracelab.report.aggregate``) computed per partition and merged.

Two passes over the partitions, both through an executor, merged on the client in
partition order:

1. each partition is featurised and labelled and returns its span (first/last arrival) and
   its clustering candidates: the ``sample_size`` rows with the smallest
   ``hash(request_id)`` (``WorkloadClusterer``'s own sample rule), so the merged candidates
   hold exactly the rows the clusterer would sample from the whole trace; the client fits
   the clusterer on them. The labelled partition, cut to the columns later stages read
   (``tracelab.labels.materialise.later_stage_columns()``), is written to a Parquet file in a
   temporary folder the client made;
2. each partition's labelled rows are read back from that file (or, on a worker that cannot
   see the folder, e.g. a Dask worker on another host, labelled again: same rows, same
   result), assigned to clusters with the fitted model and reduced with
   ``compute_aggregates`` (the global timeline bucket from pass 1), then the client combines
   them with ``merge_aggregates``. The client deletes the folder at the end.

Per-request features that look across rows (sessions, arrival windows, co-submission) are
computed inside a partition: a session or window cut by a partition boundary is the
approximation (partitions follow Parquet row groups; ``write_large_trace`` keeps sessions
inside one). A partition's labelled frame is collected once, so memory is bounded by the
partition size, not the trace.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.scale.executor import Executor, LocalExecutor
from tracelab.scale.partition import Partition, plan_partitions, scan_partition

# Partition size for the labelled path: ~60 columns per row; measured peak RSS 1.9 GiB at
# 1M rows per partition, so half that keeps a worker near 1 GiB.
LABEL_TARGET_ROWS = 500_000
@dataclass(frozen=True)
class LabelSettings:
    """Everything labelling needs besides the rows (picklable)."""

    config: Any = None  # tracelab.labels.LabelConfig; None: the packaged labels.toml
    model_map: dict[str, str] | None = None
    assume_model: str | None = None
    k: int | None = None
    random_state: int = 0
    window_s: float = 60.0
    # What read_trace subtracted from absolute arrivals to align mixed time bases
    # (tracelab.ingest.timebase); partitions are read again, so they apply it too.
    time_shift_us: int | None = None


@dataclass(frozen=True)
class SampleTask:
    partition: Partition
    settings: LabelSettings
    sample_size: int
    spill_dir: str | None = None  # the client's folder for labelled partitions; None: none


@dataclass(frozen=True)
class AggregateTask:
    partition: Partition
    settings: LabelSettings
    clusterer: Any  # a fitted tracelab.labels.WorkloadClusterer
    bucket_s: int
    spill_dir: str | None = None


def _spill_path(spill_dir: str | None, partition: Partition) -> Path | None:
    """Where a partition's labelled rows are kept; None when this worker cannot see the
    client's folder (it is never created here, so a remote worker leaves nothing behind)."""
    if spill_dir is None or not Path(spill_dir).is_dir():
        return None
    return Path(spill_dir) / f"labelled-{partition.index:06d}.parquet"


def _labelled(partition: Partition, settings: LabelSettings) -> pl.LazyFrame:
    """Features + axis labels of one partition (as the pipeline computes them)."""
    from tracelab.features import load_reference_hardware
    from tracelab.ingest.timebase import align
    from tracelab.labels import load_label_config
    from tracelab.labels.materialise import compute_labelled

    rows = align(scan_partition(partition), settings.time_shift_us)
    return compute_labelled(rows, settings.config or load_label_config(),
                            load_reference_hardware(), settings.model_map, settings.assume_model)


def compute_partition_sample(task: SampleTask) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Pass 1 on a worker: clustering candidates and the span of one partition."""
    from tracelab.ingest.reader import TEMP_COMPRESSION
    from tracelab.labels import WorkloadClusterer
    from tracelab.labels.materialise import later_stage_columns
    from tracelab.report.aggregate import compute_span

    labelled = _labelled(task.partition, task.settings).collect()
    path = _spill_path(task.spill_dir, task.partition)
    if path is not None:
        kept = [name for name in later_stage_columns() if name in labelled.columns]
        labelled.select(kept).write_parquet(path, compression=TEMP_COMPRESSION)
    chooser = WorkloadClusterer(sample_size=task.sample_size,
                                random_state=task.settings.random_state)
    return chooser._sample(labelled.lazy()), compute_span(labelled.lazy())


def compute_partition_aggregates(task: AggregateTask) -> dict[str, Any]:
    """Pass 2 on a worker: the report aggregates of one labelled, clustered partition."""
    from tracelab.report.aggregate import compute_aggregates

    path = _spill_path(task.spill_dir, task.partition)
    if path is not None and path.is_file():
        labelled = pl.scan_parquet(path)
    else:
        labelled = _labelled(task.partition, task.settings).collect().lazy()
    return compute_aggregates(task.clusterer.assign(labelled), window_s=task.settings.window_s,
                              bucket_s=task.bucket_s)


def run_aggregates(
    paths: str | Path | Sequence[str | Path],
    *,
    executor: Executor | None = None,
    format: str | None = None,
    settings: LabelSettings | None = None,
    target_rows: int = LABEL_TARGET_ROWS,
    spill: bool = True,
) -> tuple[dict[str, Any], Any]:
    """Merged report aggregates of ``paths`` and the clusterer fitted on the merged sample.

    ``spill``: keep each labelled partition in a temporary folder between the passes (see
    the module docstring); False labels every partition twice and writes nothing.
    """
    from tracelab.outputs import work_prefix

    with tempfile.TemporaryDirectory(prefix=work_prefix() + "aggregates-") as folder:
        return _run(paths, executor=executor, format=format, settings=settings,
                    target_rows=target_rows, spill_dir=folder if spill else None)


def _run(
    paths: str | Path | Sequence[str | Path],
    *,
    executor: Executor | None,
    format: str | None,
    settings: LabelSettings | None,
    target_rows: int,
    spill_dir: str | None,
) -> tuple[dict[str, Any], Any]:
    from tracelab.labels import WorkloadClusterer
    from tracelab.report.aggregate import choose_bucket_s, merge_aggregates

    opts = settings or LabelSettings()
    runner: Executor = executor or LocalExecutor()
    partitions = plan_partitions(paths, format=format, target_rows=target_rows)
    clusterer = WorkloadClusterer(k=opts.k, random_state=opts.random_state)
    firsts = runner.map_partitions(
        compute_partition_sample,
        [SampleTask(p, opts, clusterer.sample_size, spill_dir) for p in partitions],
    )
    candidates = pl.concat([sample for sample, _ in firsts], how="diagonal_relaxed")
    clusterer.fit(candidates)
    span = functools.reduce(merge_aggregates, [s for _, s in firsts])
    lo, hi = span.get("arrival_us_min"), span.get("arrival_us_max")
    bucket_s = choose_bucket_s(0.0 if lo is None or hi is None else (hi - lo) / 1_000_000)
    parts = runner.map_partitions(
        compute_partition_aggregates,
        [AggregateTask(p, opts, clusterer, bucket_s, spill_dir) for p in partitions],
    )
    return functools.reduce(merge_aggregates, parts), clusterer
