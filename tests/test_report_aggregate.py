"""Report aggregates: the one-pass queries give the exact numbers, in any row order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracelab.report.aggregate as agg
from tracelab.report.aggregate import compute_aggregates, compute_span
from tracelab.schema import conform

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def frame(seconds: list[float], **extra: list) -> pl.DataFrame:
    """Requests arriving ``seconds`` after T0 (10 input / 1 output tokens each) plus columns."""
    n = len(seconds)
    base = conform(pl.LazyFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "arrival_ts": [T0 + timedelta(seconds=s) for s in seconds],
        "time_base": ["absolute"] * n,
        "model": ["m"] * n,
        "input_tokens": [10] * n,
        "output_tokens": [1] * n,
        "status": ["ok"] * n,
    })).collect()
    return base.with_columns(pl.Series(k, v) for k, v in extra.items())


def sorted_gap_sums(seconds: list[float]) -> tuple[int, float, float]:
    """Reference: gap count, sum and sum of squares of the sorted arrivals (s)."""
    us = sorted(round(s * 1_000_000) for s in seconds)
    gaps = [(b - a) / 1_000_000 for a, b in itertools.pairwise(us)]
    return len(gaps), sum(gaps), sum(g * g for g in gaps)


def test_gaps_in_time_order_are_exact():
    arr = compute_aggregates(frame([0, 10, 30, 130]).lazy())["arrivals"]
    assert (arr["gap_n"], arr["gap_sum_s"], arr["gap_sumsq_s2"]) == (3, 130.0, 10_500.0)
    # windows of 60 s from 09:00: [0, 10, 30] [] [130]
    assert arr["window_max"] - arr["window_min"] == 2
    assert arr["window_counts"] == {"1": 1, "3": 1}


def test_gaps_out_of_order_sort_the_arrivals(monkeypatch: pytest.MonkeyPatch):
    seconds = [130, 0, 30, 10, 61, 59.5]
    want = sorted_gap_sums(seconds)
    got = compute_aggregates(frame(seconds))["arrivals"]
    assert got["gap_n"] == want[0]
    assert got["gap_sum_s"] == pytest.approx(want[1])
    assert got["gap_sumsq_s2"] == pytest.approx(want[2])
    # Sorted in time ranges of ~2 rows: the gaps across the cuts are still counted.
    monkeypatch.setattr(agg, "GAP_SORT_ROWS", 2)
    assert compute_aggregates(frame(seconds))["arrivals"]["gap_sumsq_s2"] == pytest.approx(want[2])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=600_000), min_size=1, max_size=30),
       st.randoms(use_true_random=False), st.integers(min_value=1, max_value=4))
def test_aggregates_do_not_depend_on_row_order(ms, rnd, sort_rows):
    seconds = [m / 1000 for m in ms]
    shuffled = seconds[:]
    rnd.shuffle(shuffled)
    a = compute_aggregates(frame(sorted(seconds)), bucket_s=5)
    original = agg.GAP_SORT_ROWS
    agg.GAP_SORT_ROWS = sort_rows
    try:
        b = compute_aggregates(frame(shuffled), bucket_s=5)
    finally:
        agg.GAP_SORT_ROWS = original
    gaps_a, gaps_b = a.pop("arrivals"), b.pop("arrivals")
    assert a == b
    assert gaps_b["gap_sumsq_s2"] == pytest.approx(gaps_a["gap_sumsq_s2"], rel=1e-9, abs=1e-9)
    assert gaps_b["gap_sumsq_s2"] == pytest.approx(sorted_gap_sums(seconds)[2], rel=1e-9,
                                                   abs=1e-9)
    assert {k: v for k, v in gaps_a.items() if k != "gap_sumsq_s2"} == {
        k: v for k, v in gaps_b.items() if k != "gap_sumsq_s2"}


def test_cluster_names_feed_the_clusters_and_the_timeline():
    f = frame([0, 1, 2, 3],
              label_mode=["interactive", "batch", None, "batch"],
              cluster=pl.Series([0, 1, 1, None], dtype=pl.Int64),
              cluster_name=["chat", "code", "code", None],
              prefill_device_s=[1.0, 2.0, None, 0.5], decode_device_s=[0.5, None, 0.25, 0.0])
    out = compute_aggregates(f.lazy(), bucket_s=2)
    assert out["clusters"] == {
        "0": {"name": "chat", "requests": 1, "tokens": 11, "work_s": 1.5},
        "1": {"name": "code", "requests": 2, "tokens": 22, "work_s": 2.25},
        "none": {"name": None, "requests": 1, "tokens": 11, "work_s": 0.5},
    }
    assert out["labels"] == {"label_mode": {
        "interactive": {"requests": 1, "tokens": 11, "work_s": 1.5},
        "batch": {"requests": 2, "tokens": 22, "work_s": 2.5},
        "unknown": {"requests": 1, "tokens": 11, "work_s": 0.25},
    }}
    t = out["timeline"]
    first = next(iter(t["requests"]))
    second = str(int(first) + 1)
    assert t["requests"] == {first: 2, second: 2}
    assert t["tokens"] == {first: 22, second: 22}
    assert t["series"]["cluster_name"] == {"chat": {first: 1}, "code": {first: 1, second: 1},
                                           "unknown": {second: 1}}
    assert t["series"]["label_mode"] == {"interactive": {first: 1}, "batch": {first: 1, second: 1},
                                         "unknown": {second: 1}}
    assert out["totals"]["prefill_device_s"] == 3.5
    assert out["totals"]["decode_device_s"] == 0.75


def test_missing_optional_columns_and_empty_input():
    out = compute_aggregates(frame([0, 5]))
    assert out["labels"] == {}
    assert out["clusters"] == {}
    assert out["models"] == {"m": {"model_id": None, "match": None, "requests": 2}}
    assert out["totals"]["requests"] == 2
    assert out["totals"]["reasoning_tokens_known"] == 0
    assert out["span"]["time_bases"] == {"absolute": 1}
    empty = compute_aggregates(frame([0]).head(0))
    assert empty["totals"]["requests"] == 0
    assert empty["arrivals"]["gap_n"] == 0
    assert empty["arrivals"]["window_counts"] == {}
    assert empty["span"]["arrival_us_min"] is None


def test_compute_span_reads_first_last_and_time_bases():
    f = frame([5, 0, 9]).with_columns(time_base=pl.Series(["absolute", None, "relative"]))
    span = compute_span(f)
    assert span["arrival_us_max"] - span["arrival_us_min"] == 9_000_000
    assert span["time_bases"] == {"absolute": 1, "relative": 1}
