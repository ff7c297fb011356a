"""Replica shapes by replay: per model, cheaper ways to pool its classes, kept when the
replay of the whole fleet still meets the attainment target.

The count repair (``plan/repair.py``) changes how many replicas a pool has, never its
shape. A shape is the set of colocated pools one model's classes ride on: one pool of a
replica size, or two sizes with the classes split by context (those whose context is at or
above a split on the larger replicas, so a short prompt never waits behind a long one's
prefill; a class's context is the representative prompt the plan sized it by). The candidates of a model, cheaper than what it costs in the repaired fleet:

- every device type the fleet already uses (the number of types cannot grow), every
  replica size whose colocated routes (``plan/routes.py``) serve the classes put on it;
- counts from each pool's fluid need (``ceil`` of its routes' loads) times the model's
  headroom, up to two more. The headroom is what the count repair found the model's
  present pools need over their fluid need (at least 1): a burst the replay's window holds
  asks it of every shape (the 10M synthetic hour's busiest 2.7 s asked llama-3.2-3b for 31
  replicas where the fluid need was 15, and its shapes started at 15: all eight missed);
- splits at CONTEXT_SPLITS.

Pools of different models share nothing in a replay, so each candidate replays only its
model's requests, at most MAX_SHAPE_REPLAYS per model, cheapest first, until one meets the
target alone. Each replay is one option (its $/h, requests met, requests held), as is each
model's part of every whole-fleet replay the count repair ran; ``choose`` then picks one
option per model, the cheapest set whose met requests reach the target share of all held
ones, within the fleet's pool limit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracelab.plan.milp import Solution
from tracelab.plan.model import Plan
from tracelab.plan.routes import Pool, Route, pool_id
from tracelab.simulate import Fleet, PoolSpec, Replay, RouteShare

# Context splits between a model's smaller and larger replicas: the context label
# edges (tracelab/data/labels.toml: the Llama-2 window, the Llama-3 window, a common
# long-context serving limit).
CONTEXT_SPLITS = (2048, 8192, 32768)
MAX_SHAPE_REPLAYS = 8  # per model
EXTRA_REPLICAS = 2  # above a pool's fluid need


@dataclass(frozen=True)
class Option:
    """One way to serve a model: its pools' replicas, its classes' routes, and what the
    replay said (``met`` of ``held`` requests met the SLO)."""

    model_id: str
    replicas: dict[Pool, int]
    fractions: dict[str, list[tuple[Route, float]]]
    usd_per_hour: float
    met: int
    held: int
    label: str


def fleet_of(replicas: Mapping[Pool, int], fractions: Mapping[str, Sequence[tuple[Route, float]]],
             precision: str) -> Fleet:
    """The simulator's fleet for these pools and route fractions."""
    pools = tuple(PoolSpec(pool_id(k), k[0], k[1], k[2], n, k[3], precision)
                  for k, n in sorted(replicas.items(), key=lambda kv: pool_id(kv[0])))
    routes = tuple(RouteShare(c, pool_id(r.prefill_pool), pool_id(r.decode_pool), z)
                   for c in sorted(fractions) for r, z in fractions[c])
    return Fleet(pools, routes)


def met_held(replay: Replay, modes: Sequence[str],
             excluded: Collection[str] = ()) -> dict[str, tuple[int, int]]:
    """Per model: (requests held to ``modes`` that met the SLO, requests held), less the
    ``excluded`` request ids (infeasible by their SLO)."""
    held = pl.col("slo_mode").is_in(list(modes))
    if excluded:
        held &= ~pl.col("request_id").is_in(sorted(excluded))
    rows = replay.requests.filter(held)
    counts = rows.group_by("model_id").agg(pl.col("meets_slo").sum().alias("met"),
                                           pl.len().alias("held")).sort("model_id")
    return {str(m): (int(a), int(b)) for m, a, b in counts.iter_rows()}


