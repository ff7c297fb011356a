"""LRU stack distances of session evidence per turn, in closed form (no block is exploded).

Session evidence (``tracelab.cache.blocks``): block ``j`` of a session is the same content in
every turn, a turn reads its prompt's blocks ``0 .. ceil(in/B) - 1`` (a partial last block is
unique and never hits) and writes the full blocks its output completes, ``in//B .. ctx//B - 1``
(``ctx`` = input + output tokens). So a turn touches ``f = ctx//B + partial`` distinct blocks
once each, in block order, ``m = ctx//B`` of them its session's.

Take a turn ``i`` whose previous turn of the session is ``p`` and a full block ``j`` it reads
that ``p`` touched (at position ``pos(j)`` of ``p``'s references). Since then, the distinct
blocks referenced are ``p``'s later ones (``f_p - 1 - pos(j)``), those of the requests between
``p`` and ``i`` (``X``), and ``i``'s own blocks before ``j`` (``j`` of them, all touched by ``p``
before ``j``). ``pos(j) = j`` for a block ``p`` read and ``j + partial_p`` for one ``p`` wrote,
so every read of the turn has one of two distances:

    D_read = f_p - 1 + X        (blocks j < in_p // B)
    D_write = m_p - 1 + X       (blocks in_p // B <= j < m_p)

and the blocks ``p`` did not touch are cold. ``X`` is the distinct blocks of the requests
strictly between: each other session contributes the blocks of its last turn in the window
(its context only grows), each request its partial block:

    X = sum(f over the window) - sum(m_prev(k) over turns k in the window whose previous turn
        is in the window too)

The second sum is a weighted count of nested reuse intervals, the same wavelet pass as
``stack._count_nested`` with weights (``sum_nested``): O(n log n) numpy work over turns, not
blocks. Exact against the block stream when each turn's prompt is at least the previous
turn's prompt and every session's context grows; when a context shrinks, a block only an
older turn held counts as cold and another session counts at its last turn's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


def _group_cumsum(x: np.ndarray, width: int, out: np.ndarray) -> None:
    """Inclusive cumulative sums of ``x`` restarting at every ``width`` positions."""
    np.cumsum(x, out=out)
    m = x.shape[0]
    groups, whole = m // width, (m // width) * width
    if 0 < whole < m:
        out[whole:] -= out[whole - 1]
    if groups > 1:
        grid = out[:whole].reshape(groups, width)
        grid[1:] -= grid[:-1, -1:].copy()


def sum_nested(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each position i, the sum of ``weights`` at earlier positions with a larger value.

    ``values``: a permutation of ``0..m-1``. Bit by bit from the highest (a wavelet pass, as
    ``stack._count_nested``): values are dense, so at level ``b`` the group of values sharing
    the higher bits sits at positions ``[g·2^(b+1), (g+1)·2^(b+1))``; an element whose bit is
    0 gains the weights of the earlier group members whose bit is 1, then the group is split
    stably (zeros from the group start, ones after the group's ``2^b`` zeros).
    """
    m = values.shape[0]
    if m < 2:
        return np.zeros(m, dtype=np.int64)
    val = values.astype(np.int64)
    acc = np.zeros(m, dtype=np.int64)
    w = weights.astype(np.int64)
    positions = np.arange(m, dtype=np.int64)
    bit, ones, wones, target = (np.empty(m, dtype=np.int64) for _ in range(4))
    zero = np.empty(m, dtype=bool)
    moved = [np.empty_like(val) for _ in range(3)]
    for b in range(int(m - 1).bit_length() - 1, -1, -1):
        width = 2 << b
        groups, whole = m // width, (m // width) * width
        np.right_shift(val, b, out=bit)
        np.bitwise_and(bit, 1, out=bit)
        np.equal(bit, 0, out=zero)
        _group_cumsum(bit, width, ones)
        np.multiply(bit, w, out=wones)
        _group_cumsum(wones, width, wones)
        np.add(acc, wones, out=acc, where=zero)
        first_one = np.arange(0, m, width, dtype=np.int64) + ((1 << b) - 1)
        if groups:
            np.add(ones[:whole].reshape(groups, width), first_one[:groups, None],
                   out=target[:whole].reshape(groups, width))
        if whole < m:
            np.add(ones[whole:], first_one[groups], out=target[whole:])
        np.subtract(positions, ones, out=target, where=zero)
        for array, into in zip((val, acc, w), moved, strict=True):
            into[target] = array
        (val, acc, w), moved = moved, [val, acc, w]
    out = np.empty(m, dtype=np.int64)
    out[val] = acc
    return out[values]


@dataclass(frozen=True)
class TurnDistances:
    """Per turn (in reference order): its warm full-block reads and their LRU distances.

    ``n_read_warm`` reads at ``d_read`` and ``n_write_warm`` at ``d_write`` (blocks the
    previous turn read / wrote; float64 blocks, scaled under sampling); -1 where the turn has
    no previous turn.
    """

    n_read_warm: np.ndarray
    d_read: np.ndarray
    n_write_warm: np.ndarray
    d_write: np.ndarray
    n_distinct: int = 0  # distinct blocks the turns read


