"""The tier-mix MILP (``scipy.optimize.milp``, HiGHS).

Variables: integer replicas ``n_k`` per pool k = (device, model, devices per replica, role) and
continuous route fractions ``z_cr`` ≥ 0. Constraints: ``Σ_r z_cr = 1`` per class;
``Σ_{c,r} z_cr·load_{cr,k} ≤ n_k`` per pool. Objective: ``Σ_k n_k·usd_per_hour_k`` plus a
negligible tie-break (1e-7 × the routes' linear cost) so equal-cost optima pick the routes
that use the least replica-time. Restricting the routes gives the baselines.

Classes that share no pool (different models never do: a pool names its model) are
independent programs; ``solve`` splits the routes into those components and solves each
alone, which is exact and far faster than one large program. All solves of one plan share
a ``Deadline`` of CPU seconds; a component the solver cannot finish in its share keeps HiGHS's
best fleet, and one without any falls back to rounding up the LP optimum (every class on its
cheapest route), so a plan always has a fleet. The relative gap to the proven lower bound is
reported with the solution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
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
    matrix = coo_array((vals, (rows, cols)), shape=(n_pool + len(classes), n_pool + n_route)).tocsr()
    lower = np.r_[np.full(n_pool, -np.inf), np.ones(len(classes))]
    upper = np.r_[np.zeros(n_pool), np.ones(len(classes))]
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
        result = linprog(linear, A_ub=a[:n_pool], b_ub=fleet, A_eq=a[n_pool:], b_eq=np.ones(n_class),
                         bounds=(0.0, 1.0), method="highs")
    if result.status != 0 or result.x is None:
        return x
    return np.r_[fleet, result.x]


def solve(routes: Mapping[str, Sequence[Route]], time_limit_s: float = 60.0,
          deadline: Deadline | None = None) -> Solution | None:
    """Cheapest fleet serving every class over its routes; None when a class has no route.

    Each independent component gets a share of the time left (``deadline``, else
    ``time_limit_s`` from now) in proportion to its routes."""
    if any(not rs for rs in routes.values()):
        return None
    clock = deadline or Deadline(time_limit_s)
    # Time goes where the money is: each component's share of the time left is its share of
    # the LP cost still to solve. The costliest goes first, so HiGHS overrunning a small
    # component's limit (it checks the clock only now and then) cannot starve it.
    weight = {g[0]: max(_rounded_lp({c: routes[c] for c in g}).bound, 1e-12)
              for g in components(routes)}
    groups = sorted(components(routes), key=lambda g: (-weight[g[0]], g[0]))
    left = math.fsum(weight.values())
    parts = []
    for group in groups:
        share = max(MIN_SHARE_S, clock.remaining() * weight[group[0]] / max(left, 1e-12))
        wall, cpu = time.monotonic(), time.process_time()
        parts.append(_solve_part({c: routes[c] for c in group}, clock.wall_limit(share)))
        clock.observe(time.monotonic() - wall, time.process_time() - cpu)
        left -= weight[group[0]]
    objective = math.fsum(p.objective for p in parts)
    bound = math.fsum(p.bound for p in parts)
    return Solution(
        replicas={k: n for p in parts for k, n in p.replicas.items()},
        pool_usd_per_hour={k: v for p in parts for k, v in p.pools.items()},
        fractions={c: z for p in parts for c, z in p.fractions.items()},
        gap=max(0.0, (objective - bound) / objective) if objective > 0 else 0.0,
    )


def restrict(
    routes: Mapping[str, Sequence[Route]], keep: Callable[[Route], bool]
) -> dict[str, list[Route]]:
    """The same classes with only the routes ``keep`` accepts."""
    return {c: [r for r in rs if keep(r)] for c, rs in routes.items()}


def solve_baselines(
    routes: Mapping[str, Sequence[Route]], reference: str = "h100-sxm",
    deadline: Deadline | None = None,
) -> tuple[Solution | None, tuple[str, Solution] | None]:
    """(everything on ``reference``, the best single device type), each one device type."""
    clock = deadline or Deadline(PLAN_BUDGET_S)
    devices = sorted({r.prefill_device for rs in routes.values() for r in rs if r.single_type})
    # Devices that cannot serve every class are skipped before any solve.
    usable = [d for d in devices
              if all(any(r.single_type and r.prefill_device == d for r in rs) for rs in routes.values())]
    solved: dict[str, Solution | None] = {}
    for i, device in enumerate(usable):
        share = clock.part(max(MIN_SHARE_S, clock.remaining() / (len(usable) - i)))
        solved[device] = solve(
            restrict(routes, lambda r, d=device: r.single_type and r.prefill_device == d),  # type: ignore[misc]
            deadline=share,
        )
        clock.cpu_fraction = share.cpu_fraction
    best: tuple[str, Solution] | None = None
    for device in usable:
        sol = solved[device]
        if sol is not None and (best is None or sol.usd_per_hour < best[1].usd_per_hour - 1e-12):
            best = (device, sol)
    return solved.get(reference), best
