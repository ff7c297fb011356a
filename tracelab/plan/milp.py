"""The tier-mix MILP (``scipy.optimize.milp``, HiGHS).

Variables: integer replicas ``n_k`` per pool k = (device, model, devices per replica, role) and
continuous route fractions ``z_cr`` ≥ 0. Constraints: ``Σ_r z_cr = 1`` per class;
``Σ_{c,r} z_cr·load_{cr,k} ≤ n_k`` per pool (every class routed to a pool shares its
replicas); and, per class and pool its routes name, ``Σ_{r on k} z_cr ≤ n_k`` (a pool that
serves a class has a replica, so every route's pools are in the fleet; it also makes the
LP bound tight enough for HiGHS to find good fleets fast). Operational limits (``Limits``)
add binary indicators for pools bought and device types used (``tracelab.plan.limits``).

Objective: ``Σ_k n_k·usd_per_hour_k`` plus tie-breaks far below a cent: 1e-7 × the routes'
linear cost (equal-cost fleets pick the routes that use the least replica-time) and 1e-7 ×
each pool's price × its rank in the canonical (sorted) pool order, so no two fleets cost the
same and the optimum is unique. With the variables in canonical order, HiGHS's search is
deterministic; its work is bounded by a node limit, never by the clock (a wall-clock limit
made the fleet depend on the machine's load), and the time limit is only a safety net.

Classes that share no pool (different models never do: a pool names its model) are
independent programs; ``solve_programs`` splits every program (the plan's and its
baselines') into those components and solves them, WORKERS at a time on threads. When the
components' union breaks a limit (the limits couple the models), the program is solved again
as one, with the limits; a large one on the device types its components' fleets use and a few
more (``tracelab.plan.narrow``: a 10M-request trace's re-solve took 20 CPU-s on all 21 types
and ran into the safety limit on a loaded machine). A component without any fleet falls back
to rounding up the LP optimum (every class on its cheapest route), so a plan always has a
fleet. The relative gap to the proven lower bound is reported with the solution, and whether
HiGHS stopped at the safety limit (``Solution.timed_out``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from tracelab.plan.limits import Limits, indicator_counts, indicator_rows
from tracelab.plan.lp import Rows, polish
from tracelab.plan.narrow import components, narrow
from tracelab.plan.routes import Pool, Route, pool_id

if TYPE_CHECKING:
    from tracelab.plan.commit import Commitments

TIE_BREAK = 1e-7
POOL_TIE = 1e-7
MIN_FRACTION = 1e-9
# Relative optimality gap HiGHS must close. Small programs (hand cases, a short trace's
# baselines, the property tests) are solved to optimality; a large component (one model of
# a long trace: ~20 classes × ~40 routes) stops within LARGE_GAP of its optimum or at NODE_LIMIT nodes.
# The gap reached is reported with the plan. 1 %: the replay then resizes the fleet's
# pools by whole replicas (a few % each), and proving the last 0.9 % cost more than the
# rest of the plan: on 10M-request traces (benchmarks/bench_stages.py) the limited
# re-solve took 13.7 s at 0.1 % and 2.4 s at 1 % for a fleet $0.28/h (0.06 %) dearer
# (session-heavy day), 5.3 s and 2.6 s for $1.30/h (0.05 %; tracelab synth's hour).
# A program under the operational limits (binary pool and type indicators) is the hard
# kind: past LIMITED_ROUTES routes it stops within LARGE_GAP too. The session-heavy day's
# single-device baselines (51 classes, ~230 routes) took 1.5-2.2 s each to prove optimal
# and 0.2-1.0 s to reach 1 %, at the same fleets (benchmarks/bench_stages.py).
EXACT_GAP = 1e-9
LARGE_GAP = 1e-2
LARGE_ROUTES = 500
LIMITED_ROUTES = 100
# Branch-and-bound nodes one HiGHS run may explore: the deterministic bound on its work.
NODE_LIMIT = 5000
# Wall seconds after which HiGHS stops anyway: a safety net that a plan should never reach
# (the node limit binds first); when it does, the gap is reported.
SAFETY_TIME_S = 60.0
# HiGHS runs solved at once, one per thread (2 cores on the machine the budget was measured on).
WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Solution:
    """A fleet: replicas per pool, their $/h, and route fractions per class."""

    replicas: dict[Pool, int]
    pool_usd_per_hour: dict[Pool, float]  # per replica
    fractions: dict[str, list[tuple[Route, float]]]  # class → [(route, z)], z summing to 1
    gap: float = 0.0  # relative optimality gap proved (0 = optimal)
    # With commitments (``tracelab.plan.commit``), per pool priced by them: reserved replicas,
    # $/h averaged over the span and replicas running on average (the others: n × price).
    reserved: dict[Pool, int] = field(default_factory=dict)
    pool_usd: dict[Pool, float] = field(default_factory=dict)
    running: dict[Pool, float] = field(default_factory=dict)
    # HiGHS stopped at SAFETY_TIME_S: the fleet then depends on the machine's speed and load.
    timed_out: bool = False

    @property
    def usd_per_hour(self) -> float:
        return float(sum(self.pool_usd.get(k, n * self.pool_usd_per_hour[k])
                         for k, n in self.replicas.items()))


@dataclass(frozen=True)
class _Part:
    replicas: dict[Pool, int]
    pools: dict[Pool, float]
    fractions: dict[str, list[tuple[Route, float]]]
    objective: float
    bound: float
    reserved: dict[Pool, int] = field(default_factory=dict)
    pool_usd: dict[Pool, float] = field(default_factory=dict)
    running: dict[Pool, float] = field(default_factory=dict)
    timed_out: bool = False


def _rounded_lp(routes: Mapping[str, Sequence[Route]]) -> _Part:
    """The LP optimum (each class on its cheapest linear route) with replicas rounded up:
    always feasible; its LP cost is a lower bound on the program's optimum."""
    replicas: dict[Pool, float] = {}
    pools: dict[Pool, float] = {}
    fractions: dict[str, list[tuple[Route, float]]] = {}
    bound = 0.0
    for c in sorted(routes):
        best = min(routes[c], key=lambda r: (r.linear_usd_per_hour, r.key))
        fractions[c] = [(best, 1.0)]
        bound += best.linear_usd_per_hour * (1 + TIE_BREAK)
        for pool, load, price in ((best.prefill_pool, best.prefill_load, best.prefill_usd_per_hour),
                                  (best.decode_pool, best.decode_load, best.decode_usd_per_hour)):
            replicas[pool] = replicas.get(pool, 0.0) + load
            pools[pool] = price
    whole = {k: max(1, math.ceil(v)) for k, v in replicas.items()}  # every route's pools
    objective = sum(n * pools[k] for k, n in whole.items()) + TIE_BREAK * (bound / (1 + TIE_BREAK))
    return _Part(whole, pools, fractions, objective, bound)


