"""LRU stack distances (Mattson et al., 1970) and SHARDS sampling (Waldspurger et al., FAST'15).

The stack distance of a reference is the number of *distinct other* blocks referenced since
the previous reference to the same block (-1 for a first, cold reference). An LRU cache of
``C`` blocks hits a reference iff ``0 <= distance < C``, so one pass gives the hit ratio at
every capacity at once.

Exact algorithm, O(n log n), numpy only (no Python loop over references):

0. A reference to the same block as the one just before it has distance 0 and leaves the LRU
   stack as it is, so it is set aside and the rest is measured without it.
1. ``prev[i]``: index of the previous reference to the same block (stable sort by block id).
2. For a reuse at ``i`` with ``p = prev[i]``, distance = ``(i - p - 1) - nested(i)`` where
   ``nested(i)`` counts the reuses ``k < i`` with ``prev[k] > p`` (reuse intervals nested
   inside ``(p, i)``: each of them is a repeat inside the window, not a new distinct block).
3. ``nested`` is a per-element inversion count over the reuses in position order with value
   ``prev``. It is counted bit by bit over the dense rank of ``prev`` (a wavelet-tree pass):
   at each of ``ceil(log2 m)`` levels, elements sharing the higher bits form a contiguous
   group; an element whose bit is 0 gains the number of earlier group members whose bit is 1,
   then each group is stably split by the bit. Each level is about ten vectorised passes
   (one cumulative sum, one scatter), so the whole pass is ``O(n log n)`` array work: about
   0.25 s per million reuses on one core of the 2-core dev machine.
"""

from __future__ import annotations

import numpy as np

from tracelab.errors import ConfigError

# SHARDS hash modulus P: a block is sampled iff hash(block) mod P < R·P.
SHARDS_MODULUS = 1 << 24
# References hashed at a time: the temporaries (2 x 512 KiB) stay in the CPU cache.
SHARDS_CHUNK = 1 << 16
_NESTED_LIMIT = 1 << 31  # values and counts share one int64 in ``_count_nested``


def compute_previous_reference(block_ids: np.ndarray) -> np.ndarray:
    """Index of the previous reference to the same block (int64), -1 when there is none."""
    ids = np.asarray(block_ids)
    n = ids.shape[0]
    prev = np.full(n, -1, dtype=np.int64)
    if n < 2:
        return prev
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    same = sorted_ids[1:] == sorted_ids[:-1]
    prev[order[1:][same]] = order[:-1][same]
    return prev


def _count_nested(values: np.ndarray) -> np.ndarray:
    """For each position i, how many earlier positions hold a larger value (values distinct).

    ``values`` must be a permutation of ``0..m-1``. Bit-by-bit wavelet pass, see module doc.
    Each element's value (high 32 bits) and running count (low 32 bits) share one int64, so a
    level moves them with one scatter. Values are dense ranks, so at level ``b`` the group of
    values ``[g·2^(b+1), (g+1)·2^(b+1))`` sits at positions ``[g·2^(b+1), ...)``: its running
    count of ones is the global cumulative sum less the sum at the group's start, taken on a
    ``(groups, 2^(b+1))`` view; its zeros go first (from the group start), its ones from
    ``g·2^(b+1) + 2^b`` (the group's ``2^b`` zero values are all present when it has a one).
    """
    m = values.shape[0]
    counts = np.zeros(m, dtype=np.int64)
    if m < 2:
        return counts
    if m >= _NESTED_LIMIT:
        msg = f"{m:,} block reuses is over the exact limit of 2^31; sample at a rate below 1"
        raise ConfigError(msg, param="sample_rate")
    state = values.astype(np.int64)
    state <<= 32
    moved, ones, target = np.empty_like(state), np.empty_like(state), np.empty_like(state)
    zero = np.empty(m, dtype=bool)
    positions = np.arange(m, dtype=np.int64)
    for b in range(int(m - 1).bit_length() - 1, -1, -1):
        width = 2 << b
        groups, whole = m // width, (m // width) * width
        np.right_shift(state, 32 + b, out=target)  # the bits, before ``target`` is needed
        np.bitwise_and(target, 1, out=target)
        np.equal(target, 0, out=zero)
        np.cumsum(target, out=ones)  # then: ones up to here within the group (inclusive)
        if 0 < whole < m:
            ones[whole:] -= ones[whole - 1]
        if groups > 1:
            grid = ones[:whole].reshape(groups, width)
            grid[1:] -= grid[:-1, -1:].copy()
        np.add(state, ones, out=state, where=zero)  # a zero gains the ones before it
        first_one = np.arange(0, m, width, dtype=np.int64) + ((1 << b) - 1)
        if groups:
            np.add(
                ones[:whole].reshape(groups, width),
                first_one[:groups, None],
                out=target[:whole].reshape(groups, width),
            )
        if whole < m:
            np.add(ones[whole:], first_one[groups], out=target[whole:])
        np.subtract(positions, ones, out=target, where=zero)
        moved[target] = state
        state, moved = moved, state
    counts[state >> 32] = state & 0xFFFFFFFF  # by value
    return counts[values]


