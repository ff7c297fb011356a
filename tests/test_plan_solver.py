"""The large limited re-solve: bounded by work, not by the clock, and narrowed without a
worse fleet (``tracelab.plan.milp``, ``tracelab.plan.narrow``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracelab.plan import milp, narrow
from tracelab.plan.limits import Limits
from tracelab.plan.routes import Route

DEVICES = [f"d{i}" for i in range(8)]
LIMITS = Limits(max_device_types=2, max_pools=6)


def _program(seed: int = 0) -> dict[str, list[Route]]:
    """3 models × 4 classes, each on every (prefill device, decode device) pair of 8 device
    types: 768 routes, above LARGE_ROUTES. Prices and loads are drawn so that each model's
    limits-free fleet picks its own device types and pools: together they break LIMITS."""
    rng = np.random.default_rng(seed)
    price = {d: float(p) for d, p in zip(DEVICES, rng.uniform(1.0, 10.0, len(DEVICES)), strict=True)}
    program: dict[str, list[Route]] = {}
    for m in ("ma", "mb", "mc"):
        speed = {d: float(s) for d, s in zip(DEVICES, rng.uniform(0.5, 2.0, len(DEVICES)), strict=True)}
        for k in range(4):
            c = f"{m}-c{k}"
            demand = float(rng.uniform(0.5, 6.0))
            program[c] = sorted(
                (Route(c, m, (p, m, 1, "prefill"), (d, m, 1, "decode"),
                       demand * 0.3 / speed[p], demand * 0.7 / speed[d], 1.0, 1.0, price[p],
                       price[d], 1.0, 0, 0.0, 0.0, 0.1, 0.01, 1)
                 for p in DEVICES for d in DEVICES), key=lambda r: r.key)
    return program


def test_the_program_takes_the_large_narrowed_path(monkeypatch):
    program = _program()
    assert sum(map(len, program.values())) > milp.LARGE_ROUTES
    free = milp.solve(program)
    assert free is not None
    assert not LIMITS.allow(free.replicas)  # the re-solve with the limits' indicators runs
    seen: list[int] = []
    solve_part = milp._solve_part

    def counting(routes, limits=None, commit=None):
        if limits is not None:
            seen.append(sum(map(len, routes.values())))
        return solve_part(routes, limits, commit)

    monkeypatch.setattr(milp, "_solve_part", counting)
    assert milp.solve(program, LIMITS) is not None
    assert seen
    assert seen[0] < sum(map(len, program.values()))  # on fewer routes


def test_the_large_limited_solve_stops_by_gap_or_nodes_never_the_clock(monkeypatch):
    # A solve that ran into SAFETY_TIME_S would give a fleet that depends on the machine's
    # load; this one must finish by its gap or node limit, and give the same fleet with no
    # time limit at all.
    program = _program()
    bounded = milp.solve(program, LIMITS)
    assert bounded is not None
    assert not bounded.timed_out
    assert LIMITS.allow(bounded.replicas)
    monkeypatch.setattr(milp, "SAFETY_TIME_S", math.inf)
    unbounded = milp.solve(program, LIMITS)
    assert unbounded is not None
    assert (unbounded.replicas, unbounded.fractions) == (bounded.replicas, bounded.fractions)
    assert unbounded.gap == bounded.gap


def test_a_solve_stopped_by_the_clock_says_so(monkeypatch):
    monkeypatch.setattr(milp, "SAFETY_TIME_S", 0.0)
    stopped = milp.solve(_program())
    assert stopped is not None
    assert stopped.timed_out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_narrowed_re_solve_is_no_worse_than_the_whole_program(monkeypatch, seed):
    program = _program(seed)
    narrowed = milp.solve(program, LIMITS)
    monkeypatch.setattr(milp, "narrow", lambda routes, used: dict(routes))  # nothing dropped
    whole = milp.solve(program, LIMITS)
    assert narrowed is not None
    assert whole is not None
    assert narrowed.usd_per_hour <= whole.usd_per_hour * (1 + milp.LARGE_GAP)
    # Its gap is proved against the limits-free fleets' bound, which no fleet beats.
    free = milp.solve(program)
    assert free is not None
    bound = narrowed.usd_per_hour * (1 - narrowed.gap)
    assert bound <= free.usd_per_hour * (1 + 1e-9)
    assert bound <= whole.usd_per_hour * (1 + 1e-9)


def test_candidate_types_keep_those_used_and_add_the_alternatives():
    program = _program()
    types = narrow.candidate_types(program, {"d3"})
    assert "d3" in types
    cheapest = {d for rs in program.values()
                for d in (min(rs, key=lambda r: (r.linear_usd_per_hour, r.key)).prefill_device,
                          min(rs, key=lambda r: (r.linear_usd_per_hour, r.key)).decode_device)}
    assert cheapest | {"d3"} <= types
    assert len(types) == len(cheapest | {"d3"}) + narrow.ALTERNATIVE_TYPES
