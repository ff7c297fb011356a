"""The trace's hours: one hourly token profile for the schedule and the commitments (the same
output as the two derivations it replaced), and the MILP's commitment rule on whole
replicas, hand-solved."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tracelab.plan import commit
from tracelab.plan.hours import PoolHours, cheapest_base, hourly_tokens
from tracelab.plan.schedule import (
    DAY_S,
    daily_shape,
    reserved_base,
    schedule_table,
    window_of_day,
)
from tracelab.simulate import PoolSpec


def _requests(n: int = 400, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "model_id": rng.choice(["a", "b"], n).tolist(),
        "arrival_s": np.sort(rng.uniform(0, 2.5 * DAY_S, n)).tolist(),
        "prefill_tokens": rng.integers(1, 5000, n).tolist(),
        "output_tokens": rng.integers(1, 900, n).tolist(),
    })


def _daily_shape_before(requests: pl.DataFrame, offset_s: float, window_s: float) -> pl.DataFrame:
    """``daily_shape`` as it was written before ``hourly_tokens`` (the reference)."""
    absolute = ((pl.col("arrival_s") + offset_s) // window_s).cast(pl.Int64).alias("_abs")
    return (requests.lazy().group_by("model_id", absolute, window_of_day(pl.col("arrival_s"),
                                                                 offset_s, window_s))
            .agg(pl.col("prefill_tokens").sum().cast(pl.Float64).alias("prefill"),
                 pl.col("output_tokens").sum().cast(pl.Float64).alias("decode"))
            .group_by("model_id", "hour").agg(pl.col("prefill", "decode").max())
            .sort("model_id", "hour").collect())


@pytest.mark.parametrize(("offset_s", "window_s"), [(0.0, 3600.0), (5400.0, 3600.0),
                                                    (79_200.0, 1800.0)])
def test_daily_shape_is_the_hourly_tokens_folded_onto_the_day(offset_s, window_s):
    frame = _requests()
    assert_frame_equal(daily_shape(frame, offset_s, window_s),
                       _daily_shape_before(frame, offset_s, window_s))


def _hour_levels_before(window_tokens, classes, window_s, windows, flat):
    """``commit.hour_levels`` as it was written before ``hourly_tokens`` (the reference)."""
    hours = int((windows - 1) * window_s // commit.BURST_WINDOW_S) + 1
    bound = classes.filter(~pl.col("class_id").is_in(list(flat))).select("class_id", "model_id")
    per_hour = (
        window_tokens.join(bound, on="class_id")
        .with_columns((pl.col("window") * window_s // commit.BURST_WINDOW_S).cast(pl.Int64)
                      .alias("hour"))
        .group_by("model_id", "hour").agg(pl.col("p", "d").sum())
        .select("model_id", *[pl.when(pl.col(v).max().over("model_id") > 0)
                              .then(pl.col(v) / pl.col(v).max().over("model_id")).otherwise(0.0)
                              .alias(v) for v in ("p", "d")])
        .sort("model_id", "p", "d")
    )
    weights, levels_of = {}, {}
    for model in sorted({str(m) for m in classes["model_id"].drop_nulls()}):
        busy = per_hour.filter(pl.col("model_id") == model).select("p", "d").to_numpy()
        curve = np.r_[busy.reshape(-1, 2), np.zeros((max(0, hours - len(busy)), 2))]
        groups = commit._bins(curve)
        levels_of[model] = tuple((float(g[:, 0].max()), float(g[:, 1].max())) for g in groups)
        weights[model] = tuple(len(g) / len(curve) for g in groups)
    levels = {}
    for row in classes.filter(pl.col("model_id").is_not_null()).iter_rows(named=True):
        own = levels_of[str(row["model_id"])]
        levels[row["class_id"]] = tuple((1.0, 1.0) for _ in own) if row["class_id"] in flat \
            else own
    return levels, weights


@pytest.mark.parametrize(("dtype", "window_s", "windows"), [(pl.Int64, 60.0, 2880),
                                                            (pl.Float64, 900.0, 200)])
def test_hour_levels_are_unchanged_by_the_shared_hourly_tokens(dtype, window_s, windows):
    rng = np.random.default_rng(3)
    n = 600
    window_tokens = pl.DataFrame({
        "class_id": rng.choice(["c1", "c2", "c3", "c4"], n).tolist(),
        "window": rng.integers(0, windows, n).tolist(),
        "p": rng.integers(0, 40_000, n).tolist(),
        "d": rng.integers(0, 9_000, n).tolist(),
    }).with_columns(pl.col("p", "d").cast(dtype))
    classes = pl.DataFrame({"class_id": ["c1", "c2", "c3", "c4"],
                            "model_id": ["a", "a", "b", "b"]})
    args = (window_tokens, classes, window_s, windows, ["c4"])
    assert commit.hour_levels(*args) == _hour_levels_before(*args)


def test_hourly_tokens_sums_per_model_and_window():
    frame = pl.DataFrame({"model_id": ["a", "a", "a", "b"], "t": [10.0, 3599.0, 3600.0, 50.0],
                          "p": [1, 2, 4, 8], "d": [10, 20, 40, 80]})
    got = hourly_tokens(frame, pl.col("t"), "p", "d", 3600.0, offset_s=1.0).sort(
        "model_id", "window").collect()
    # 3599 s + 1 s of offset starts window 1.
    assert got.rows() == [("a", 0, 1.0, 10.0), ("a", 1, 6.0, 60.0), ("b", 0, 8.0, 80.0)]


def test_cheapest_base_is_the_milps_rule_on_whole_replicas():
    # 4 hours needing 2, 2, 1, 1 replicas; on demand $1 per replica-hour.
    # Reserved $0.60: r=0: 1.5; r=1: 0.6 + (1 + 1)/4 = 1.1; r=2: 1.2. The floor, 1.
    assert cheapest_base([2, 2, 1, 1], [0.25] * 4, 0.6, 1.0) == (1, pytest.approx(1.1))
    # Reserved $0.40: r=1: 0.4 + 0.5 = 0.9; r=2: 0.8: above the floor, the second replica runs
    # in half the hours, more than the price ratio 0.4.
    assert cheapest_base([2, 2, 1, 1], [0.25] * 4, 0.4, 1.0) == (2, pytest.approx(0.8))
    # A reserved price above the burst one (spot cheaper than a commitment): none reserved.
    assert cheapest_base([2, 2, 1, 1], [0.25] * 4, 0.6, 0.3) == (0, pytest.approx(0.45))
    # No reserved price: all burst.
    assert cheapest_base([3, 1], [0.5, 0.5], None, 2.0) == (0, pytest.approx(4.0))


def test_pool_hours_keep_their_shape_at_any_size():
    hours = PoolHours(levels=(1.0, 0.3), weights=(0.25, 0.75), reserved_usd=2.0, burst_usd=4.0)
    assert hours.needs(3) == [3, 1]
    assert hours.needs(10) == [10, 3]  # 0.3 × 10 is 3, not 4, despite the float
    # 10 replicas: r=3: 6 + 0.25 × 7 × 4 = 13; r=10: 20; r=2: 4 + (8 × 0.25 + 1 × 0.75) × 4 = 15.
    assert hours.price(10) == (3, pytest.approx(13.0))


def test_a_committed_schedule_reserves_its_floor_and_bursts_the_rest():
    pools = [PoolSpec("p", "d", "m", 1, 1, "colocated"), PoolSpec("q", "d", "m", 2, 1,
                                                                  "colocated")]
    counts = {"p": {0: 2, 1: 2, 2: 1, 3: 1}, "q": {0: 1, 1: 1, 2: 1, 3: 1}}
    burst = {"p": 1.0, "q": 3.0}
    base = reserved_base(counts, [0, 1, 2, 3], {"p": 0.6, "q": None}, burst)
    assert base == {"p": 1, "q": 0}  # q has no reserved price: bought by the hour
    table = schedule_table(counts, pools, burst, 3600.0, {"p": (1, 0.6)})
    usd = dict(((h, k), u) for h, k, u in table.select("hour", "pool_id", "usd").rows())
    # p: the reserved replica ($0.60) every hour, the second on demand ($1) in hours 0 and 1.
    assert [usd[h, "p"] for h in range(4)] == pytest.approx([1.6, 1.6, 0.6, 0.6])
    assert [usd[h, "q"] for h in range(4)] == pytest.approx([3.0] * 4)
    # Half-hour windows pay half.
    half = schedule_table(counts, pools, burst, 1800.0, {"p": (1, 0.6)})
    assert half.filter(pl.col("pool_id") == "p")["usd"].to_list() == pytest.approx(
        [0.8, 0.8, 0.3, 0.3])
    # The MILP's rule reserves above the floor when the second replica runs in more of the
    # day than the price ratio: here half the windows against $0.40 / $1.
    assert reserved_base(counts, [0, 1, 2, 3], {"p": 0.4}, burst)["p"] == 2
