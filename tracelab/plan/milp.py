"""The tier-mix MILP (``scipy.optimize.milp``, HiGHS).

Variables: integer replicas ``n_k`` per pool k = (device, model, devices per replica, role) and
continuous route fractions ``z_cr`` ≥ 0. Constraints: ``Σ_r z_cr = 1`` per class;
``Σ_{c,r} z_cr·load_{cr,k} ≤ n_k`` per pool; and, per class and pool its routes load,
``Σ_{r on k} z_cr ≤ n_k`` (a pool that serves a class has a replica: valid, and it makes the
LP bound tight enough for HiGHS to find good fleets fast; without it a class whose load on
a pool is below HiGHS's tolerance could ride on zero replicas). Objective:
``Σ_k n_k·usd_per_hour_k`` plus a negligible tie-break (1e-7 × the routes' linear cost) so
equal-cost optima pick the routes that use the least replica-time. Restricting the routes
gives the baselines.

Classes that share no pool (different models never do: a pool names its model) are
independent programs; ``solve_programs`` splits every program (the plan's and its
baselines') into those components and solves them all, WORKERS at a time on threads, which
is exact and far faster than one large program. All solves of one plan share a
``Deadline`` of CPU seconds; a component the solver cannot finish in its share keeps HiGHS's
best fleet, and one without any falls back to rounding up the LP optimum (every class on its
cheapest route), so a plan always has a fleet. The relative gap to the proven lower bound is
reported with the solution.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracelab.plan.budget import PLAN_BUDGET_S, Deadline, quiet_native_stdout
from tracelab.plan.routes import Pool, Route

TIE_BREAK = 1e-7
MIN_FRACTION = 1e-9
# Relative optimality gap HiGHS must close. Small programs (hand cases, baselines, the
# property tests) are solved to optimality; a large component (one model of a long trace:
# ~20 classes × ~40 routes) stops within LARGE_GAP of its optimum or when its share of the
# plan's deadline runs out. The gap reached is reported with the plan.
EXACT_GAP = 1e-9
LARGE_GAP = 1e-3
LARGE_ROUTES = 500
# Smallest CPU share one component is given, even past the deadline (HiGHS finds a good
# first fleet at its root node, within ~0.1 s on the 1M trace's components).
MIN_SHARE_S = 0.2
# HiGHS runs solved at once, one per thread (2 cores on the machine the budget was measured on).
WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class Solution:
    """A fleet: replicas per pool, their $/h, and route fractions per class."""

    replicas: dict[Pool, int]
    pool_usd_per_hour: dict[Pool, float]  # per replica
    fractions: dict[str, list[tuple[Route, float]]]  # class → [(route, z)], z summing to 1
    gap: float = 0.0  # relative optimality gap proved (0 = optimal)

    @property
    def usd_per_hour(self) -> float:
        return float(sum(n * self.pool_usd_per_hour[k] for k, n in self.replicas.items()))


def components(routes: Mapping[str, Sequence[Route]]) -> list[list[str]]:
    """Classes grouped into independent programs: two classes are together when their routes
    reach a common pool (union-find over pools); each group sorted, groups by first class."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    owner: dict[Pool, str] = {}
    for c in sorted(routes):
        find(c)
        for r in routes[c]:
            for pool in (r.prefill_pool, r.decode_pool):
                other = owner.setdefault(pool, c)
                parent[find(other)] = find(c)
    groups: dict[str, list[str]] = {}
    for c in sorted(routes):
        groups.setdefault(find(c), []).append(c)
    return sorted(groups.values(), key=lambda g: g[0])


@dataclass(frozen=True)
class _Part:
    replicas: dict[Pool, int]
    pools: dict[Pool, float]
    fractions: dict[str, list[tuple[Route, float]]]
    objective: float
    bound: float


def _rounded_lp(routes: Mapping[str, Sequence[Route]]) -> _Part:
    """The LP optimum (each class on its cheapest linear route) with replicas rounded up:
    always feasible; its LP cost is a lower bound on the program's optimum."""
    replicas: dict[Pool, float] = {}
    pools: dict[Pool, float] = {}
    fractions: dict[str, list[tuple[Route, float]]] = {}
    bound = 0.0
    for c in sorted(routes):
        best = min(routes[c], key=lambda r: (r.linear_usd_per_hour, r.prefill_device, r.decode_device))
        fractions[c] = [(best, 1.0)]
        bound += best.linear_usd_per_hour * (1 + TIE_BREAK)
        for pool, load, price in ((best.prefill_pool, best.prefill_load, best.prefill_usd_per_hour),
                                  (best.decode_pool, best.decode_load, best.decode_usd_per_hour)):
            replicas[pool] = replicas.get(pool, 0.0) + load
            pools[pool] = price
    whole = {k: math.ceil(v) for k, v in replicas.items() if math.ceil(v) > 0}
    objective = sum(n * pools[k] for k, n in whole.items()) + TIE_BREAK * (bound / (1 + TIE_BREAK))
    return _Part(whole, pools, fractions, objective, bound)


