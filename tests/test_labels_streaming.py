"""label_trace stays lazy: the frame is a plan the streaming engine runs, rows in input order,
and the summary (one aggregate) agrees with the collected frame."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal
from test_labels_cluster import _trace
from test_labels_support import HARDWARE

from tracelab.labels import LabelConfig, label_columns, label_trace, share_table


def test_frame_is_lazy_and_streams_like_in_memory() -> None:
    df = _trace().reverse()
    result = label_trace(df.lazy(), config=LabelConfig(), hardware=HARDWARE)
    assert isinstance(result.frame, pl.LazyFrame)
    streamed = result.frame.collect(engine="streaming")
    assert_frame_equal(streamed, result.frame.collect(engine="in-memory"))
    assert streamed.get_column("request_id").to_list() == df.get_column("request_id").to_list()


def test_summary_matches_the_collected_frame() -> None:
    result = label_trace(_trace().lazy(), config=LabelConfig(), hardware=HARDWARE, k=2)
    frame = result.frame.collect()
    summary = result.summary
    assert summary["requests"] == frame.height == 62
    for column in label_columns():
        got = pl.DataFrame(summary["labels"][column.removeprefix("label_")])
        # Work sums are rolled up from groups: equal up to float summation order.
        assert_frame_equal(got, share_table(frame, column), check_dtypes=False, rel_tol=1e-12)
    clusters = {row["cluster"]: row["requests"] for row in summary["clusters"]}
    assert clusters == {0: 30, 1: 30, None: 2}
    assert sum(row["request_share"] for row in summary["clusters"]) == 1.0
    assert summary["assumptions"]["reference_device"] == "ref-gpu"
    assert summary["assumptions"]["work_model_assumed_requests"] == 0
    assert summary["assumptions"]["models"] == [
        {"model": "tiny", "model_id": "tiny-8b", "model_match": "exact",
         "work_model_id": "tiny-8b", "work_model_assumed": False, "requests": 62}]