def _solve_part(routes: Mapping[str, Sequence[Route]], limits: Limits | None = None,
                commit: Commitments | None = None) -> _Part:
    """One program through HiGHS (falls back to ``_rounded_lp`` without a fleet); with
    ``commit``, each device pool's replicas are reserved or burst (``plan/commit.py``)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    from tracelab.plan.commit import commit_block, committed, read_block

    classes = sorted(routes)
    flat = [(c, r) for c in classes for r in sorted(routes[c], key=lambda r: r.key)]
    pools: dict[Pool, float] = {}
    for _, r in flat:
        pools.setdefault(r.prefill_pool, r.prefill_usd_per_hour)
        pools.setdefault(r.decode_pool, r.decode_usd_per_hour)
    pool_list = sorted(pools, key=pool_id)
    pool_ix = {k: i for i, k in enumerate(pool_list)}
    n_pool, n_route = len(pool_list), len(flat)
    n_u, n_y = indicator_counts(limits, pool_list)
    block = None if commit is None else commit_block(commit, pool_list, pools, flat, n_pool,
                                                     n_pool + n_route + n_u + n_y)
    n_c = 0 if block is None else len(block.cost)
    n_var = n_pool + n_route + n_u + n_y + n_c

    # A large component leaves the tie-break out of the MILP (its 1e-7 costs slow HiGHS's
    # search several-fold) and applies it afterwards: ``polish`` re-routes on the fleet found.
    large = n_route > LARGE_ROUTES and block is None
    linear = np.array([r.linear_usd_per_hour for _, r in flat])
    cost = np.zeros(n_var)
    cost[:n_pool] = [pools[k] * (POOL_TIE * (i + 1) + (block is None or not committed(k)))
                     for i, k in enumerate(pool_list)]
    cost[n_pool:n_pool + n_route] = 0.0 if large else TIE_BREAK * linear

    a = Rows()
    for i in range(n_pool):  # Σ load·z − n ≤ 0
        a.add([(i, -1.0)], -np.inf, 0.0)
    class_row = {c: a.add([], 1.0, 1.0) for c in classes}  # Σ z = 1
    links: dict[tuple[str, Pool], int] = {}
    for j, (c, r) in enumerate(flat):
        col = n_pool + j
        for pool, load in ((r.prefill_pool, r.prefill_load), (r.decode_pool, r.decode_load)):
            a.extend(pool_ix[pool], col, load)
        a.extend(class_row[c], col, 1.0)
        # Linking rows, one per (class, pool its routes name): Σ_{r of c on k} z_cr − n_k ≤ 0,
        # so every pool a chosen route names is bought (plan.json's routes name its pools),
        # even for a class that puts no load on it; under a limit, − u_k (``plan.limits``).
        for pool in sorted({r.prefill_pool, r.decode_pool}):
            if (c, pool) not in links:
                links[(c, pool)] = a.add([(pool_ix[pool] + (n_pool + n_route if n_u else 0),
                                           -1.0)], -np.inf, 0.0)
            a.extend(links[(c, pool)], col, 1.0)
    for terms, lower, upper in indicator_rows(limits, routes, pool_list, n_pool + n_route):
        a.add(terms, lower, upper)
    if block is not None:
        cost[n_var - n_c:] = block.cost
        for terms, lower, upper in block.rows:
            a.add(terms, lower, upper)
    matrix = coo_array((a.vals, (a.rows, a.cols)), shape=(len(a.lower), n_var)).tocsr()
    upper_x = np.r_[np.full(n_pool, np.inf), np.ones(n_route), np.ones(n_u + n_y),
                    [] if block is None else block.upper]
    result = milp(
        cost,
        integrality=np.r_[np.ones(n_pool), np.zeros(n_route), np.ones(n_u + n_y + n_c)],
        bounds=Bounds(np.zeros(n_var), upper_x),
        constraints=LinearConstraint(matrix, np.array(a.lower), np.array(a.upper)),
        options={"mip_rel_gap": LARGE_GAP if large or (n_u and n_route > LIMITED_ROUTES)
                 else EXACT_GAP,
                 "node_limit": NODE_LIMIT, "time_limit": SAFETY_TIME_S, "presolve": True},
    )
    timed_out = result.status == 1 and "Time limit" in result.message
    if result.x is None:
        fallback = replace(_rounded_lp(routes), timed_out=timed_out)
        return fallback if limits is None or limits.allow(fallback.replicas) else _Part(
            {}, {}, {}, math.inf, fallback.bound)
    held: tuple[dict[Pool, int], dict[Pool, float], dict[Pool, float]] = (
        ({}, {}, {}) if block is None or commit is None
        else read_block(block, np.asarray(result.x), pools, commit))
    x = np.asarray(result.x)[:n_pool + n_route]
    if large:
        ends = np.array([(pool_ix[r.prefill_pool], pool_ix[r.decode_pool]) for _, r in flat])
        x = polish(x, n_pool, matrix[:n_pool + len(classes), :n_pool + n_route], len(classes),
                    linear, ends)
    replicas = {k: round(x[pool_ix[k]]) for k in pool_list if round(x[pool_ix[k]]) > 0}
    fractions: dict[str, list[tuple[Route, float]]] = {c: [] for c in classes}
    for j, (c, r) in enumerate(flat):
        z = float(x[n_pool + j])
        if z > MIN_FRACTION:
            fractions[c].append((r, z))
    for c, chosen in fractions.items():
        total = sum(z for _, z in chosen)
        fractions[c] = [(r, z / total) for r, z in chosen]
    objective = float(result.fun)
    bound = getattr(result, "mip_dual_bound", None)
    reserved = {k: v for k, v in held[0].items() if k in replicas}
    usd, running = ({k: v for k, v in d.items() if k in replicas} for d in held[1:])
    return _Part(replicas, {k: pools[k] for k in replicas}, fractions, objective,
                 objective if bound is None or not math.isfinite(bound) else float(bound),
                 reserved, usd, running, timed_out)


# One HiGHS run: (program index, the component's classes, whether it carries the limits).
_Job = tuple[int, list[str], bool]


def _run_jobs(programs: Sequence[Mapping[str, Sequence[Route]]], jobs: Sequence[_Job],
              limits: Limits | None, commit: Commitments | None = None) -> list[_Part]:
    def run(job: _Job) -> _Part:
        i, group, limited = job
        return _solve_part({c: programs[i][c] for c in group}, limits if limited else None,
                           commit)

    if WORKERS > 1 and len(jobs) > 1:
        with ThreadPoolExecutor(WORKERS) as pool:
            return list(pool.map(run, jobs))
    return [run(job) for job in jobs]


def solve_programs(programs: Sequence[Mapping[str, Sequence[Route]]],
                   limits: Limits | None = None,
                   commit: Commitments | None = None) -> list[Solution | None]:
    """Cheapest fleet of each program within ``limits`` (None when one of its classes has
    no route, or no fleet keeps within the limits).

    Every independent component of every program is one HiGHS run; they run WORKERS at a
    time on threads (HiGHS releases the GIL), largest first. A program whose components
    together break a limit is solved again as one program with the limits' indicators."""
    def ok(routes: Mapping[str, Sequence[Route]]) -> bool:
        return bool(routes) and all(routes.values())

    jobs: list[_Job] = [(i, g, False) for i, routes in enumerate(programs) if ok(routes)
                        for g in components(routes)]
    jobs.sort(key=lambda job: (-sum(len(programs[job[0]][c]) for c in job[1]), job[0], job[1][0]))
    parts: dict[int, list[_Part]] = {}
    for (i, _, _), part in zip(jobs, _run_jobs(programs, jobs, limits, commit), strict=True):
        parts.setdefault(i, []).append(part)
    solved = {i: _solution(ps) for i, ps in parts.items()}
    again = [i for i, sol in solved.items() if limits is not None and not limits.allow(sol.replicas)]
    # A large program is re-solved on the device types its components' fleets use (and a
    # few more, ``plan.narrow``) against their bound; on all its routes if that has no fleet.
    narrowed = {i: narrow(programs[i], {k[0] for k in solved[i].replicas}) for i in again
                if sum(map(len, programs[i].values())) > LARGE_ROUTES}
    narrowed = {i: p for i, p in narrowed.items()
                if sum(map(len, p.values())) < sum(map(len, programs[i].values()))}
    for on_narrowed in (True, False):
        batch = [i for i in again if (i in narrowed) == on_narrowed]
        runs = [narrowed[i] if on_narrowed else programs[i] for i in batch]
        retry: list[_Job] = [(j, sorted(programs[i]), True) for j, i in enumerate(batch)]
        for i, part in zip(batch, _run_jobs(runs, retry, limits, commit), strict=True):
            if not on_narrowed:
                solved[i] = _solution([part])
            elif math.isfinite(part.objective):
                solved[i] = _solution([replace(part, bound=math.fsum(p.bound for p in parts[i]))])
                again.remove(i)
            else:  # no fleet on the narrowed routes
                del narrowed[i]
    return [solved[i] if i in solved and solved[i].replicas else None
            for i in range(len(programs))]


