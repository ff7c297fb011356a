"""Commitments: a reserved base plus on-demand (or spot) burst, hand-solved."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import polars as pl
import pytest
from conftest import invoke
from plan_fakes import FakeDevice, FakePerf, labeled_frame

from tracelab.errors import ConfigError
from tracelab.plan import fit_plan, milp
from tracelab.plan.commit import Commitments
from tracelab.plan.routes import Route

POOL = ("gpu", "m", 1, "colocated")


def _route(load: float, usd: float = 4.0) -> Route:
    """One colocated route of class c: ``load`` replicas at its planned (peak) rate."""
    return Route("c", "m", POOL, POOL, load / 2, load / 2, 1.0, 1.0, usd, usd, 1.0, 0, 0.0,
                 0.0, 0.1, 0.01, 1)


def _commit(levels: tuple[float, ...], weights: tuple[float, ...], reserved: float = 0.5,
            spot: float | None = None) -> Commitments:
    return Commitments(term="1y", spot=spot is not None, reserved={"gpu": reserved},
                       burst={} if spot is None else {"gpu": spot},
                       levels={"c": tuple((f, f) for f in levels)}, weights={"m": weights})


def test_flat_load_goes_all_reserved():
    # 2.5 replicas every hour: 3 reserved at $2/h (half of $4 on demand) = $6/h, against
    # 2 reserved + 1 on demand all day ($8/h) or 3 on demand ($12/h).
    sol = milp.solve({"c": [_route(2.5)]}, commit=_commit((1.0,), (1.0,)))
    assert sol is not None
    assert sol.replicas == {POOL: 3}
    assert sol.reserved == {POOL: 3}
    assert sol.usd_per_hour == pytest.approx(6.0)
    assert sol.running == {POOL: pytest.approx(3.0)}


def test_spiky_load_gets_a_reserved_base_and_on_demand_peaks():
    # 2.5 replicas in 2 of 24 hours, 1.0 in the other 22 (level 0.4). Reserved $2/h, on
    # demand $4/h only in the hours it runs. Per day:
    #   r=0: 22 h × 1 × $4 + 2 h × 3 × $4 = $112;  r=1: 24 × $2 + 2 h × 2 × $4 = $64;
    #   r=2: 24 × $4 + 2 h × 1 × $4 = $104;       r=3: 24 × $6 = $144.
    # So 1 reserved and 2 on demand at the peak: $64 / 24 h.
    commit = _commit((1.0, 0.4), (2 / 24, 22 / 24))
    sol = milp.solve({"c": [_route(2.5)]}, commit=commit)
    assert sol is not None
    assert sol.replicas == {POOL: 3}
    assert sol.reserved == {POOL: 1}
    assert sol.usd_per_hour == pytest.approx(64 / 24)
    # Replicas running on average: 1 all day + 2 for 2 hours.
    assert sol.running == {POOL: pytest.approx(1 + 2 * 2 / 24)}
    # The static plan (no commitments) pays 3 on-demand replicas all day.
    static = milp.solve({"c": [_route(2.5)]})
    assert static is not None
    assert static.usd_per_hour == pytest.approx(12.0)


def test_spot_burst_is_priced_at_spot_and_a_device_without_reserved_bursts_only():
    # Spot at 30% of on demand ($1.20/h) for the burst: r=0: 22 × 1.2 + 2 × 3 × 1.2 = $33.6,
    # r=1: 48 + 2 × 2 × 1.2 = $52.8: all burst, on spot.
    commit = _commit((1.0, 0.4), (2 / 24, 22 / 24), spot=0.3)
    sol = milp.solve({"c": [_route(2.5)]}, commit=commit)
    assert sol is not None
    assert sol.reserved == {POOL: 0}
    assert sol.usd_per_hour == pytest.approx(33.6 / 24)
    # No reserved price published: on demand by the hour, 22 × $4 + 2 × 3 × $4 = $112 a day.
    bare = Commitments(term="1y", spot=False, reserved={}, burst={},
                       levels={"c": ((1.0, 1.0), (0.4, 0.4))}, weights={"m": (2 / 24, 22 / 24)})
    sol = milp.solve({"c": [_route(2.5)]}, commit=bare)
    assert sol is not None
    assert sol.reserved == {POOL: 0}
    assert sol.usd_per_hour == pytest.approx(112 / 24)
    assert math.isclose(sol.running[POOL], (22 * 1 + 2 * 3) / 24)


@dataclass
class _Device(FakeDevice):
    reserved_1y_usd_per_hour: float | None = None
    spot_usd_per_hour: float | None = None


def _day(peak_hours: int) -> pl.LazyFrame:
    # One request an hour for 24 hours, decode-bound: 360,000 output tokens fill one replica
    # (100 tok/s) for an hour. Off-peak 300,000 (1 replica), peak 1,000,000 (2.78: 3).
    return labeled_frame([
        {"id": f"r{h}", "t": h * 3600, "prefill": 100 if h < 24 - peak_hours else 333,
         "decode": 300_000 if h < 24 - peak_hours else 1_000_000}
        for h in range(24)])


def _fit_day(peak_hours: int, **kw):
    perf = FakePerf({"h100-sxm": _Device("h100-sxm", 4.0, 1000.0, 0.5, [(8, 0.02, 100.0)],
                                         reserved_1y_usd_per_hour=2.0)})
    return fit_plan(_day(peak_hours), perf, window_s=3600.0, percentile=100.0, headroom=False,
                    max_device_types=None, **kw)


def test_plan_of_a_spiky_day_buys_a_reserved_base_and_hourly_peaks():
    # Peak 2 of 24 hours at 2.78 replicas (3), off-peak 0.83 (1): 1 reserved at $2/h all day
    # + 2 on demand at $4/h for 2 hours = $64 a day, $64/24 per hour; the static plan pays 3
    # on-demand replicas all day ($12/h).
    static = _fit_day(2)
    assert static.usd_per_hour == pytest.approx(12.0)
    assert "reserved" not in static.fleet.columns
    plan = _fit_day(2, commitment="1y")
    row = plan.fleet.row(0, named=True)
    assert (row["replicas"], row["reserved"], row["burst"]) == (3, 1, 2)
    assert row["price_term"] == "reserved-1y + on-demand by the hour"
    assert plan.usd_per_hour == pytest.approx(64 / 24)
    assert plan.settings["commitment"] == "1y"
    assert plan.assumptions["commitments"]["prices"][0]["reserved_share"] == 0.5
    # Every dollar accounted for: the ledger charges what a running replica-hour cost.
    ledger = plan.ledger.collect().select(pl.sum("prefill_usd") + pl.sum("decode_usd")).item()
    assert ledger + plan.idle_usd == pytest.approx(plan.fleet_usd, abs=1e-12)
    assert 0 < ledger <= plan.fleet_usd


def test_plan_of_a_flat_day_goes_all_reserved():
    plan = _fit_day(0, commitment="1y")
    row = plan.fleet.row(0, named=True)
    # 0.83 replicas every hour: 1 reserved replica at $2/h.
    assert (row["replicas"], row["reserved"], row["burst"]) == (1, 1, 0)
    assert plan.usd_per_hour == pytest.approx(2.0)


def test_unknown_commitment_term_is_a_config_error():
    with pytest.raises(ConfigError, match="commitment '2y': unknown"):
        _fit_day(0, commitment="2y")


def test_cli_plan_with_commitments_lists_reserved_and_burst(runner):
    from tracelab.resources import default_sample_trace

    if not default_sample_trace().exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    result = invoke(runner, ["plan", "--commitment", "3y", "--spot", "--no-replay", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert all({"reserved", "burst", "price_term"} <= set(f) for f in doc["fleet"])
    assert doc["assumptions"]["commitments"]["spot_preemption"].startswith("spot replicas")
    assert doc["fleet_usd"] == pytest.approx(doc["ledger_usd"] + doc["idle_usd"], abs=1e-12)


def test_cli_unknown_commitment_is_one_line_exit_2(runner):
    result = invoke(runner, ["plan", "--commitment", "2y"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "commitment" in result.stderr


def test_a_pool_the_repair_resizes_is_repriced_by_the_milps_rule():
    # The spiky day's pool (3 replicas: 1 reserved at $2/h, 2 on demand at $4/h in the 2 peak
    # hours) keeps its hours' shape when the repair makes it 4: the peak hours need 4, the
    # other 22 (level 0.3 of the peak) ceil(4 × 0.3) = 2. Per day:
    #   r=0: (2 × 4 + 22 × 2) × $4 = $208;   r=1: 24 × $2 + (2 × 3 + 22 × 1) × $4 = $160;
    #   r=2: 24 × $4 + 2 × 2 × $4 = $112;    r=3: 24 × $6 + 2 × 1 × $4 = $152;  r=4: $192.
    # So 2 reserved and 2 burst in the peak hours: $112 / 24 h (not $64/24 + one more
    # on-demand replica all day, $160/24, as a 24 h burst would price it).
    plan = _fit_day(2, commitment="1y")
    pool = plan.fleet["pool_id"][0]
    hours = plan.hours[pool]
    assert hours.weights == pytest.approx((2 / 24, 22 / 24))
    assert (hours.reserved_usd, hours.burst_usd) == (2.0, 4.0)
    assert hours.needs(4) == [4, 2]
    more = plan.with_replicas({pool: 4})
    row = more.fleet.row(0, named=True)
    assert (row["replicas"], row["reserved"], row["burst"]) == (4, 2, 2)
    assert more.usd_per_hour == pytest.approx(112 / 24)
    # Back to the MILP's size: its own price again.
    same = more.with_replicas({pool: 3}).fleet.row(0, named=True)
    assert (same["reserved"], same["burst"]) == (1, 2)
    assert same["usd_per_hour"] == pytest.approx(64 / 24)
    fewer = plan.with_replicas({pool: 0}).fleet.row(0, named=True)
    assert (fewer["reserved"], fewer["burst"], fewer["usd_per_hour"]) == (0, 0, 0.0)
