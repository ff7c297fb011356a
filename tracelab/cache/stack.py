"""LRU stack distances (Mattson et al., 1970) and SHARDS sampling (Waldspurger et al., FAST'15).

The stack distance of a reference is the number of *distinct other* blocks referenced since
the previous reference to the same block (-1 for a first, cold reference). An LRU cache of
``C`` blocks hits a reference iff ``0 <= distance < C``, so one pass gives the hit ratio at
every capacity at once.

Exact algorithm, O(n log n), numpy only (no Python loop over references):

1. ``prev[i]``: index of the previous reference to the same block (stable sort by block id).
2. For a reuse at ``i`` with ``p = prev[i]``, distance = ``(i - p - 1) - nested(i)`` where
   ``nested(i)`` counts the reuses ``k < i`` with ``prev[k] > p`` (reuse intervals nested
   inside ``(p, i)``: each of them is a repeat inside the window, not a new distinct block).
3. ``nested`` is a per-element inversion count over the reuses in position order with value
   ``prev``. It is counted bit by bit over the dense rank of ``prev`` (a wavelet-tree pass):
   at each of ``ceil(log2 m)`` levels, elements sharing the higher bits form a contiguous
   group; an element whose bit is 0 gains the number of earlier group members whose bit is 1,
   then each group is stably split by the bit. Each level is a handful of vectorised
   gathers, scatters and cumulative sums, so the whole pass is ``O(n log n)`` array work.
"""

from __future__ import annotations

import numpy as np

# SHARDS hash modulus P: a block is sampled iff hash(block) mod P < R·P.
SHARDS_MODULUS = 1 << 24


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
    """
    m = values.shape[0]
    counts = np.zeros(m, dtype=np.int64)
    if m < 2:
        return counts
    positions = np.arange(m, dtype=np.int64)
    perm = np.arange(m, dtype=np.int64)  # current order: by (value >> (b + 1), position)
    acc = np.zeros(m, dtype=np.int64)  # counts, aligned with perm
    for b in range(int(m - 1).bit_length() - 1, -1, -1):
        vals = values[perm]
        bits = (vals >> b) & 1
        group_start = (vals >> (b + 1)) << (b + 1)
        ones_before = np.cumsum(bits) - bits  # exclusive running count of ones
        # values are dense ranks, so the group holding values [g·2^(b+1), (g+1)·2^(b+1))
        # starts at array position g·2^(b+1)
        starts = group_start
        ones_in_group_before = ones_before - ones_before[starts]
        zero = bits == 0
        acc += np.where(zero, ones_in_group_before, 0)
        # stable split of each group: zeros first, then ones
        half = np.minimum(starts + (1 << b), m)
        zeros_in_group = half - starts
        new_pos = np.where(
            zero,
            positions - ones_in_group_before,
            starts + zeros_in_group + ones_in_group_before,
        )
        new_perm = np.empty_like(perm)
        new_perm[new_pos] = perm
        new_acc = np.empty_like(acc)
        new_acc[new_pos] = acc
        perm, acc = new_perm, new_acc
    counts[perm] = acc
    return counts


def compute_stack_distances(block_ids: np.ndarray) -> np.ndarray:
    """LRU stack distance of every reference (int64); -1 for a first (cold) reference."""
    prev = compute_previous_reference(block_ids)
    dist = np.full(prev.shape[0], -1, dtype=np.int64)
    reuse = np.flatnonzero(prev >= 0)
    if reuse.size == 0:
        return dist
    p = prev[reuse]
    ranks = np.empty(p.shape[0], dtype=np.int64)
    ranks[np.argsort(p, kind="stable")] = np.arange(p.shape[0], dtype=np.int64)
    dist[reuse] = (reuse - p - 1) - _count_nested(ranks)
    return dist


def hash_blocks(block_ids: np.ndarray) -> np.ndarray:
    """splitmix64 of each block id (uint64): a fixed, well-mixed hash for SHARDS sampling."""
    z = np.asarray(block_ids).astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return z


def compute_shards_mask(block_ids: np.ndarray, sample_rate: float) -> np.ndarray:
    """SHARDS spatial sample: keep a reference iff hash(block) mod P < R·P (boolean mask)."""
    threshold = np.uint64(round(sample_rate * SHARDS_MODULUS))
    return (hash_blocks(block_ids) % np.uint64(SHARDS_MODULUS)) < threshold


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
    total = float(d.size) if expected_total is None else float(expected_total)
    if total <= 0:
        return np.zeros(len(capacities), dtype=np.float64)
    warm = np.sort(d[d >= 0])
    caps = np.asarray(capacities, dtype=np.float64)
    hits = np.searchsorted(warm, caps, side="left").astype(np.float64)
    hits += np.where(caps > 0, total - d.size, 0.0)
    return np.clip(hits / total, 0.0, 1.0)