def _solution(parts: Sequence[_Part]) -> Solution:
    objective = math.fsum(p.objective for p in parts)
    bound = math.fsum(p.bound for p in parts)
    finite = math.isfinite(objective)
    return Solution(
        replicas={k: n for p in parts for k, n in p.replicas.items()} if finite else {},
        pool_usd_per_hour={k: v for p in parts for k, v in p.pools.items()},
        fractions={c: z for p in parts for c, z in p.fractions.items()},
        gap=max(0.0, (objective - bound) / objective) if finite and objective > 0 else 0.0,
        reserved={k: n for p in parts for k, n in p.reserved.items()},
        pool_usd={k: v for p in parts for k, v in p.pool_usd.items()},
        running={k: v for p in parts for k, v in p.running.items()},
        timed_out=any(p.timed_out for p in parts),
    )


def solve(routes: Mapping[str, Sequence[Route]], limits: Limits | None = None,
          commit: Commitments | None = None) -> Solution | None:
    """Cheapest fleet serving every class over its routes within ``limits`` (and, with
    ``commit``, its reserved and burst replicas); None when a class has no route (or no fleet
    keeps within the limits)."""
    return solve_programs([routes], limits, commit)[0]


def restrict(
    routes: Mapping[str, Sequence[Route]], keep: Callable[[Route], bool]
) -> dict[str, list[Route]]:
    """The same classes with only the routes ``keep`` accepts."""
    return {c: [r for r in rs if keep(r)] for c, rs in routes.items()}


