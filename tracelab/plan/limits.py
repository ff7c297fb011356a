"""Operational limits on a fleet and the MILP's indicator rows that enforce them.

``Limits`` caps the pools bought and the device types used. In the MILP (``tracelab.plan.milp``)
they add binary indicators after the replica and route columns: ``u_k`` (pool k is bought:
``u_k ≤ n_k ≤ M_k·u_k``, ``Σ u_k ≤ max_pools``) and ``y_d`` (device type d is used:
``u_k ≤ y_d``, ``Σ y_d ≤ max_device_types``), ``M_k`` the replicas pool k needs when every class
it can serve rides on it.

The big-M rows alone make a weak LP relaxation (a pool carrying a class's whole load needs
only ``load/M_k`` of its indicator), so the route fractions are linked to the indicators
directly, per class: ``Σ_{r of c on k} z_cr ≤ u_k`` (``milp``'s linking rows point at ``u_k``
instead of ``n_k`` under a limit; with ``u_k ≤ n_k`` they imply the unlimited ones) and
``Σ_{r of c on type d} z_cr ≤ y_d``. Same integer solutions, a tighter bound: on a 10M-request
trace's limited program (110 classes, 9,348 routes) HiGHS's work halves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tracelab.plan.routes import Pool, Route

# One constraint row: (terms (column, coefficient), lower, upper).
Row = tuple[list[tuple[int, float]], float, float]


@dataclass(frozen=True)
class Limits:
    """Operational limits on a fleet (None: no limit)."""

    max_device_types: int | None = None
    max_pools: int | None = None

    def allow(self, replicas: Mapping[Pool, int]) -> bool:
        """Whether a fleet with these replicas keeps within the limits."""
        pools = [k for k, n in replicas.items() if n > 0]
        return ((self.max_pools is None or len(pools) <= self.max_pools)
                and (self.max_device_types is None
                     or len({k[0] for k in pools}) <= self.max_device_types))


def indicator_counts(limits: Limits | None, pool_list: Sequence[Pool]) -> tuple[int, int]:
    """(``u_k`` columns, ``y_d`` columns) the limits add: none without a limit."""
    use_pools = limits is not None and limits.max_pools is not None
    use_types = limits is not None and limits.max_device_types is not None
    n_u = len(pool_list) if use_pools or use_types else 0
    n_y = len({k[0] for k in pool_list}) if use_types else 0
    return n_u, n_y


def replica_bounds(routes: Mapping[str, Sequence[Route]], pool_list: Sequence[Pool]) -> list[int]:
    """M_k: replicas pool k needs when every class it can serve rides on it entirely (a bound
    below that cuts off the fleets that put everything on one pool, the cheapest ones under a
    pool limit)."""
    worst: dict[tuple[str, Pool], float] = {}
    for c, rs in routes.items():
        for r in rs:
            on: dict[Pool, float] = {}  # a colocated route puts both its loads on one pool
            for pool, load in ((r.prefill_pool, r.prefill_load), (r.decode_pool, r.decode_load)):
                on[pool] = on.get(pool, 0.0) + load
            for pool, load in on.items():
                worst[(c, pool)] = max(worst.get((c, pool), 0.0), load)
    per_pool: dict[Pool, float] = {}
    for (_, pool), load in worst.items():
        per_pool[pool] = per_pool.get(pool, 0.0) + load
    return [math.ceil(per_pool.get(k, 0.0) * (1 + 1e-9)) + 1 for k in pool_list]


def indicator_rows(limits: Limits | None, routes: Mapping[str, Sequence[Route]],
                   pool_list: Sequence[Pool], u0: int) -> list[Row]:
    """The rows linking pool k's replicas (column k) to its ``u_k`` (column ``u0 + k``), the
    route fractions (columns ``len(pool_list)`` onwards, in ``routes``' canonical order) and
    ``u_k`` to their type's ``y_d`` (after the ``u`` columns), and the rows capping their sums;
    none without a limit."""
    n_u, n_y = indicator_counts(limits, pool_list)
    if not n_u or limits is None:
        return []
    n_pool = len(pool_list)
    big = replica_bounds(routes, pool_list)
    rows: list[Row] = [([(i, 1.0), (u0 + i, -float(big[i]))], -math.inf, 0.0)  # n_k − M_k·u_k ≤ 0
                       for i in range(n_pool)]
    rows += [([(u0 + i, 1.0), (i, -1.0)], -math.inf, 0.0) for i in range(n_pool)]  # u_k − n_k ≤ 0
    if limits.max_pools is not None:
        rows.append(([(u0 + i, 1.0) for i in range(n_pool)], -math.inf, float(limits.max_pools)))
    if limits.max_device_types is not None:
        y0 = u0 + n_pool
        type_ix = {d: y0 + i for i, d in enumerate(sorted({k[0] for k in pool_list}))}
        for i, k in enumerate(pool_list):  # u_k − y_d ≤ 0
            rows.append(([(u0 + i, 1.0), (type_ix[k[0]], -1.0)], -math.inf, 0.0))
        rows.append(([(y0 + i, 1.0) for i in range(n_y)], -math.inf,
                     float(limits.max_device_types)))
        per_type: dict[tuple[str, str], list[int]] = {}  # Σ_{r of c on d} z_cr − y_d ≤ 0
        col = n_pool
        for c in sorted(routes):
            for r in sorted(routes[c], key=lambda r: r.key):
                for d in sorted({r.prefill_device, r.decode_device}):
                    per_type.setdefault((c, d), []).append(col)
                col += 1
        rows += [([(j, 1.0) for j in cols] + [(type_ix[d], -1.0)], -math.inf, 0.0)
                 for (_, d), cols in per_type.items()]
    return rows