def _distances(block_ids: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Steps 2-3 of the module doc."""
    dist = np.full(prev.shape[0], -1, dtype=np.int64)
    reuse = np.flatnonzero(prev >= 0)
    if reuse.size == 0:
        return dist
    p = prev[reuse]
    # each reference is the previous one of at most one reuse, so ``p`` is distinct: its dense
    # rank is a running count over a marker array (no sort)
    rank = np.zeros(prev.shape[0], dtype=np.int64)
    rank[p] = 1
    np.cumsum(rank, out=rank)
    ranks = rank[p]
    ranks -= 1
    del rank
    gap = reuse - p
    gap -= 1
    gap -= _count_nested(ranks)
    dist[reuse] = gap
    return dist


def compute_stack_distances(block_ids: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray:
    """LRU stack distance of every reference (int64); -1 for a first (cold) reference.

    ``prev``: ``compute_previous_reference(block_ids)`` when the caller already has it.
    """
    ids = np.asarray(block_ids)
    if prev is not None:
        return _distances(ids, prev)
    repeat = ids[1:] == ids[:-1]
    if not repeat.any():
        return _distances(ids, compute_previous_reference(ids))
    kept = np.ones(ids.shape[0], dtype=bool)
    kept[1:] = ~repeat  # a run keeps its first reference, so ``ids[kept]`` has no repeats
    dist = np.zeros(ids.shape[0], dtype=np.int64)  # a repeat of the reference before: 0
    rest = ids[kept]
    dist[kept] = _distances(rest, compute_previous_reference(rest))
    return dist


def sort_warm(distances: np.ndarray) -> np.ndarray:
    """The warm (>= 0) integer distances, sorted (counting sort: distances are below n)."""
    warm = distances[distances >= 0]
    if warm.size == 0:
        return warm.astype(np.int64)
    tally = np.bincount(warm)
    return np.repeat(np.arange(tally.size, dtype=np.int64), tally)


def _splitmix64_inplace(z: np.ndarray, tmp: np.ndarray) -> None:
    """splitmix64 of a uint64 array, in place (``tmp``: scratch of the same shape)."""
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            np.right_shift(z, np.uint64(shift), out=tmp)
            z ^= tmp
            z *= np.uint64(mult)
        np.right_shift(z, np.uint64(31), out=tmp)
        z ^= tmp


def hash_blocks(block_ids: np.ndarray) -> np.ndarray:
    """splitmix64 of each block id (uint64): a fixed, well-mixed hash for SHARDS sampling."""
    z = np.asarray(block_ids).astype(np.uint64, copy=True)
    _splitmix64_inplace(z, np.empty_like(z))
    return z


def compute_shards_mask(block_ids: np.ndarray, sample_rate: float) -> np.ndarray:
    """SHARDS spatial sample: keep a reference iff hash(block) mod P < R·P (boolean mask).

    Hashed in chunks of ``SHARDS_CHUNK`` references in place, so the temporaries stay small
    (and in cache) on streams of tens of millions of references.
    """
    ids = np.asarray(block_ids)
    n = ids.shape[0]
    threshold = np.uint64(round(sample_rate * SHARDS_MODULUS))
    mask = np.empty(n, dtype=bool)
    z, tmp = np.empty(min(n, SHARDS_CHUNK), np.uint64), np.empty(min(n, SHARDS_CHUNK), np.uint64)
    for lo in range(0, n, SHARDS_CHUNK):
        k = min(SHARDS_CHUNK, n - lo)
        np.copyto(z[:k], ids[lo : lo + k], casting="unsafe")
        _splitmix64_inplace(z[:k], tmp[:k])
        np.bitwise_and(z[:k], np.uint64(SHARDS_MODULUS - 1), out=z[:k])  # mod P, a power of 2
        np.less(z[:k], threshold, out=mask[lo : lo + k])
    return mask


def compute_shards_distances(
    block_ids: np.ndarray, sample_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Stack distances of the sampled references, scaled by 1/R (float64; -1 cold), and the mask.

    The scaled distance estimates the exact one (Waldspurger et al., FAST'15).
    """
    mask = compute_shards_mask(block_ids, sample_rate)
    dist = compute_stack_distances(np.asarray(block_ids)[mask]).astype(np.float64)
    scaled = np.where(dist >= 0, dist / sample_rate, -1.0)
    return scaled, mask


def compute_hit_ratios(
    distances: np.ndarray,
    capacities: np.ndarray,
    counted: np.ndarray | None = None,
    expected_total: float | None = None,
) -> np.ndarray:
    """LRU hit ratio at each capacity (blocks): share of counted references with 0 <= d < C.

    For SHARDS samples pass ``expected_total`` = R x (counted references in the full stream):
    SHARDS-adj (Waldspurger et al., FAST'15 §4.3) adds the difference between the expected and
    the actual sample count to the smallest-distance bucket, which corrects for a hot block
    falling in or out of the sample.
    """
    d = np.asarray(distances)
    if counted is not None:
        d = d[counted]
    return hit_ratios_from_sorted(np.sort(d[d >= 0]), d.size, capacities, expected_total)


def hit_ratios_from_sorted(
    warm_sorted: np.ndarray,
    n_counted: int,
    capacities: np.ndarray,
    expected_total: float | None = None,
) -> np.ndarray:
    """``compute_hit_ratios`` from the sorted warm (>= 0) distances of ``n_counted`` references.

    Sort once, evaluate many capacities: each call is a binary search per capacity.
    """
    total = float(n_counted) if expected_total is None else float(expected_total)
    if total <= 0:
        return np.zeros(len(capacities), dtype=np.float64)
    caps = np.asarray(capacities, dtype=np.float64)
    hits = np.searchsorted(warm_sorted, caps, side="left").astype(np.float64)
    hits += np.where(caps > 0, total - n_counted, 0.0)
    return np.clip(hits / total, 0.0, 1.0)
