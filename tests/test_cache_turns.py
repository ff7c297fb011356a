"""Session reuse in closed form against the exploded block stream it replaces."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelab.cache import compute_reuse_curve
from tracelab.cache.hits import compute_request_hits
from tracelab.cache.sampling import collect_references
from tracelab.cache.stack import compute_stack_distances
from tracelab.cache.turns import compute_turn_distances, sum_nested
from tracelab.schema import conform


@given(st.permutations(list(range(12))), st.lists(st.integers(0, 9), min_size=12, max_size=12))
@settings(max_examples=60, deadline=None)
def test_sum_nested_is_the_weighted_inversion_count(values: list[int], weights: list[int]) -> None:
    v, w = np.array(values), np.array(weights)
    expected = [int(w[:i][v[:i] > v[i]].sum()) for i in range(v.size)]
    assert sum_nested(v, w).tolist() == expected


def test_turn_distances_by_hand() -> None:
    # B = 16. s1: 20 in + 12 out (reads block 0 and a partial; writes block 1), then s2 of
    # 16 in (one block), then s1 again with 40 in: blocks 0 and 1 warm.
    # Block 0 (read by turn 1 at position 0): turn 1's later blocks (partial, block 1: 2)
    # + s2's one block = 3. Block 1 (written by turn 1, last): s2's block + block 0 = 2.
    got = compute_turn_distances(np.array([1, 2, 1], np.uint64), np.array([20, 16, 40]),
                                 np.array([12, 0, 5]), 16)  # fmt: skip
    assert got.n_read_warm.tolist() == [0, 0, 1]
    assert got.d_read.tolist()[2] == 3.0
    assert got.n_write_warm.tolist() == [0, 0, 1]
    assert got.d_write.tolist()[2] == 2.0
    assert got.n_distinct == 2 + 1 + 2  # s1 blocks 0-1 read, s2 block 0, two partials


def growing_sessions(seed: int, n: int = 150, sessions: int = 10) -> pl.LazyFrame:
    """Sessions whose prompts extend the previous context (the closed form's premise)."""
    rng = np.random.default_rng(seed)
    sess = rng.integers(0, sessions, n)
    tin, out = np.zeros(n, dtype=np.int64), rng.integers(0, 60, n)
    context: dict[int, int] = {}
    for r in range(n):
        base = context.get(int(sess[r]), 0)
        tin[r] = base + int(rng.integers(1 if base == 0 else 0, 80))
        context[int(sess[r])] = int(tin[r] + out[r])
    return conform(pl.LazyFrame({
        "request_id": [f"q{i}" for i in range(n)],
        "arrival_ts": [datetime.fromtimestamp(int(t), UTC) for t in np.sort(rng.integers(0, 50, n))],
        "source_file": ["f"] * n, "source_row": list(range(1, n + 1)),
        "input_tokens": tin.tolist(), "output_tokens": out.tolist(),
        "model": ["llama-3.1-8b"] * n, "session_id": [f"s{s}" for s in sess],
    }))  # fmt: skip


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_closed_form_equals_the_block_stream(seed: int) -> None:
    frame = growing_sessions(seed)
    got = compute_reuse_curve(frame)
    assert got.method == "exact"
    assert "closed form" in got.method_how
    refs, _, prepared = collect_references(frame, sample_rate=1)  # the exploded stream
    d = compute_stack_distances(refs.block_ids)[refs.counted]
    caps = got.curve["capacity_blocks"].to_numpy()
    expected = [((d >= 0) & (d < c)).sum() / refs.n_reads for c in caps]
    assert got.curve["hit_ratio"].to_list() == pytest.approx(expected, abs=1e-12)
    assert got.n_references == refs.n_reads
    assert got.n_distinct == np.unique(refs.block_ids[refs.counted]).size
    old = compute_request_hits(prepared, "sessions", refs.row, refs.counted, refs.hit_tokens,
                               d.astype(np.float64), refs.evidence_rows, None)  # fmt: skip
    for capacity in (1, 7, 40, 300):
        new_hits = got.compute_cache_hits_by_row(capacity)
        assert new_hits.equals(old.compute_cache_hits_by_row(capacity))
    warm = np.sort(d[d >= 0])
    for fraction, capacity in zip(got.knees["fraction"], got.knees["capacity_blocks"],
                                  strict=True):  # fmt: skip
        k = int(np.ceil(fraction * warm.size - 1e-9))
        assert capacity == warm[k - 1] + 1


def test_session_sample_is_close_and_measures_its_error() -> None:
    frame = growing_sessions(7, n=3000, sessions=300)
    exact = compute_reuse_curve(frame, sample_rate=1)
    sampled = compute_reuse_curve(frame, sample_rate=0.3)
    assert sampled.method == "shards"
    assert sampled.sampling_error is not None
    assert sampled.sampling_error["max_abs_error"] < 0.1
    assert sampled.reuse_ratio_infinite == pytest.approx(exact.reuse_ratio_infinite, abs=0.05)
    capacity = int(exact.knees["capacity_blocks"][1])
    total = exact.compute_cache_hits_by_row(capacity)["cache_hit_tokens"].sum()
    estimate = sampled.compute_cache_hits_by_row(capacity)["cache_hit_tokens"].sum()
    assert estimate == pytest.approx(total, rel=0.25)