def _solve_part(routes: Mapping[str, Sequence[Route]], time_limit_s: float) -> _Part:
    """One independent program through HiGHS (falls back to ``_rounded_lp`` without a fleet)."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    classes = sorted(routes)
    flat = [(c, r) for c in classes for r in routes[c]]
    pools: dict[Pool, float] = {}
    for _, r in flat:
        pools.setdefault(r.prefill_pool, r.prefill_usd_per_hour)
        pools.setdefault(r.decode_pool, r.decode_usd_per_hour)
    pool_list = sorted(pools)
    pool_ix = {k: i for i, k in enumerate(pool_list)}
    n_pool, n_route = len(pool_list), len(flat)

    # A large component leaves the tie-break out of the MILP (its 1e-7 costs slow HiGHS's
    # search several-fold) and applies it afterwards: ``_polish`` re-routes on the fleet found.
    large = n_route > LARGE_ROUTES
    linear = np.array([r.linear_usd_per_hour for _, r in flat])
    cost = np.zeros(n_pool + n_route)
    cost[:n_pool] = [pools[k] for k in pool_list]
    cost[n_pool:] = 0.0 if large else TIE_BREAK * linear

    # Pool rows 0..n_pool-1: Σ load·z − n ≤ 0; class rows after them: Σ z = 1.
    rows: list[int] = list(range(n_pool))
    cols: list[int] = list(range(n_pool))
    vals: list[float] = [-1.0] * n_pool
    class_ix = {c: n_pool + i for i, c in enumerate(classes)}
    for j, (c, r) in enumerate(flat):
        col = n_pool + j
        for pool, load in ((r.prefill_pool, r.prefill_load), (r.decode_pool, r.decode_load)):
            rows.append(pool_ix[pool])
            cols.append(col)
            vals.append(load)
        rows.append(class_ix[c])
        cols.append(col)
        vals.append(1.0)
    # Linking rows, one per (class, pool it loads): Σ_{r of c on k} z_cr − n_k ≤ 0. Valid (a
    # class's fractions sum to 1, and a pool it uses holds ≥ 1 replica), they leave the
    # optimum alone but lift the LP bound from "fractional replicas" to "a replica per pool
    # used" (570 → 853 of an 872 optimum on the 10M trace's largest component), so HiGHS
    # finds and proves good fleets in a fraction of the time.
    links: dict[tuple[str, Pool], int] = {}
    n_row = n_pool + len(classes)
    for j, (c, r) in enumerate(flat):
        for pool in {k for k, load in ((r.prefill_pool, r.prefill_load),
                                       (r.decode_pool, r.decode_load)) if load > 0}:
            if (c, pool) not in links:
                links[(c, pool)] = row = n_row + len(links)
                rows.append(row)
                cols.append(pool_ix[pool])
                vals.append(-1.0)
            rows.append(links[(c, pool)])
            cols.append(n_pool + j)
            vals.append(1.0)
    n_row += len(links)
    matrix = coo_array((vals, (rows, cols)), shape=(n_row, n_pool + n_route)).tocsr()
    lower = np.r_[np.full(n_pool, -np.inf), np.ones(len(classes)), np.full(len(links), -np.inf)]
    upper = np.r_[np.zeros(n_pool), np.ones(len(classes)), np.zeros(len(links))]
    with quiet_native_stdout():
        result = milp(
            cost,
            integrality=np.r_[np.ones(n_pool), np.zeros(n_route)],
            bounds=Bounds(np.zeros(n_pool + n_route), np.r_[np.full(n_pool, np.inf), np.ones(n_route)]),
            constraints=LinearConstraint(matrix, lower, upper),
            options={
                "mip_rel_gap": LARGE_GAP if large else EXACT_GAP,
                "time_limit": time_limit_s,
                "presolve": True,
            },
        )
    if result.x is None:
        return _rounded_lp(routes)
    x = result.x
    if large:
        x = _polish(x, n_pool, matrix, len(classes), linear)
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
    return _Part(replicas, {k: pools[k] for k in replicas}, fractions, objective,
                 objective if bound is None or not math.isfinite(bound) else float(bound))


def _polish(x: np.ndarray, n_pool: int, matrix: Any, n_class: int,
            linear: np.ndarray) -> np.ndarray:
    """With the replicas of ``x`` fixed, the route fractions of least linear cost (the
    tie-break, as one LP); ``x`` unchanged if that LP fails."""
    from scipy.optimize import linprog

    fleet = np.round(x[:n_pool])
    a = matrix[:, n_pool:]
    # Pool rows: Σ load·z ≤ n_k; class rows: Σ z = 1.
    with quiet_native_stdout():
        result = linprog(linear, A_ub=a[:n_pool], b_ub=fleet, A_eq=a[n_pool:n_pool + n_class],
                         b_eq=np.ones(n_class), bounds=(0.0, 1.0), method="highs")
    if result.status != 0 or result.x is None:
        return x
    return np.r_[fleet, result.x]


# One HiGHS run: (CPU seconds it may use, program index, the component's classes).
_Job = tuple[float, int, list[str]]


def solve_programs(programs: Sequence[Mapping[str, Sequence[Route]]], shares: Sequence[float],
                   deadline: Deadline) -> list[Solution | None]:
    """Cheapest fleet of each program (None when one of its classes has no route).

    Program i may use ``shares[i]`` CPU seconds, split over its independent components by
    their share of its LP cost (time goes where the money is; at least MIN_SHARE_S each).
    Every component of every program is one HiGHS run; they run WORKERS at a time on
    threads (HiGHS releases the GIL), costliest first, so the plan and its baselines solve
    together. Each run's CPU share becomes a wall limit through ``deadline``'s CPU
    fraction, measured per thread."""
    jobs: list[_Job] = []
    for i, routes in enumerate(programs):
        if any(not rs for rs in routes.values()):
            continue
        groups = components(routes)
        weight = [max(_rounded_lp({c: routes[c] for c in g}).bound, 1e-12) for g in groups]
        total = math.fsum(weight)
        jobs += [(max(MIN_SHARE_S, shares[i] * w / total), i, g) for g, w in zip(groups, weight, strict=True)]
    jobs.sort(key=lambda job: (-job[0], job[1], job[2][0]))

    def run(job: _Job) -> _Part:
        share, i, group = job
        wall, cpu = time.monotonic(), time.thread_time()
        part = _solve_part({c: programs[i][c] for c in group}, deadline.wall_limit(share))
        deadline.observe(time.monotonic() - wall, time.thread_time() - cpu)
        return part

    with quiet_native_stdout():
        if WORKERS > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(WORKERS) as pool:
                parts = list(pool.map(run, jobs))
        else:
            parts = [run(job) for job in jobs]
    by_program: dict[int, list[_Part]] = {}
    for (_, i, _), part in zip(jobs, parts, strict=True):
        by_program.setdefault(i, []).append(part)
    return [None if any(not rs for rs in routes.values()) else _solution(by_program.get(i, []))
            for i, routes in enumerate(programs)]


def _solution(parts: Sequence[_Part]) -> Solution:
    objective = math.fsum(p.objective for p in parts)
    bound = math.fsum(p.bound for p in parts)
    return Solution(
        replicas={k: n for p in parts for k, n in p.replicas.items()},
        pool_usd_per_hour={k: v for p in parts for k, v in p.pools.items()},
        fractions={c: z for p in parts for c, z in p.fractions.items()},
        gap=max(0.0, (objective - bound) / objective) if objective > 0 else 0.0,
    )


def solve(routes: Mapping[str, Sequence[Route]], time_limit_s: float = 60.0,
          deadline: Deadline | None = None) -> Solution | None:
    """Cheapest fleet serving every class over its routes; None when a class has no route.
    Its components share the CPU time left (``deadline``, else ``time_limit_s``)."""
    clock = deadline or Deadline(time_limit_s)
    return solve_programs([routes], [clock.remaining()], clock)[0]


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
    main: Mapping[str, Sequence[Route]], reference: str, deadline: Deadline, main_s: float,
    baselines_s: float, reference_routes: Mapping[str, Sequence[Route]] | None = None,
) -> tuple[Solution | None, Solution | None, tuple[str, Solution] | None]:
    """(the plan's fleet, everything on ``reference``, the best single device type), solved
    together: ``main_s`` CPU seconds for the plan, ``baselines_s`` shared by the baselines.

    The baselines come from ``main`` (``baseline_programs``), or ``reference_routes`` for a
    reference outside it. A device whose lower bound (``fleet_bounds``) is above another's
    rounded-up fleet cannot be the best single one and is not solved (on the 10M trace, 4 of
    5); should the best found not beat such a bound after all, that device is solved next."""
    singles = baseline_programs(main)
    bounds = {d: fleet_bounds(p) for d, p in singles.items()}
    cutoff = min((upper for _, upper in bounds.values()), default=math.inf)
    first = [d for d in singles if d == reference or bounds[d][0] <= cutoff]
    extra = [] if reference_routes is None else [reference_routes]
    programs = [main, *[singles[d] for d in first], *extra]
    share = baselines_s / max(len(programs) - 1, 1)
    solution, *others = solve_programs(programs, [main_s] + [share] * (len(programs) - 1),
                                       deadline)
    solved = dict(zip(first, others, strict=False))
    best = best_single(solved)
    late = [d for d in singles
            if d not in solved and (best is None or bounds[d][0] <= best[1].usd_per_hour)]
    if late:
        solved |= dict(zip(late, solve_programs([singles[d] for d in late],
                                                [baselines_s / len(late)] * len(late), deadline),
                           strict=True))
        best = best_single(solved)
    return solution, others[-1] if extra else solved.get(reference), best


def solve_baselines(
    routes: Mapping[str, Sequence[Route]], reference: str = "h100-sxm",
    deadline: Deadline | None = None,
) -> tuple[Solution | None, tuple[str, Solution] | None]:
    """(everything on ``reference``, the best single device type), each one device type."""
    clock = deadline or Deadline(PLAN_BUDGET_S)
    programs = baseline_programs(routes)
    share = clock.remaining() / max(len(programs), 1)
    solved = dict(zip(programs, solve_programs(list(programs.values()), [share] * len(programs),
                                               clock), strict=True))
    return solved.get(reference), best_single(solved)
