"""Features and labels computed once and kept, for the stages that read them many times.

``materialise_labels`` returns a LazyFrame over the labelled requests (canonical columns +
features + labels, without the widest columns no later stage reads). A small trace is
collected in memory with every other column. A large one (``tracelab.ingest.read_trace``:
inputs over 16 MB) keeps only ``later_stage_columns()``, without the arrival-window features
(no label or later stage reads them), and is featurised at most ``PARTITION_ROWS``
consecutive input rows at a time (``Trace.slices``: cut at Parquet row groups by the rule
``tracelab.scale`` partitions by, ``tracelab.ingest.partition``), each partition written to an Arrow IPC file in the
trace's work folder, so memory is bounded by a partition, not the trace. The co-submission
counts, which look across the whole trace, are joined from a table of the whole trace
(``compute_context_tables``), so they are exact. Session features (turn index, session
length and context, think time) see the turns of a session inside its partition: a session
cut by a partition boundary restarts its turn count after it (the one approximation, and
only for traces over ``PARTITION_ROWS``). Rows keep the input order. Per-request values
computed elsewhere (the cache stage's hits) are attached here by the request's position in
``trace.frame`` (``row_values``), once, rather than by a join on request_id in every later
scan.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelab.labels.axes import compute_labels, label_columns, label_inputs, reason_columns
from tracelab.labels.config import LabelConfig, load_label_config
from tracelab.positions import attach_by_position

if TYPE_CHECKING:
    from tracelab.features.reference import ReferenceHardware

# Input rows featurised at once: larger partitions cut fewer sessions; smaller ones hold
# less and leave less work outside the overlap of one partition's write with the next one's
# side tables (10M synthetic trace, stage: 5.2-5.6 s with 1M-row partitions, 5.6-5.8 s with
# 2M; the same label for every request either way).
PARTITION_ROWS = 1_000_000
# The request's position in ``trace.frame`` (0-based), the key of ``row_values``.
TRACE_ROW = "_trace_row"

# Columns no later stage of the pipeline reads, and the widest per row (text reasons,
# block-id lists, paths): ``not_materialised()``. `tracelab label` keeps them all.
_WIDE_COLUMNS = ("prefix_hash_blocks", "source_file")
# What the later stages read (the clusterer, the plan's demand and ledger, the summary's
# aggregates): ``later_stage_columns()``, these and every label column. A large trace's
# partitions are written with only these (plus ``row_values``), which halves the bytes
# written per request. The features that only feed the labels (sessions, windows,
# evidence, model facts) are not kept.
_LATER_STAGE_FEATURES = (
    "request_id", "arrival_ts", "time_base", "status", "model",
    "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens",
    "prefill_tokens", "decode_tokens", "context_tokens",
    "model_id", "model_match", "work_model_id", "work_model_assumed", "work_device",
    "prefill_device_s", "decode_device_s", "prefill_work_share",
)
# Low-cardinality text columns kept as polars Enums where their values are known (labels:
# ``axes.label_dtype()``; model ids, model_match, work_device: ``features.work``) and as a
# Categorical otherwise (the logged model name); all sort lexically and compare with plain
# strings. Every later stage groups by them, and a 10M-row group_by on the label and model
# columns took a third of the CPU that way (0.67 vs 1.92 CPU-s). The features and label
# rules produce them so, never by a cast; status and time_base stay text: casting each
# row's string cost more than grouping by it saves. ``categorical_columns()``: these and
# every label column.
_CATEGORICAL_FEATURES = ("model", "model_id", "model_match", "work_model_id", "work_device")


def not_materialised() -> tuple[str, ...]:
    """The columns the pipeline's labelled frame leaves out: every reason, the widest."""
    return (*reason_columns(), *_WIDE_COLUMNS)


def later_stage_columns() -> tuple[str, ...]:
    """The columns a large trace's partitions keep: what the later stages read."""
    return (*_LATER_STAGE_FEATURES, *label_columns())


def categorical_columns() -> tuple[str, ...]:
    """The text columns the labelled frame holds as Enums or Categoricals."""
    return (*_CATEGORICAL_FEATURES, *label_columns())


