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

from typing import Any

import numpy as np
import numpy.typing as npt

# SHARDS hash modulus P: a block is sampled iff hash(block) mod P < R·P.
SHARDS_MODULUS = 1 << 24
SHARDS_CHUNK = 1 << 22


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
    Works in int32 when ``m`` fits (half the memory traffic of int64); since the values are
    distinct, the final order (sorted by value) is known, so only the values and the running
    counts are permuted per level.
    """
    m = values.shape[0]
    counts = np.zeros(m, dtype=np.int64)
    if m < 2:
        return counts
    dt = np.dtype(np.int32 if m < np.iinfo(np.int32).max else np.int64)
    vals: npt.NDArray[np.signedinteger[Any]] = values.astype(
        dt
    )  # current order: by (value >> (b + 1), position)
    positions = np.arange(m, dtype=dt)
    acc: npt.NDArray[np.signedinteger[Any]] = np.zeros(m, dtype=dt)  # counts, aligned with vals
    for b in range(int(m - 1).bit_length() - 1, -1, -1):
        bits = (vals >> b) & 1
        # values are dense ranks, so the group holding values [g·2^(b+1), (g+1)·2^(b+1))
        # starts at array position g·2^(b+1)
        starts = (vals >> (b + 1)) << (b + 1)
        ones_before = np.cumsum(bits, dtype=dt)
        ones_before -= bits  # exclusive running count of ones
        ones_in_group_before = ones_before - ones_before[starts]
        zero = bits == 0
        acc += np.where(zero, ones_in_group_before, 0).astype(dt, copy=False)
        # stable split of each group: zeros first, then ones
        new_pos = np.where(
            zero,
            positions - ones_in_group_before,
            np.minimum(starts + (1 << b), m) + ones_in_group_before,
        )
        new_vals = np.empty_like(vals)
        new_vals[new_pos] = vals
        new_acc = np.empty_like(acc)
        new_acc[new_pos] = acc
        vals, acc = new_vals, new_acc
    counts[vals] = acc  # counts by value
    return counts[values]


def compute_stack_distances(block_ids: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray:
    """LRU stack distance of every reference (int64); -1 for a first (cold) reference.

    ``prev``: ``compute_previous_reference(block_ids)`` when the caller already has it.
    """
    if prev is None:
        prev = compute_previous_reference(block_ids)
    dist = np.full(prev.shape[0], -1, dtype=np.int64)
    reuse = np.flatnonzero(prev >= 0)
    if reuse.size == 0:
        return dist
    p = prev[reuse]
    # each reference is the previous one of at most one reuse, so ``p`` is distinct: its dense
    # rank is a running count over a marker array (no sort)
    marked = np.zeros(prev.shape[0], dtype=np.int64)
    marked[p] = 1
    ranks = (np.cumsum(marked) - 1)[p]
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
    """SHARDS spatial sample: keep a reference iff hash(block) mod P < R·P (boolean mask).

    Hashed in chunks of ``SHARDS_CHUNK`` references, so the temporaries stay small on
    streams of tens of millions of references.
    """
    ids = np.asarray(block_ids)
    threshold = np.uint64(round(sample_rate * SHARDS_MODULUS))
    mask = np.empty(ids.shape[0], dtype=bool)
    for lo in range(0, ids.shape[0], SHARDS_CHUNK):
        hashed = hash_blocks(ids[lo : lo + SHARDS_CHUNK])
        mask[lo : lo + SHARDS_CHUNK] = (hashed % np.uint64(SHARDS_MODULUS)) < threshold
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
