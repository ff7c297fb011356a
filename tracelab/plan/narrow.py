"""How ``tracelab.plan.milp`` cuts a program: into independent components, and a large
limited re-solve down to the device types the limits-free fleets use.

Classes that share no pool (different models never do: a pool names its model) are
independent programs (``components``).

When the fleets of a program's independent components (one per model) together break an
operational limit, ``tracelab.plan.milp`` solves the program again as one, with the limits'
indicators. On a long trace that program is large (a 10M-request trace: 110 classes, 9,348
routes over 21 device types) and HiGHS spends most of its work at the root node on routes no
good fleet uses. A large program is therefore re-solved on the device types that the
components' fleets use, that some class's cheapest route uses, and ALTERNATIVE_TYPES more:
those that lower the program's linear bound most when added. The limits-free fleets' bound
stays a valid lower bound for the limited program (a limit only removes fleets), so the gap
reported against it is a proof, if a looser one than the restricted program's own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from tracelab.plan.routes import Pool, Route

# Device types added to the re-solve beyond those the limits-free fleets and the classes'
# cheapest routes use.
ALTERNATIVE_TYPES = 2


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


def _types(route: Route) -> frozenset[str]:
    return frozenset((route.prefill_device, route.decode_device))


def linear_bound(routes: Mapping[str, Sequence[Route]], types: frozenset[str]) -> float:
    """Σ over classes of the cheapest linear cost of a route on ``types`` only ($/h; inf when
    a class has none there)."""
    return math.fsum(min((r.linear_usd_per_hour for r in rs if _types(r) <= types),
                         default=math.inf) for rs in routes.values())


def candidate_types(routes: Mapping[str, Sequence[Route]], used: Iterable[str]) -> frozenset[str]:
    """The device types ``used`` (by the limits-free fleets), those of every class's cheapest
    route (first by route key on a tie), and ALTERNATIVE_TYPES more, lowest ``linear_bound``
    once added first (then by name)."""
    keep = set(used)
    for rs in routes.values():
        keep |= _types(min(rs, key=lambda r: (r.linear_usd_per_hour, r.key)))
    base = frozenset(keep)
    others = sorted({d for rs in routes.values() for r in rs for d in _types(r)} - base)
    ranked = sorted(others, key=lambda d: (linear_bound(routes, base | {d}), d))
    return base | frozenset(ranked[:ALTERNATIVE_TYPES])


def narrow(routes: Mapping[str, Sequence[Route]], used: Iterable[str]) -> dict[str, list[Route]]:
    """``routes`` on ``candidate_types`` only (every class keeps a route: its cheapest)."""
    types = candidate_types(routes, used)
    return {c: [r for r in rs if _types(r) <= types] for c, rs in routes.items()}