def compute_labelled(frame: pl.LazyFrame, cfg: LabelConfig, hardware: ReferenceHardware,
                     model_map: dict[str, str] | None, assume_model: str | None,
                     context: Any = None, row_values: pl.DataFrame | None = None,
                     first_row: int = 0, max_rows: int | None = None,
                     narrow: bool = False) -> pl.LazyFrame:
    """Features and labels of ``frame`` (a trace or one part of it), lazily, without
    ``not_materialised()``, ``categorical_columns()`` as Enums or Categoricals; ``narrow``
    keeps only ``later_stage_columns()``. ``context``, the whole trace's tables, when
    ``frame`` is a part; ``row_values`` as in ``materialise_labels``, for rows
    ``first_row`` up to ``first_row + max_rows``."""
    from tracelab.features import compute_features

    if row_values is not None:
        if max_rows is None:
            max_rows = int(frame.select(pl.len()).collect().item())
        frame = attach_by_position(frame.with_row_index(TRACE_ROW, offset=first_row),
                                   row_values, TRACE_ROW, max_rows, offset=first_row
                                   ).drop(TRACE_ROW)
    # Narrow: only the features the labels or later stages read (no arrival windows, two
    # of the four session columns).
    later = later_stage_columns()
    wanted = {*label_inputs(cfg, hardware.edge_devices), *later} if narrow else None
    features = compute_features(frame, model_map=model_map, assume_model=assume_model,
                                window_s=cfg.window_s, hardware=hardware, context=context,
                                columns=wanted)
    labeled = compute_labels(features, cfg, edge_devices=hardware.edge_devices)
    names = labeled.collect_schema().names()
    if narrow:
        extra = [] if row_values is None else [c for c in row_values.columns if c != TRACE_ROW]
        return labeled.select([c for c in (*later, *extra) if c in names])
    return labeled.drop([name for name in not_materialised() if name in names])


def materialise_labels(
    trace: Any,
    *,
    config: LabelConfig | None = None,
    hardware: ReferenceHardware | None = None,
    model_map: dict[str, str] | None = None,
    assume_model: str | None = None,
    row_values: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """The labelled requests of ``trace`` (a ``tracelab.ingest.Trace``), computed once (see
    the module docstring); ``hardware`` defaults to ``load_reference_hardware()``.

    ``row_values``: ``[_trace_row (Int64), columns...]``, extra per-request columns keyed by
    the request's 0-based position in ``trace.frame``; requests without a row get nulls.
    A large trace's frame scans files in ``trace.workdir``: keep ``trace`` alive while the
    frame is used (the folder is removed when the Trace is garbage-collected).
    """
    from tracelab.features import compute_context_tables, load_reference_hardware

    cfg = config or load_label_config()
    hw = hardware or load_reference_hardware()
    rows = trace.rows_accepted
    if trace.workdir is None or rows == 0:
        return compute_labelled(trace.frame, cfg, hw, model_map, assume_model,
                                row_values=row_values).collect().lazy()
    folder = Path(trace.workdir.name) / "labeled"
    folder.mkdir(exist_ok=True)
    context = (compute_context_tables(trace.frame, cfg.window_s, windows=False)
               if rows > PARTITION_ROWS else None)
    parts = trace.slices(PARTITION_ROWS)
    sizes = trace.slice_sizes(PARTITION_ROWS)
    starts = [sum(sizes[:index]) for index in range(len(sizes))]

    def build(index: int) -> pl.LazyFrame:
        return compute_labelled(parts[index], cfg, hw, model_map, assume_model, context,
                                row_values, starts[index], max(sizes[index], 1), narrow=True)

    # Partition k+1's side tables (its narrow collects, sorts and dense columns: mostly one
    # core) are built on a second thread while partition k streams to disk on both.
    files = [folder / f"part-{index:05d}.arrow" for index in range(len(parts))]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(build, 0)
        for index, target in enumerate(files):  # partitions, not rows
            labelled = pending.result()
            if index + 1 < len(parts):
                pending = pool.submit(build, index + 1)
            labelled.sink_ipc(target, compression=None)
    return pl.scan_ipc(files)