def baseline_programs(routes: Mapping[str, Sequence[Route]]) -> dict[str, dict[str, list[Route]]]:
    """Per device type that can serve every class alone: the routes on that type only."""
    devices = sorted({r.prefill_device for rs in routes.values() for r in rs if r.single_type})
    programs = {d: restrict(routes, lambda r, d=d: r.single_type and r.prefill_device == d)  # type: ignore[misc]
                for d in devices}
    return {d: p for d, p in programs.items() if all(p.values())}


def best_single(solved: Mapping[str, Solution | None]) -> tuple[str, Solution] | None:
    """The cheapest of the single-device-type fleets (first device id on a tie)."""
    best: tuple[str, Solution] | None = None
    for device in sorted(solved):
        sol = solved[device]
        if sol is not None and (best is None or sol.usd_per_hour < best[1].usd_per_hour - 1e-12):
            best = (device, sol)
    return best


def fleet_bounds(routes: Mapping[str, Sequence[Route]]) -> tuple[float, float]:
    """($/h no fleet serving ``routes`` can beat, $/h of one that does): every class on its
    cheapest route, with fractional replicas (each pool's $ ≥ its load × price, and a
    class's fractions sum to 1) and with the replicas rounded up."""
    part = _rounded_lp(routes)
    lower = math.fsum(min(r.linear_usd_per_hour for r in rs) for rs in routes.values())
    return lower, math.fsum(n * part.pools[k] for k, n in part.replicas.items())