def _usd(replicas: Mapping[Pool, int], price: Mapping[Pool, float]) -> float:
    return math.fsum(n * price[k] for k, n in replicas.items())


def _need(routes: Sequence[Route], headroom: float = 1.0) -> int:
    """Replicas a colocated pool needs for these routes at fraction 1 (their fluid loads),
    times ``headroom``."""
    fluid = max(1, math.ceil(sum(r.prefill_load + r.decode_load for r in routes) - 1e-9))
    return max(fluid, math.ceil(fluid * headroom - 1e-9))


def headroom(replicas: Mapping[Pool, int],
             fractions: Mapping[str, Sequence[tuple[Route, float]]]) -> float:
    """Replicas over fluid need of these pools (each pool's need: ``ceil`` of the loads its
    classes' route fractions put on it, at least 1); at least 1."""
    load: dict[Pool, float] = {}
    for routed in fractions.values():
        for r, z in routed:
            load[r.prefill_pool] = load.get(r.prefill_pool, 0.0) + z * r.prefill_load
            load[r.decode_pool] = load.get(r.decode_pool, 0.0) + z * r.decode_load
    held = {k: n for k, n in replicas.items() if n > 0}
    need = sum(max(1, math.ceil(load.get(k, 0.0) - 1e-9)) for k in held)
    return max(1.0, sum(held.values()) / need) if need else 1.0


def _colocated(routes: Sequence[Route], device: str, size: int) -> Route | None:
    for r in routes:
        if r.colocated and r.prefill_pool[0] == device and r.prefill_pool[2] == size:
            return r
    return None


# A candidate before its replay: (replicas, fractions, $/h, label).
Candidate = tuple[dict[Pool, int], dict[str, list[tuple[Route, float]]], float, str]


def _groups(classes: Sequence[str], context: Mapping[str, float]) -> list[list[list[str]]]:
    """The class groupings tried: all together, then each distinct split by context (the
    long classes first)."""
    out: list[list[list[str]]] = [[list(classes)]]
    for edge in CONTEXT_SPLITS:
        big = [c for c in classes if context.get(c, 0.0) >= edge]
        small = [c for c in classes if context.get(c, 0.0) < edge]
        if big and small and [big, small] not in out:
            out.append([big, small])
    return out


def candidates(routes: Mapping[str, Sequence[Route]], classes: Sequence[str],
               context: Mapping[str, float], devices: Sequence[str],
               price: Callable[[Pool], float | None], below_usd: float,
               room: float = 1.0) -> list[Candidate]:
    """Shapes of one model's ``classes`` cheaper than ``below_usd``, cheapest first (see
    the module docstring); ``price`` gives a pool's $/h per replica, ``room`` the model's
    headroom."""
    found: dict[object, Candidate] = {}
    order: dict[object, int] = {}  # first found first among equal costs
    for device in devices:
        for grouping in _groups(classes, context):
            sizes = sorted({r.prefill_pool[2] for c in classes for r in routes[c]
                            if r.colocated and r.prefill_pool[0] == device})
            per_group: list[list[tuple[int, dict[str, Route]]]] = []
            for group in grouping:
                fits = []
                for size in sizes:
                    picked = {c: _colocated(routes[c], device, size) for c in group}
                    if all(r is not None for r in picked.values()):
                        fits.append((size, {c: r for c, r in picked.items() if r is not None}))
                per_group.append(fits)
            for combo in _size_combos(per_group):
                pools = [next(iter(rs.values())).prefill_pool for _, rs in combo]
                needs = [_need(list(rs.values()), room) for _, rs in combo]
                for extra in _extras(len(combo)):
                    replicas = {k: n + e for k, n, e in zip(pools, needs, extra, strict=True)}
                    prices = {k: price(k) for k in pools}
                    if any(v is None for v in prices.values()):
                        continue
                    usd = math.fsum(n * (prices[k] or 0.0) for k, n in replicas.items())
                    if usd >= below_usd - 1e-9:
                        continue
                    fractions = {c: [(r, 1.0)] for _, rs in combo for c, r in rs.items()}
                    key = (tuple(sorted((pool_id(k), n) for k, n in replicas.items())),
                           tuple(sorted((c, pool_id(r.prefill_pool)) for _, rs in combo
                                        for c, r in rs.items())))
                    label = " + ".join(f"{n} x {pool_id(k)}" for k, n in sorted(
                        replicas.items(), key=lambda kv: pool_id(kv[0])))
                    if len(combo) > 1:
                        label += f" (classes of context >= {edge_of(grouping, context)} on the larger)"
                    if key not in found:
                        order[key] = len(order)
                        found[key] = (replicas, fractions, usd, label)
    return [found[k] for k in sorted(found, key=lambda k: (found[k][2], len(found[k][0]),
                                                          order[k]))]


