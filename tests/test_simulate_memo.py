"""Pool replays kept by their inputs (``tracelab.simulate.memo``): a fleet replayed again
with some pools changed gives the same replay as from scratch, replaying only those."""

from __future__ import annotations

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal
from sim_fixtures import DEVICE, MODEL, perf_model, poisson, requests

from tracelab.simulate import Fleet, PoolSpec, RouteShare, simulate
from tracelab.simulate.memo import PoolRuns, canonical_sessions

OTHER = "llama-3.2-3b"


def _two_models(big: int, small: int, prefill: int = 1, decode: int = 1) -> Fleet:
    """A colocated pool of MODEL and a disaggregated OTHER: three pools, two models."""
    co = PoolSpec(f"{DEVICE}/{MODEL}/x1/colocated", DEVICE, MODEL, 1, big, "colocated")
    small_co = PoolSpec(f"{DEVICE}/{OTHER}/x1/colocated", DEVICE, OTHER, 1, small, "colocated")
    pre = PoolSpec(f"{DEVICE}/{OTHER}/x1/prefill", DEVICE, OTHER, 1, prefill, "prefill")
    dec = PoolSpec(f"{DEVICE}/{OTHER}/x1/decode", DEVICE, OTHER, 1, decode, "decode")
    return Fleet((co, small_co, pre, dec), (
        RouteShare("a", co.pool_id, co.pool_id, 1.0),
        RouteShare("b", small_co.pool_id, small_co.pool_id, 0.5),
        RouteShare("b", pre.pool_id, dec.pool_id, 0.5)))


def _rows() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    a = requests(poisson(400, 30.0, seed=1), rng.integers(100, 3000, 400),
                 rng.integers(10, 300, 400), class_id="a",
                 session=[f"s{i % 37}" for i in range(400)])
    b = requests(poisson(300, 20.0, seed=2), rng.integers(100, 6000, 300),
                 rng.integers(10, 300, 300), class_id="b").with_columns(
        pl.lit(OTHER).alias("model_id"), ("b" + pl.col("request_id")).alias("request_id"))
    return pl.concat([a, b]).sort("arrival_s")


def test_a_replay_with_kept_pools_equals_one_from_scratch_and_reruns_only_changed_pools():
    rows, perf, memo = _rows(), perf_model(), PoolRuns()
    first = simulate(rows, _two_models(2, 1), perf, memo=memo)
    assert (memo.misses, memo.hits) == (4, 0)
    # Only the decode pool grows: the other three pools' inputs are unchanged.
    grown = simulate(rows, _two_models(2, 1, decode=2), perf, memo=memo)
    assert (memo.misses, memo.hits) == (5, 3)
    assert_frame_equal(grown.requests, simulate(rows, _two_models(2, 1, decode=2), perf).requests)
    assert_frame_equal(grown.pools, simulate(rows, _two_models(2, 1, decode=2), perf).pools)
    # The prefill pool grows: its finishes move, so the decode pool's input changes too.
    simulate(rows, _two_models(2, 1, prefill=2), perf, memo=memo)
    assert (memo.misses, memo.hits) == (7, 5)
    # One model's requests alone replay from the memo (sessions renumbered by the cut).
    whole = _two_models(2, 1)
    one = Fleet(whole.pools[:1], whole.routes[:1])
    alone = simulate(rows.filter(pl.col("model_id") == MODEL), one, perf, memo=memo)
    assert memo.misses == 7
    assert_frame_equal(alone.requests, first.requests.filter(pl.col("model_id") == MODEL))


def test_sessions_are_numbered_by_first_appearance():
    got = canonical_sessions(np.array([7, -1, 3, 7, 9, 3, -1]))
    assert got.tolist() == [0, -1, 1, 0, 2, 1, -1]
