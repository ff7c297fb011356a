"""One pool's replay, kept by its inputs, so a fleet replayed again replays only the pools
whose inputs changed.

A pool's replay depends on nothing but its spec (device, model, replica size and count,
role), the scheduler settings, the step model and its requests' arrays (arrival at the
pool, prefill, context and output tokens, session). Pools share nothing else: a decode
pool's arrivals are its prefill pools' finishes plus the transfer, which are part of its
input. The planner's repair replays fleets that differ from the last in one or two pools,
and its shape search replays one model's pools at a time, so most pools of a replay were
replayed before on the same inputs (``tracelab.plan.repair``).

A session is compared by identity only (a later request goes where the first of its
session went), so the key numbers sessions by first appearance within the pool: the same
requests give the same key whichever frame they were cut from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReplicaUse:
    """What the replay's result reads from one replica after its run: per timeline bucket,
    seconds stepping, decoders × seconds and KV tokens × seconds; and its preemptions."""

    busy: dict[int, float]
    batch_area: dict[int, float]
    kv_area: dict[int, float]
    preemptions: int


@dataclass(frozen=True)
class PoolRun:
    """One pool's replay: per request (in the pool's arrival order) when it was first
    scheduled, its first token, when it left the pool, its replica (-1: never served, -2:
    its KV does not fit one replica) and its preemptions; per replica its use; and the KV
    capacity of one replica in tokens."""

    start: np.ndarray
    first: np.ndarray
    done: np.ndarray
    rep: np.ndarray
    npre: np.ndarray
    replicas: tuple[ReplicaUse, ...]
    cap: float


def canonical_sessions(session: np.ndarray) -> np.ndarray:
    """Sessions numbered by first appearance (negative: none, kept -1)."""
    out = np.full(len(session), -1, dtype=np.int64)
    has = session >= 0
    if not has.any():
        return out
    values, first, inverse = np.unique(session[has], return_index=True, return_inverse=True)
    rank = np.empty(len(values), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(values))
    out[has] = rank[inverse]
    return out


class PoolRuns:
    """Pool replays by their inputs, for one caller's replays (``simulate``'s ``memo``).
    Holds the step models it was used with, so a key's model identity stays unique."""

    def __init__(self) -> None:
        self._runs: dict[tuple[object, ...], PoolRun] = {}
        self._models: dict[int, object] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Sequence[object], model: object, run: Callable[[], PoolRun]) -> PoolRun:
        """The run for ``key`` (hashable parts: spec, options, arrays' bytes) with ``model``
        (the performance model), replayed by ``run`` the first time."""
        self._models[id(model)] = model
        full = (id(model), *key)
        found = self._runs.get(full)
        if found is None:
            self.misses += 1
            found = self._runs[full] = run()
        else:
            self.hits += 1
        return found
