"""Dispatch inside one pool: each arriving request to a replica, then every replica drained.

Join-shortest-queue, the queue measured in tokens (``Replica.load``: the KV the requests
in the system will hold, each its reservation (context, or prefill when larger) plus its
output in the pool; zero for every request under
``SimOptions.dispatch`` "requests"), then in requests, then the lowest index; a session's
later requests go where its first went, so its prefix hits land where its KV is, unless
the pool is imbalanced (``balance``: the busiest replica holds more than ``abs`` more
requests in the system than the least busy, and more than ``rel`` times as many; SGLang's
cache-aware router rule), when they join the shortest queue and the session follows. JSQ
needs every replica's load at an arrival; a replica whose next segment ends after the
arrival keeps it unexecuted (nothing finishes inside a segment, ``tracelab.simulate.
batching``), so requests sent elsewhere do not cut it. Cost per arrival: O(replicas).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from tracelab.simulate.batching import INF, PoolState, Prefills, Replica
from tracelab.simulate.steps import StepModel


def run_pool(arrival: list[float], session: list[int], state: PoolState, replicas: int,
             step: StepModel, kv_cap: float, max_seqs: int, chunk: int,
             budget: int, max_span: int = 1 << 62,
             available: Sequence[tuple[float, int]] = (),
             prefills: Prefills | None = None,
             balance: tuple[int, float] = (-1, 1.0)) -> list[Replica]:
    """Replay one pool: requests in ``arrival`` order (already sorted), join-shortest-queue
    over its replicas (least load, then fewest requests in the system, then the lowest
    index; see the module docstring), a session's
    later requests on the replica its first went to (``session`` < 0: none). The state's
    arrays must be filled; requests whose ``rep`` is already set (-2) are skipped.
    ``available``: replicas in service over time (see the module docstring; empty: all
    ``replicas`` always); ``prefills``: how a step shares its prefill budget (``Prefills``);
    ``balance``: (abs, rel) when a session's replica is left for the shortest queue (a
    negative abs: never)."""
    reps = [Replica(r, state, step, kv_cap, max_seqs, chunk, budget, max_span, prefills)
            for r in range(replicas)]
    if not reps:
        return reps
    sticky: dict[int, int] = {}
    rebalance = balance[0] >= 0
    rep_of = state.rep
    single = len(reps) == 1 and not available
    starts = [a for a, _ in available]
    counts = [min(c, replicas) for _, c in available]
    up = reps
    for i, t in enumerate(arrival):
        if rep_of[i] == -2:
            continue
        if available:
            up = reps[:counts[max(bisect_right(starts, t) - 1, 0)]]
            if not up:
                continue
        if single:
            target = reps[0]
        else:
            key = session[i]
            r = sticky.get(key, -1) if key >= 0 else -1
            if r >= len(up) or (r >= 0 and rebalance and _imbalanced(up, t, *balance)):
                r = -1
            if r < 0:
                best = up[0]
                for rep in up:
                    if rep.pending <= t:
                        rep.advance(t, False)
                    if rep.load < best.load or (rep.load == best.load
                                                and rep.in_sys < best.in_sys):
                        best = rep
                r = best.idx
                if key >= 0:
                    sticky[key] = r
            target = reps[r]
        target.advance(t, True)
        target.enqueue(i, t)
    for rep in reps:
        rep.advance(INF, True)
    return reps


def _imbalanced(up: Sequence[Replica], t: float, abs_threshold: int, rel: float) -> bool:
    """Whether the busiest of ``up`` holds more than ``abs_threshold`` more requests in the
    system at ``t`` than the least busy, and more than ``rel`` times as many."""
    low, high = INF, 0
    for rep in up:
        if rep.pending <= t:
            rep.advance(t, False)
        n = rep.in_sys
        low = min(low, n)
        high = max(high, n)
    return high - low > abs_threshold and high > rel * low
