"""The log-bucket quantile sketch: exact buckets, merge laws, 1% relative error."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tracelab.errors import ConfigError
from tracelab.scale.sketch import LogHistogram, compute_bucket_counts, read_sketches

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)

values = st.lists(
    st.one_of(
        st.floats(min_value=1e-6, max_value=1e9, allow_nan=False),
        st.floats(min_value=-1e6, max_value=-1e-6, allow_nan=False),
        st.just(0.0),
        st.integers(min_value=0, max_value=10**7).map(float),
    ),
    min_size=1,
    max_size=200,
)


def sketch(xs: list[float]) -> LogHistogram:
    return LogHistogram.from_series(pl.Series(xs, dtype=pl.Float64))


def test_buckets_by_hand() -> None:
    # ceil(log(x)/log(γ)): 1 → 0; γ^3 → 3; 100 → ceil(230.25...) = 231; 0 counted apart.
    frame = pl.LazyFrame({"x": [1.0, 100.0, 100.0, 0.0, None, -1.0]})
    got = compute_bucket_counts(frame, "x").collect()
    expected = pl.DataFrame(
        {"sign": [-1, 0, 1, 1], "bucket": [0, 0, 0, 231], "count": [1, 1, 1, 2]},
        schema={"sign": pl.Int8, "bucket": pl.Int32, "count": pl.Int64},
    )
    assert_frame_equal(got, expected)
    assert math.ceil(math.log(100.0) / math.log(GAMMA)) == 231


def test_quantile_by_hand() -> None:
    s = sketch([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s.count == 5
    # rank floor(0.5*4) = 2 -> the value 3, read back as its bucket's representative.
    assert s.quantile(0.5) == pytest.approx(3.0, rel=ALPHA)
    assert s.quantile(1.0) == pytest.approx(100.0, rel=ALPHA)
    assert s.quantile(0.0) == pytest.approx(1.0, rel=ALPHA)
    assert LogHistogram().quantile(0.5) is None


def test_group_by_keys_and_read_sketches() -> None:
    frame = pl.DataFrame({"k": ["a", "a", "b"], "x": [1.0, 1.0, 5.0], "y": [0, 0, 0]})
    got = compute_bucket_counts(frame.lazy(), "x", by=["k"]).collect()
    assert got.get_column("count").to_list() == [2, 1]
    both = read_sketches(frame, ["x", "y"])
    assert both["x"].count == 3
    assert both["y"].zero == 3


@settings(max_examples=60, deadline=None)
@given(values)
def test_quantile_within_one_percent(xs: list[float]) -> None:
    s = sketch(xs)
    exact = np.sort(np.asarray(xs))
    for q in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0):
        truth = float(exact[math.floor(q * (len(xs) - 1))])
        got = s.quantile(q)
        assert got is not None
        assert abs(got - truth) <= ALPHA * abs(truth) * (1 + 1e-9)


@settings(max_examples=40, deadline=None)
@given(values, values, values)
def test_merge_is_associative_commutative_and_exact(a: list[float], b: list[float], c: list[float]) -> None:
    sa, sb, sc = sketch(a), sketch(b), sketch(c)
    assert sa.merge(sb) == sb.merge(sa)
    assert sa.merge(sb).merge(sc) == sa.merge(sb.merge(sc))
    assert sa.merge(sb).merge(sc) == sketch(a + b + c)


def test_json_round_trip() -> None:
    s = sketch([0.0, 0.5, 3.0, -2.0, 1e6])
    data = s.to_json()
    assert list(data["positive"]) == sorted(data["positive"], key=int)
    assert LogHistogram.from_json(data) == s
    import json

    assert LogHistogram.from_json(json.dumps(data)) == s


def test_errors() -> None:
    with pytest.raises(ConfigError, match="alpha"):
        compute_bucket_counts(pl.LazyFrame({"x": [1.0]}), "x", alpha=1.5)
    with pytest.raises(ConfigError, match="same alpha"):
        sketch([1.0]).merge(LogHistogram(alpha=0.02))
    with pytest.raises(ConfigError, match="between 0 and 1"):
        sketch([1.0]).quantile(2)
    with pytest.raises(ConfigError, match="not a tracelab sketch"):
        LogHistogram.from_json({"zero": 1})
