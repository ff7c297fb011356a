"""Hypothesis invariants of the MILP: monotone in devices, price and demand; never above a baseline."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from plan_fakes import FakeDevice, FakePerf

from tracelab.plan.milp import solve, solve_baselines
from tracelab.plan.routes import ClassSpec, Link, compute_routes
from tracelab.plan.slo import Slo

SLO = Slo(mode="interactive", ttft_s=2.0, tpot_s=0.04)
rates = st.floats(min_value=10.0, max_value=5000.0)

device_st = st.builds(
    lambda i, price, ptps, dtps, tpot, stretch: FakeDevice(
        f"d{i}", price, ptps, 0.5, [(8, tpot, dtps)], stretch=stretch),
    st.integers(0, 0),
    st.floats(0.5, 5.0), st.floats(100.0, 5000.0), st.floats(50.0, 2000.0),
    st.floats(0.005, 0.025), st.floats(1.0, 1.5),
)


def _devices(draw_list):
    return {f"d{i}": FakeDevice(f"d{i}", d.usd_per_hour, d.prefill_tps, 0.5, d.decode_points,
                                stretch=d.stretch) for i, d in enumerate(draw_list)}


def _cost(devices, demands):
    perf = FakePerf(devices)
    specs = [ClassSpec(f"c{i}", "m8", SLO, p, d, 1000, 100.0, 1000.0)
             for i, (p, d) in enumerate(demands)]
    routes = compute_routes(perf, specs, [Link(k, 50.0) for k in devices])
    return routes, solve(routes)


classes_st = st.lists(st.tuples(rates, rates), min_size=1, max_size=3)
devices_st = st.lists(device_st, min_size=1, max_size=3)


@settings(max_examples=15, deadline=None)
@given(devices_st, device_st, classes_st)
def test_adding_a_device_never_raises_cost(base, extra, demands):
    devs = _devices(base)
    _, before = _cost(devs, demands)
    more = _devices([*base, extra])
    _, after = _cost(more, demands)
    assert after.usd_per_hour <= before.usd_per_hour + 1e-6


@settings(max_examples=15, deadline=None)
@given(devices_st, classes_st, st.floats(0.1, 1.0))
def test_a_lower_price_never_raises_cost(base, demands, cut):
    devs = _devices(base)
    _, before = _cost(devs, demands)
    devs["d0"].usd_per_hour *= cut
    _, after = _cost(devs, demands)
    assert after.usd_per_hour <= before.usd_per_hour + 1e-6


@settings(max_examples=15, deadline=None)
@given(devices_st, classes_st, st.floats(1.0, 3.0))
def test_more_demand_never_lowers_cost(base, demands, factor):
    devs = _devices(base)
    _, before = _cost(devs, demands)
    _, after = _cost(devs, [(p * factor, d * factor) for p, d in demands])
    assert after.usd_per_hour >= before.usd_per_hour - 1e-6


@settings(max_examples=15, deadline=None)
@given(devices_st, classes_st)
def test_plan_never_costs_more_than_a_baseline(base, demands):
    devs = _devices(base)
    routes, plan = _cost(devs, demands)
    reference, best = solve_baselines(routes, reference="d0")
    assert best is not None
    assert plan.usd_per_hour <= best[1].usd_per_hour + 1e-6
    if reference is not None:
        assert plan.usd_per_hour <= reference.usd_per_hour + 1e-6


@settings(max_examples=15, deadline=None)
@given(devices_st, classes_st, st.floats(0.1, 1.0), st.integers(1, 2), st.integers(1, 3))
def test_a_lower_price_never_raises_cost_within_the_limits(base, demands, cut, types, pools):
    from tracelab.plan.limits import Limits

    limits = Limits(max_device_types=types, max_pools=pools)
    devs = _devices(base)
    routes, _ = _cost(devs, demands)
    before = solve(routes, limits)
    devs["d0"].usd_per_hour *= cut
    routes, _ = _cost(devs, demands)
    after = solve(routes, limits)
    if before is not None:
        assert after is not None
        assert after.usd_per_hour <= before.usd_per_hour + 1e-6
        assert limits.allow(after.replicas)


def test_a_colocated_pool_bound_holds_both_phases():
    """The cause of the case the test above found: a pool's replica bound took the larger of
    a colocated route's two loads (here ceil(4.67) + 1 = 6 against the 9 replicas the class
    needs), which cut off the one-pool fleets under max_pools=1, so the limited re-solve
    bought a dearer pool or none."""
    from tracelab.plan.limits import Limits, replica_bounds

    devs = _devices([FakeDevice("d0", 1.0, 100.0, 0.5, [(8, 0.015625, 181.0)])])
    routes, _ = _cost(devs, [(400.0, 650.0)])
    routes = {c: [r for r in rs if r.prefill_pool == r.decode_pool] for c, rs in routes.items()}
    ((route,),) = routes.values()
    need = route.prefill_load + route.decode_load
    assert replica_bounds(routes, [route.prefill_pool])[0] >= need
    limited = solve(routes, Limits(max_pools=1))
    assert limited is not None
    assert limited.replicas == {route.prefill_pool: math.ceil(need)}