def compute_turn_distances(
    session: np.ndarray, input_tokens: np.ndarray, output_tokens: np.ndarray, block_tokens: int,
    rate: float | None = None,
) -> TurnDistances:  # fmt: skip
    """The closed form of the module doc over turns in reference order (one row per request).

    ``session``: any integer key per session; ``input_tokens`` >= 0; ``output_tokens`` >= 0.
    ``rate``: the turns are the sessions a SHARDS-style sample kept with probability
    ``rate`` (by session): ``X`` counts only sampled sessions, so it is scaled by 1/rate
    (each other session's blocks stand for 1/rate sessions'); the turn's own part is exact.
    """
    n = session.shape[0]
    tin = input_tokens.astype(np.int64)
    full = tin // block_tokens
    m = (tin + output_tokens.astype(np.int64)) // block_tokens
    partial = tin % block_tokens != 0
    f = m + partial
    order = np.argsort(session, kind="stable")
    keys = session[order]
    same = keys[1:] == keys[:-1]
    prev = np.full(n, -1, dtype=np.int64)
    prev[order[1:][same]] = order[:-1][same]
    # distinct blocks read: each session's longest prompt in full blocks, each partial block
    starts = np.flatnonzero(np.concatenate([[True], ~same])) if n else np.zeros(0, np.int64)
    distinct = int(np.maximum.reduceat(full[order], starts).sum()) if n else 0
    distinct += int(partial.sum())
    reuse = np.flatnonzero(prev >= 0)
    p = prev[reuse]
    cum = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(f, out=cum[1:])
    window = cum[reuse] - cum[p + 1]
    # each turn is the previous of at most one later turn: dense ranks by a running count
    rank = np.zeros(n, dtype=np.int64)
    rank[p] = 1
    np.cumsum(rank, out=rank)
    x = (window - sum_nested(rank[p] - 1, m[p])).astype(np.float64)
    if rate is not None:
        x /= rate
    n_read = np.zeros(n, dtype=np.int64)
    n_write = np.zeros(n, dtype=np.int64)
    d_read = np.full(n, -1.0)
    d_write = np.full(n, -1.0)
    full_i, read_p = full[reuse], full[p]
    n_read[reuse] = np.minimum(full_i, read_p)
    n_write[reuse] = np.maximum(np.minimum(full_i, m[p]) - read_p, 0)
    d_read[reuse] = f[p] - 1 + x
    d_write[reuse] = m[p] - 1 + x
    return TurnDistances(n_read, d_read, n_write, d_write, distinct)


def weighted_warm(turns: TurnDistances) -> tuple[np.ndarray, np.ndarray]:
    """The warm reads as (distances ascending, cumulative read counts): the LRU curve's CDF."""
    d = np.concatenate([turns.d_read, turns.d_write])
    w = np.concatenate([turns.n_read_warm, turns.n_write_warm])
    keep = w > 0
    d, w = d[keep], w[keep]
    order = np.argsort(d)
    return d[order], np.cumsum(w[order])


def warm_hits(dist: np.ndarray, cum: np.ndarray, capacities: np.ndarray) -> np.ndarray:
    """Warm reads with distance below each capacity (blocks)."""
    at = np.searchsorted(dist, np.asarray(capacities, dtype=np.float64), side="left")
    return np.where(at > 0, cum[np.maximum(at - 1, 0)], 0)


def knee_blocks(dist: np.ndarray, cum: np.ndarray, fraction: float) -> int:
    """Smallest capacity (blocks) reaching ``fraction`` of the warm reads' hits."""
    if cum.size == 0:
        return 0
    needed = max(fraction * float(cum[-1]), 1.0)
    k = int(np.searchsorted(cum, needed - 1e-9, side="left"))
    return int(np.ceil(dist[min(k, dist.size - 1)])) + 1


@dataclass(frozen=True)
class TurnHits:
    """Per-request LRU hits of session turns at any capacity, from their two distances.

    ``row`` (int64, ascending: the request's position in the input frame) and the
    ``TurnDistances`` arrays aligned with it; ``evidence_rows``: rows with a reference.
    Under a session sample (``sample_rate``) only sampled turns are held, and their hits are
    scaled by 1/rate (Horvitz–Thompson: unbiased for any sum over requests; one request's
    value is 0 or an over-estimate, as ``tracelab.cache.hits`` under SHARDS).
    """

    frame: pl.LazyFrame
    row: np.ndarray
    turns: TurnDistances
    block_tokens: int
    evidence_rows: np.ndarray
    sample_rate: float | None = None
    evidence: str = "sessions"

    def compute_cache_hits_by_row(self, capacity_blocks: int) -> pl.DataFrame:
        """``row``, ``cache_hit_tokens`` (Int64) for every request with reuse evidence."""
        from tracelab.cache.hits import HITS_BY_ROW_SCHEMA
        from tracelab.errors import ConfigError

        if capacity_blocks < 0:
            msg = f"capacity {capacity_blocks} blocks: must be 0 or more"
            raise ConfigError(msg)
        t = self.turns
        blocks = np.where((t.d_read >= 0) & (t.d_read < capacity_blocks), t.n_read_warm, 0)
        blocks += np.where((t.d_write >= 0) & (t.d_write < capacity_blocks), t.n_write_warm, 0)
        tokens = np.zeros(self.evidence_rows.size, dtype=np.int64)
        scale = self.block_tokens / (self.sample_rate or 1.0)
        tokens[np.searchsorted(self.evidence_rows, self.row)] = np.rint(blocks * scale)
        return pl.DataFrame({"row": self.evidence_rows, "cache_hit_tokens": tokens},
                            schema=HITS_BY_ROW_SCHEMA)

    def compute_cache_hits(self, capacity_blocks: int) -> pl.LazyFrame:
        """``request_id``, ``cache_hit_tokens`` per input row, in input order (null without
        evidence)."""
        by_row = self.compute_cache_hits_by_row(capacity_blocks)
        return (
            self.frame.select("row", "request_id")
            .join(by_row.lazy(), on="row", how="left", maintain_order="left")
            .select("request_id", "cache_hit_tokens")
        )