def solve_plan(
    main: Mapping[str, Sequence[Route]], reference: str, limits: Limits | None = None,
    reference_routes: Mapping[str, Sequence[Route]] | None = None,
    commit: Commitments | None = None,
) -> tuple[Solution | None, Solution | None, tuple[str, Solution] | None]:
    """(the plan's fleet, everything on ``reference``, the best single device type), solved
    together by the same code and within the same ``limits``.

    The baselines come from ``main`` (``baseline_programs``), or ``reference_routes`` for a
    reference outside it. A device whose lower bound (``fleet_bounds``) is above another's
    rounded-up fleet cannot be the best single one and is not solved; should the best found
    not beat such a bound after all, that device is solved next."""
    singles = baseline_programs(main)
    bounds = {d: fleet_bounds(p) for d, p in singles.items()}
    # Commitments price replicas below on demand: the on-demand bounds prune nothing then.
    cutoff = math.inf if commit else min((upper for _, upper in bounds.values()), default=math.inf)
    first = [d for d in singles if d == reference or bounds[d][0] <= cutoff]
    extra = [] if reference_routes is None else [reference_routes]
    programs = [main, *[singles[d] for d in first], *extra]
    def run(batch: Sequence[Mapping[str, Sequence[Route]]]) -> list[Solution | None]:
        return solve_programs(batch, limits) if commit is None else solve_programs(
            batch, limits, commit=commit)

    solution, *others = run(programs)
    solved = dict(zip(first, others, strict=False))
    best = best_single(solved)
    late = [d for d in singles
            if d not in solved and (best is None or bounds[d][0] <= best[1].usd_per_hour)]
    if late:
        solved |= dict(zip(late, run([singles[d] for d in late]), strict=True))
        best = best_single(solved)
    return solution, others[-1] if extra else solved.get(reference), best


def solve_baselines(
    routes: Mapping[str, Sequence[Route]], reference: str = "h100-sxm",
    limits: Limits | None = None,
) -> tuple[Solution | None, tuple[str, Solution] | None]:
    """(everything on ``reference``, the best single device type), each one device type."""
    programs = baseline_programs(routes)
    solved = dict(zip(programs, solve_programs(list(programs.values()), limits), strict=True))
    return solved.get(reference), best_single(solved)
