"""Stack distances and SHARDS against a brute-force LRU."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelab.cache.stack import (
    SHARDS_CHUNK,
    SHARDS_MODULUS,
    _count_nested,
    compute_hit_ratios,
    compute_previous_reference,
    compute_shards_distances,
    compute_shards_mask,
    compute_stack_distances,
    hash_blocks,
    sort_warm,
)


def brute_distances(ids: list[int]) -> list[int]:
    stack: list[int] = []
    out = []
    for x in ids:
        if x in stack:
            i = stack.index(x)
            out.append(i)
            stack.pop(i)
        else:
            out.append(-1)
        stack.insert(0, x)
    return out


def brute_lru_hits(ids: list[int], capacity: int) -> int:
    cache: list[int] = []
    hits = 0
    for x in ids:
        if x in cache:
            hits += 1
            cache.remove(x)
        elif len(cache) >= capacity:
            cache.pop()
        cache.insert(0, x)
    return hits


def test_hand_computed_distances() -> None:
    # a b c a b b d a: a reused after {b, c} = 2, b after {c, a} = 2, b again 0, a after {b, d} = 2
    ids = np.array([1, 2, 3, 1, 2, 2, 4, 1], dtype=np.uint64)
    assert compute_stack_distances(ids).tolist() == [-1, -1, -1, 2, 2, 0, -1, 2]
    assert compute_previous_reference(ids).tolist() == [-1, -1, -1, 0, 1, 4, -1, 3]
    assert compute_hit_ratios(compute_stack_distances(ids), np.array([1, 2, 3])).tolist() == [
        0.125,
        0.125,
        0.5,
    ]


def test_empty_and_single() -> None:
    assert compute_stack_distances(np.zeros(0, dtype=np.uint64)).tolist() == []
    assert compute_stack_distances(np.array([7], dtype=np.uint64)).tolist() == [-1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=80))
def test_exact_matches_brute_force(ids: list[int]) -> None:
    assert compute_stack_distances(np.array(ids, dtype=np.uint64)).tolist() == brute_distances(ids)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=1, max_size=80), st.integers(1, 20))
def test_hit_ratio_matches_brute_lru(ids: list[int], capacity: int) -> None:
    d = compute_stack_distances(np.array(ids, dtype=np.uint64))
    ratio = compute_hit_ratios(d, np.array([capacity]))[0]
    assert ratio == brute_lru_hits(ids, capacity) / len(ids)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 30), max_size=60))
def test_shards_rate_one_is_exact(ids: list[int]) -> None:
    arr = np.array(ids, dtype=np.uint64)
    scaled, mask = compute_shards_distances(arr, 1.0)
    assert mask.all()
    assert scaled.tolist() == [float(x) for x in brute_distances(ids)]


def test_shards_close_to_exact_on_a_large_stream() -> None:
    rng = np.random.default_rng(0)
    ids = (rng.zipf(1.3, 200_000) % 20_000).astype(np.uint64)
    caps = np.array([256, 1024, 4096, 16384])
    exact = compute_hit_ratios(compute_stack_distances(ids), caps)
    approx, _ = compute_shards_distances(ids, 0.1)
    est = compute_hit_ratios(approx, caps, expected_total=0.1 * ids.size)
    assert np.abs(est - exact).max() < 0.03


def test_nested_counts_at_awkward_sizes() -> None:
    # the wavelet pass groups positions by powers of two: sizes around them, partial groups
    rng = np.random.default_rng(0)
    for m in [2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100, 255, 256, 257, 1000]:
        values = rng.permutation(m)
        brute = [(values[:i] > values[i]).sum() for i in range(m)]
        assert _count_nested(values).tolist() == brute, m


def test_long_stream_with_repeats_matches_brute_force() -> None:
    # thousands of references (12 wavelet levels), runs of repeats set aside and put back
    rng = np.random.default_rng(1)
    ids = rng.zipf(1.4, 3000) % 400
    ids[100:110] = ids[99]  # a run of 11 references to one block
    got = compute_stack_distances(ids.astype(np.uint64)).tolist()
    assert got == brute_distances(ids.tolist())
    assert got[100:110] == [0] * 10


def test_sort_warm_is_the_sorted_warm_distances() -> None:
    d = np.array([3, -1, 0, 7, 3, -1, 1], dtype=np.int64)
    assert sort_warm(d).tolist() == [0, 1, 3, 3, 7]
    assert sort_warm(np.array([-1, -1], dtype=np.int64)).tolist() == []


def test_shards_mask_across_chunks() -> None:
    # hashed in place chunk by chunk: same as hashing the whole array at once
    ids = np.arange(SHARDS_CHUNK + 1234, dtype=np.uint64) * np.uint64(7919)
    expected = (hash_blocks(ids) % np.uint64(SHARDS_MODULUS)) < np.uint64(0.3 * SHARDS_MODULUS)
    assert (compute_shards_mask(ids, 0.3) == expected).all()
    assert 0.28 < expected.mean() < 0.32