def edge_of(grouping: Sequence[Sequence[str]], context: Mapping[str, float]) -> int:
    """The split a two-group grouping was made at (the smallest edge its long group's
    classes all reach)."""
    low = min(context.get(c, 0.0) for c in grouping[0])
    return max((e for e in CONTEXT_SPLITS if e <= low), default=0)


def _size_combos(per_group: list[list[tuple[int, dict[str, Route]]]]
                 ) -> list[list[tuple[int, dict[str, Route]]]]:
    """One size per group; with two groups, the long classes on strictly larger replicas."""
    if len(per_group) == 1:
        return [[f] for f in per_group[0]]
    big, small = per_group
    return [[b, s] for b in big for s in small if b[0] > s[0]]


def _extras(n_pools: int) -> list[tuple[int, ...]]:
    """Replicas added above the fluid need, pool by pool, at most EXTRA_REPLICAS in all."""
    out = [(0,) * n_pools]
    for total in range(1, EXTRA_REPLICAS + 1):
        for i in range(n_pools):
            out.append(tuple(total if j == i else 0 for j in range(n_pools)))
    return out


def choose(options: Mapping[str, Sequence[Option]], target: float,
           max_pools: int | None) -> dict[str, Option] | None:
    """One option per model: the cheapest set whose met requests are at least ``target``
    of the held ones, with at most ``max_pools`` pools; None when no set does. Ties go to
    the option listed first (a model's options in the order they were found)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    models = sorted(options)
    flat = [(m, o) for m in models for o in options[m]]
    if not flat or any(not options[m] for m in models):
        return None
    held = sum(options[m][0].held for m in models)
    n = len(flat)
    # Ties: a share of a cent per option position, far below any real price difference.
    cost = np.array([o.usd_per_hour + 1e-7 * (i + 1) for i, (_, o) in enumerate(flat)])
    rows = [[1.0 if fm == m else 0.0 for fm, _ in flat] for m in models]
    lower, upper = [1.0] * len(models), [1.0] * len(models)
    rows.append([float(o.met) for _, o in flat])
    lower.append(target * held - 1e-9)
    upper.append(math.inf)
    if max_pools is not None:
        rows.append([float(sum(1 for v in o.replicas.values() if v > 0)) for _, o in flat])
        lower.append(0.0)
        upper.append(float(max_pools))
    result = milp(cost, integrality=np.ones(n), bounds=Bounds(np.zeros(n), np.ones(n)),
                  constraints=LinearConstraint(np.array(rows), np.array(lower), np.array(upper)))
    if result.x is None:
        return None
    picked = [flat[i] for i in range(n) if result.x[i] > 0.5]
    return {m: o for m, o in picked}


@dataclass(frozen=True)
class Reshaped:
    """The options tried per model and the plan of the set chosen (None: no cheaper set
    met the target)."""

    plan: Plan | None
    tried: list[Option]


def reshape(plan: Plan, window: pl.DataFrame, runs: Sequence[tuple[Mapping[str, int], Replay]],
            chosen: Mapping[str, int], replay: Callable[[pl.DataFrame, Fleet], Replay],
            target: float, modes: Sequence[str], excluded: Collection[str] = ()) -> Reshaped:
    """Cheaper shapes for ``plan`` by replay (see the module docstring). ``runs``: the
    count repair's whole-fleet replays (replicas by pool id, replay); ``chosen``: the
    replicas it settled on; ``replay(requests, fleet)`` runs the simulator; ``excluded``:
    request ids no fleet can serve in time, not counted as held."""
    ctx = plan.context
    if ctx is None:
        return Reshaped(None, [])
    sol = ctx.solution
    price: dict[Pool, float] = {}
    for rs in ctx.routes.values():
        for r in rs:
            price.setdefault(r.prefill_pool, r.prefill_usd_per_hour)
            price.setdefault(r.decode_pool, r.decode_usd_per_hour)
    by_id = {pool_id(k): k for k in sol.pool_usd_per_hour}
    model_of = {c: zs[0][0].model_id for c, zs in sol.fractions.items() if zs}
    models = sorted(set(model_of.values()))
    precision = str(plan.settings.get("precision", "bf16"))
    options: dict[str, list[Option]] = {m: [] for m in models}
    seen: set[tuple[object, ...]] = set()

    def key_of(m: str, replicas: Mapping[Pool, int],
               fractions: Mapping[str, Sequence[tuple[Route, float]]]) -> tuple[object, ...]:
        return (m, tuple(sorted((pool_id(k), n) for k, n in replicas.items() if n)),
                tuple((c, pool_id(r.prefill_pool), pool_id(r.decode_pool), z)
                      for c in sorted(fractions) for r, z in fractions[c]))

    def add(option: Option) -> None:
        key = key_of(option.model_id, option.replicas, option.fractions)
        if key not in seen:
            seen.add(key)
            options[option.model_id].append(option)

    for counts, run in runs:
        scores = met_held(run, modes, excluded)
        for m in models:
            replicas = {by_id[p]: n for p, n in counts.items() if by_id[p][1] == m}
            fractions = {c: sol.fractions[c] for c in sorted(model_of) if model_of[c] == m}
            met, held = scores.get(m, (0, 0))
            add(Option(m, replicas, fractions, _usd(replicas, price), met, held, "as planned"))
    context = dict(zip(plan.classes["class_id"], plan.classes["context_tokens"], strict=True)) \
        if "context_tokens" in plan.classes.columns else {}
    devices = sorted({by_id[p][0] for p, n in chosen.items() if n > 0})
    tried: list[Option] = []
    for m in models:
        classes = sorted(c for c, mm in model_of.items() if mm == m)
        present = {by_id[p]: n for p, n in chosen.items() if by_id[p][1] == m}
        current = _usd(present, price)
        requests = window.filter(pl.col("model_id") == m)
        found = candidates(ctx.routes, classes, {c: float(v or 0.0) for c, v in context.items()},
                           devices, price.get, current,
                           headroom(present, {c: sol.fractions[c] for c in classes}))
        fresh = [c for c in found if key_of(m, c[0], c[1]) not in seen]
        for replicas, fractions, usd, label in fresh[:MAX_SHAPE_REPLAYS]:
            met, held = met_held(replay(requests, fleet_of(replicas, fractions, precision)),
                                 modes, excluded).get(m, (0, 0))
            option = Option(m, replicas, fractions, usd, met, held, label)
            tried.append(option)
            add(option)
            if met >= target * held:
                break
    picked = choose(options, target, ctx.limits.max_pools)
    if picked is None:
        return Reshaped(None, tried)
    replicas = {k: n for o in picked.values() for k, n in o.replicas.items() if n > 0}
    if {pool_id(k): n for k, n in replicas.items()} == {p: n for p, n in chosen.items() if n}:
        return Reshaped(None, tried)
    solution = Solution(replicas, {k: price[k] for k in replicas},
                        {c: z for o in picked.values() for c, z in o.fractions.items()}, sol.gap)
    return Reshaped(ctx.build(solution), tried)
