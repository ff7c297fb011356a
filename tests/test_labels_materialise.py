"""materialise_labels: features and labels computed once, in memory for small traces and
partition by partition in the work folder for large ones, with the same values."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import tracelab.ingest.reader as reader
import tracelab.labels.materialise as materialise
from tracelab.features import FEATURE_NAMES, compute_context_tables, compute_features
from tracelab.ingest import read_trace
from tracelab.labels import (
    compute_labels,
    label_columns,
    label_dtype,
    materialise_labels,
    not_materialised,
)
from tracelab.labels.materialise import categorical_columns, later_stage_columns
from tracelab.resources import sample_traces_dir

KEEP = ["request_id", *FEATURE_NAMES, *label_columns()]


def _sample() -> str:
    return str(sample_traces_dir() / "sample.canonical.parquet")


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """The Categorical and Enum columns as plain strings, to compare values."""
    assert frame.schema.get("model", pl.Categorical) == pl.Categorical
    assert all(frame.schema[c] == label_dtype() for c in label_columns() if c in frame)
    assert all(isinstance(frame.schema[c], pl.Enum) for c in categorical_columns()
               if c in frame and c != "model")
    return frame.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))


def _by_id(frame: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    return _as_text(frame.lazy().select(KEEP).collect()).sort("request_id")


def _expected(path: str) -> pl.DataFrame:
    trace = read_trace(path)
    labelled = compute_labels(compute_features(trace.frame)).collect()
    return labelled.with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String)).sort("request_id")


def test_small_trace_is_collected_in_memory_with_the_same_values() -> None:
    trace = read_trace(_sample())
    assert trace.workdir is None
    frame = materialise_labels(trace)
    assert not set(not_materialised()) & set(frame.collect_schema().names())
    assert_frame_equal(_by_id(frame), _expected(_sample()).select(KEEP))


def test_partitions_keep_what_later_stages_read_with_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reader, "LARGE_BYTES", 0)  # treat the sample as large
    monkeypatch.setattr(materialise, "PARTITION_ROWS", 1_000)
    trace = read_trace(_sample())
    assert trace.workdir is not None
    assert trace.rows_accepted > 3_000
    frame = materialise_labels(trace)
    assert frame.collect_schema().names() == list(later_stage_columns())
    got = _as_text(frame.collect()).sort("request_id")
    want = _expected(_sample()).select(got.columns)
    # Only label_mode reads session features, which see a session inside its partition:
    # a session cut by a boundary can lose its "turn 2+ after human think time" evidence.
    exact = [c for c in got.columns if c != "label_mode"]
    assert_frame_equal(got.select(exact), want.select(exact))
    same = (got["label_mode"] == want["label_mode"]).mean()
    assert same is not None
    assert same > 0.9


def test_context_tables_of_the_whole_trace_fix_a_part() -> None:
    frame = read_trace(_sample()).frame.collect()
    part = frame.head(700)
    context = compute_context_tables(frame.lazy(), 60.0)
    whole = compute_features(frame.lazy()).collect().head(700)
    alone = compute_features(part.lazy()).collect()
    fixed = compute_features(part.lazy(), context=context).collect()
    cols = ["window_requests_per_s", "window_dispersion", "co_submitted"]
    assert_frame_equal(fixed.select(cols), whole.select(cols))
    assert not alone.select(cols).equals(whole.select(cols))


@pytest.mark.parametrize("large", [False, True])
def test_row_values_attach_by_position_in_the_trace(
    monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    if large:
        monkeypatch.setattr(reader, "LARGE_BYTES", 0)
        monkeypatch.setattr(materialise, "PARTITION_ROWS", 1_000)
    trace = read_trace(_sample())
    ids = trace.frame.select("request_id").collect().with_row_index("_trace_row")
    every_third = ids.filter(pl.col("_trace_row") % 3 == 0).select(
        pl.col("_trace_row").cast(pl.Int64), pl.col("request_id").alias("tag"))
    got = materialise_labels(trace, row_values=every_third).select("request_id", "tag").collect()
    assert got.height == ids.height
    tagged = got.drop_nulls("tag")
    assert tagged.height == every_third.height
    assert (tagged["tag"] == tagged["request_id"]).all()


def test_window_stats_in_runs_of_windows_equal_the_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tracelab.features.context as context

    frame = read_trace(_sample()).frame
    whole = compute_context_tables(frame, 60.0)
    monkeypatch.setattr(context, "WINDOW_SLICE_ROWS", 300)
    runs = compute_context_tables(frame, 60.0)
    assert len(context._window_runs(
        frame.select(pl.col("arrival_ts").dt.truncate("1m").alias("w")).group_by("w")
        .len().sort("w").collect(), 60.0)) > 3
    assert_frame_equal(runs.windows, whole.windows)
    assert_frame_equal(runs.co_submitted.sort(pl.all()), whole.co_submitted.sort(pl.all()))


@pytest.mark.parametrize("name", ["sample.openai.jsonl", "sample.otel.json", "sample.azure.csv"])
def test_every_file_kind_partitions_to_the_same_rows(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    path = str(sample_traces_dir() / name)
    small = materialise_labels(read_trace(path)).collect().sort("request_id")
    monkeypatch.setattr(reader, "LARGE_BYTES", 0)
    monkeypatch.setattr(materialise, "PARTITION_ROWS", 700)
    trace = read_trace(path)  # its work folder holds the partitions while it lives
    sizes = [part.select(pl.len()).collect().item() for part in trace.slices(700)]
    assert trace.slice_sizes(700) == sizes
    large = materialise_labels(trace).collect().sort("request_id")
    assert large.height == small.height
    exact = [c for c in large.columns if c != "label_mode"]
    assert_frame_equal(large.select(exact), small.select(exact))
