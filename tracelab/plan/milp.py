"""The tier-mix MILP (``scipy.optimize.milp``, HiGHS).

Variables: integer replicas ``n_k`` per pool k = (device, model, devices per replica, role) and
continuous route fractions ``z_cr`` ≥ 0. Constraints: ``Σ_r z_cr = 1`` per class;
``Σ_{c,r} z_cr·load_{cr,k} ≤ n_k`` per pool. Objective: ``Σ_k n_k·usd_per_hour_k`` plus a
negligible tie-break (1e-7 × the routes' linear cost) so equal-cost optima pick the routes
that use the least replica-time. Restricting the routes gives the baselines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tracelab.plan.routes import Pool, Route

TIE_BREAK = 1e-7
MIN_FRACTION = 1e-9
# Relative optimality gap HiGHS must close. Small programs (hand cases, baselines, the
# property tests) are solved to optimality; a large one (a long trace's ~70 classes × ~40
# routes) stops within 0.1% of the optimum (unbounded it ran past 60 s on 3,000 routes) and
# is given at most LARGE_TIME_LIMIT_S. The gap reached is reported with the plan.
EXACT_GAP = 1e-9
LARGE_GAP = 1e-3
LARGE_ROUTES = 500
LARGE_TIME_LIMIT_S = 8.0


@dataclass(frozen=True)
class Solution:
    """An optimal fleet: replicas per pool, their $/h, and route fractions per class."""

    replicas: dict[Pool, int]
    pool_usd_per_hour: dict[Pool, float]  # per replica
    fractions: dict[str, list[tuple[Route, float]]]  # class → [(route, z)], z summing to 1
    gap: float = 0.0  # relative optimality gap HiGHS proved (0 = optimal)

    @property
    def usd_per_hour(self) -> float:
        return float(sum(n * self.pool_usd_per_hour[k] for k, n in self.replicas.items()))


def solve(routes: Mapping[str, Sequence[Route]], time_limit_s: float = 60.0) -> Solution | None:
    """Cheapest fleet serving every class over its routes; None when a class has no route."""
    from scipy.optimize import LinearConstraint, milp
    from scipy.sparse import coo_array

    classes = sorted(routes)
    if any(not routes[c] for c in classes):
        return None
    flat = [(c, r) for c in classes for r in routes[c]]
    pools: dict[Pool, float] = {}
    for _, r in flat:
        pools.setdefault(r.prefill_pool, r.prefill_usd_per_hour)
        pools.setdefault(r.decode_pool, r.decode_usd_per_hour)
    pool_list = sorted(pools)
    pool_ix = {k: i for i, k in enumerate(pool_list)}
    n_pool, n_route = len(pool_list), len(flat)

    cost = np.zeros(n_pool + n_route)
    cost[:n_pool] = [pools[k] for k in pool_list]
    cost[n_pool:] = [TIE_BREAK * r.linear_usd_per_hour for _, r in flat]

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    # Pool rows 0..n_pool-1: Σ load·z − n ≤ 0.
    for i in range(n_pool):
        rows.append(i)
        cols.append(i)
        vals.append(-1.0)
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
    n_rows = n_pool + len(classes)
    matrix = coo_array((vals, (rows, cols)), shape=(n_rows, n_pool + n_route)).tocsr()
    lower = np.r_[np.full(n_pool, -np.inf), np.ones(len(classes))]
    upper = np.r_[np.zeros(n_pool), np.ones(len(classes))]
    integrality = np.r_[np.ones(n_pool), np.zeros(n_route)]
    from scipy.optimize import Bounds

    bounds = Bounds(np.zeros(n_pool + n_route), np.r_[np.full(n_pool, np.inf), np.ones(n_route)])
    result = milp(
        cost,
        integrality=integrality,
        bounds=bounds,
        constraints=LinearConstraint(matrix, lower, upper),
        options={
            "mip_rel_gap": EXACT_GAP if n_route <= LARGE_ROUTES else LARGE_GAP,
            "time_limit": time_limit_s if n_route <= LARGE_ROUTES
            else min(time_limit_s, LARGE_TIME_LIMIT_S),
            "presolve": True,
        },
    )
    if result.x is None:
        return None
    x = result.x
    replicas = {k: round(x[pool_ix[k]]) for k in pool_list if round(x[pool_ix[k]]) > 0}
    fractions: dict[str, list[tuple[Route, float]]] = {c: [] for c in classes}
    for j, (c, r) in enumerate(flat):
        z = float(x[n_pool + j])
        if z > MIN_FRACTION:
            fractions[c].append((r, z))
    for c, chosen in fractions.items():
        total = sum(z for _, z in chosen)
        fractions[c] = [(r, z / total) for r, z in chosen]
    return Solution(
        replicas=replicas,
        pool_usd_per_hour={k: pools[k] for k in replicas},
        fractions=fractions,
        gap=float(getattr(result, "mip_gap", 0.0) or 0.0),
    )


def restrict(
    routes: Mapping[str, Sequence[Route]], keep: Callable[[Route], bool]
) -> dict[str, list[Route]]:
    """The same classes with only the routes ``keep`` accepts."""
    return {c: [r for r in rs if keep(r)] for c, rs in routes.items()}


def solve_baselines(
    routes: Mapping[str, Sequence[Route]], reference: str = "h100-sxm"
) -> tuple[Solution | None, tuple[str, Solution] | None]:
    """(everything on ``reference``, the best single device type), each one device type."""
    reference_solution = solve(restrict(routes, lambda r: r.single_type and r.prefill_device == reference))
    devices = sorted({r.prefill_device for rs in routes.values() for r in rs if r.single_type})
    best: tuple[str, Solution] | None = None
    for device in devices:
        sol = solve(restrict(routes, lambda r, d=device: r.single_type and r.prefill_device == d))  # type: ignore[misc]
        if sol is not None and (best is None or sol.usd_per_hour < best[1].usd_per_hour - 1e-12):
            best = (device, sol)
    return reference_solution, best
