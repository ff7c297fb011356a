"""Block references, reuse curves, cache hits and tiers on tiny hand-computable frames."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tracelab.cache import (
    compute_block_references,
    compute_cache_hits,
    compute_reuse_curve,
    load_memory_tiers,
)
from tracelab.errors import ConfigError
from tracelab.schema import conform


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def block_frame() -> pl.LazyFrame:
    # arrival order: r1 (t=0, row 1), r2 (t=0, row 2), r3 (t=1); r3 listed first in the file
    return conform(
        pl.LazyFrame(
            {
                "request_id": ["r3", "r1", "r2"],
                "arrival_ts": [ts(1), ts(0), ts(0)],
                "source_file": ["f", "f", "f"],
                "source_row": [3, 1, 2],
                "input_tokens": [40, 20, 30],
                "output_tokens": [1, 1, 1],
                "prefix_hash_blocks": [[1, 2, 4], [1, 2], [1, 3]],
                "prefix_block_tokens": [10, 10, 10],
            }
        )
    )


def session_frame() -> pl.LazyFrame:
    # one session, two turns: a1 (20 in + 12 out), then a2 (40 in) extending its context
    return conform(
        pl.LazyFrame(
            {
                "request_id": ["a1", "a2"],
                "arrival_ts": [ts(0), ts(5)],
                "session_id": ["s", "s"],
                "input_tokens": [20, 40],
                "output_tokens": [12, 5],
            }
        )
    )


def test_block_references_order_and_tokens() -> None:
    refs = compute_block_references(block_frame())
    assert refs.evidence == "prefix_blocks"
    assert refs.block_ids.tolist() == [1, 2, 1, 3, 1, 2, 4]
    assert refs.request_index.tolist() == [0, 0, 1, 1, 2, 2, 2]
    assert refs.requests["request_id"].to_list() == ["r1", "r2", "r3"]
    assert refs.hit_tokens.tolist() == [10, 10, 10, 10, 10, 10, 10]


def test_reuse_curve_exact_numbers() -> None:
    result = compute_reuse_curve(block_frame(), capacities_blocks=[3])
    # distances: -1 -1 1 -1 1 2 -1 → reuse 3/7
    assert result.reuse_ratio_infinite == pytest.approx(3 / 7)
    assert result.n_distinct == 4
    expected = pl.DataFrame(
        {
            "capacity_blocks": [1, 2, 3, 4],
            "capacity_tokens": [10, 20, 30, 40],
            "capacity_bytes": [c * 10 * 131072 for c in (1, 2, 3, 4)],
            "hit_ratio": [0.0, 2 / 7, 3 / 7, 3 / 7],
        }
    )
    assert_frame_equal(result.curve, expected)
    assert result.model_id == "llama-3.1-8b"
    assert "assumed" in result.model_how
    assert result.knees["capacity_blocks"].to_list() == [2, 3, 3]
    assert [t.tier.id for t in result.tiers] == ["hbm", "host_dram", "local_nvme", "network"]
    assert sum(t.hit_ratio_added for t in result.tiers) == pytest.approx(3 / 7)
    doc = result.to_json()
    assert doc["curve"][1] == {
        "capacity_blocks": 2,
        "capacity_tokens": 20,
        "capacity_bytes": 2 * 10 * 131072,
        "hit_ratio": 2 / 7,
    }


def test_result_does_not_depend_on_row_order() -> None:
    a = compute_reuse_curve(block_frame())
    b = compute_reuse_curve(block_frame().reverse())
    assert_frame_equal(a.curve, b.curve)


def test_cache_hits_per_request() -> None:
    hits = compute_cache_hits(block_frame(), 2).collect()
    # capacity 2: r2's block 1 hits (d=1); r3's block 1 hits (d=1), block 2 misses (d=2);
    # rows come back in input order (r3 first)
    expected = pl.DataFrame({"request_id": ["r3", "r1", "r2"], "cache_hit_tokens": [10, 0, 10]})
    assert_frame_equal(hits, expected)


def test_sessions_synthesise_blocks() -> None:
    frame = session_frame()
    refs = compute_block_references(frame, session_block_tokens=16)
    assert refs.evidence == "sessions"
    # a1 reads block 0 (full) and a partial block; its output completes block 1 (a write);
    # a2 reads blocks 0, 1 (both seen) and a partial third block
    assert refs.counted.tolist() == [True, True, False, True, True, True]
    hits = compute_cache_hits(frame, 100).collect()
    assert hits["cache_hit_tokens"].to_list() == [0, 32]
    result = compute_reuse_curve(frame)
    assert result.reuse_ratio_infinite == pytest.approx(2 / 5)


def test_no_evidence() -> None:
    frame = conform(pl.LazyFrame({"request_id": ["x"], "input_tokens": [5], "output_tokens": [1]}))
    result = compute_reuse_curve(frame)
    assert result.evidence == "none"
    assert result.curve.height == 0
    assert compute_cache_hits(frame, 5).collect()["cache_hit_tokens"].to_list() == [None]


def test_malformed_prefix_rows_are_rejected() -> None:
    frame = pl.LazyFrame(
        {
            "request_id": ["ok", "bad", "neg", "long"],
            "source_row": [1, 2, 3, 4],
            "input_tokens": [20, 20, 20, 5],
            "prefix_hash_blocks": ["[1, 2]", "oops", "[-1]", "[1, 2, 3]"],
            "prefix_block_tokens": [10, 10, 10, 10],
        }
    )
    refs = compute_block_references(frame)
    assert refs.block_ids.tolist() == [1, 2]
    reasons = dict(refs.rejected.select("request_id", "reason").iter_rows())
    assert set(reasons) == {"bad", "neg", "long"}
    assert "not a list" in reasons["bad"]
    assert "more than input_tokens/10+1" in reasons["long"]


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="at least 1 block"):
        compute_reuse_curve(block_frame(), capacities_blocks=[0])
    with pytest.raises(ConfigError, match="sample rate"):
        compute_reuse_curve(block_frame(), sample_rate=2.0)


def test_memory_tiers_load_with_sources() -> None:
    tiers = load_memory_tiers()
    assert [t.id for t in tiers] == ["hbm", "host_dram", "local_nvme", "network"]
    assert all(t.source for t in tiers)
    nvme = tiers[2]
    assert nvme.usd_per_gb_hour == pytest.approx(0.10 / 26280)
    assert nvme.reload_s(14e9) == pytest.approx(1.0 + 7.5e-5)


def test_bad_memory_tiers_file(tmp_path) -> None:
    path = tmp_path / "tiers.toml"
    path.write_text('schema_version = 1\n[tiers.x]\nname = "x"\norder = 1\n')
    with pytest.raises(ConfigError, match=r"tiers\.toml"):
        load_memory_tiers(path)


def test_mooncake_reuse_ratio_matches_brute_force(shared_dir) -> None:
    from tracelab.ingest import read_trace

    path = shared_dir / "traces" / "mooncake-fast25" / "conversation_trace.jsonl"
    frame = read_trace([str(path)]).frame
    result = compute_reuse_curve(frame, capacities_blocks=[500, 2000])
    raw = pl.read_ndjson(path)["hash_ids"].to_list()
    seen: set[int] = set()
    hits = total = 0
    for ids in raw:  # file order = arrival order (timestamps are non-decreasing)
        for block in ids:
            hits += block in seen
            total += 1
            seen.add(block)
    assert result.n_references == total == 288_500
    assert result.reuse_ratio_infinite == pytest.approx(hits / total)
    assert result.reuse_ratio_infinite == pytest.approx(0.36641, abs=1e-5)
    caps = result.curve["capacity_blocks"].to_list()
    assert 500 in caps
    assert 2000 in caps
    assert np.all(np.diff(result.curve["hit_ratio"].to_numpy()) >= 0)


def test_result_cache_hits_reuse_the_distances() -> None:
    result = compute_reuse_curve(block_frame())
    for capacity in (0, 1, 2, 3, 10):
        assert_frame_equal(
            result.compute_cache_hits(capacity).collect(),
            compute_cache_hits(block_frame(), capacity).collect(),
        )
    assert result.method == "exact"
    assert "exact" in result.method_how


def test_result_cache_hits_sessions_and_no_evidence() -> None:
    frame = session_frame()
    assert compute_reuse_curve(frame).compute_cache_hits(100).collect()[
        "cache_hit_tokens"
    ].to_list() == [0, 32]
    none = conform(pl.LazyFrame({"request_id": ["x"], "input_tokens": [5], "output_tokens": [1]}))
    assert compute_reuse_curve(none).compute_cache_hits(5).collect()[
        "cache_hit_tokens"
    ].to_list() == [None]


def test_large_streams_switch_to_shards(monkeypatch: pytest.MonkeyPatch) -> None:

    import tracelab.cache.sampling as sampling

    # block_frame has 7 references; its bound from input_tokens is 12 (5 + 3 + 4)
    monkeypatch.setattr(sampling, "AUTO_SHARDS_REFERENCES", 4)
    monkeypatch.setattr(sampling, "SHARDS_TARGET_REFERENCES", 6)
    result = compute_reuse_curve(block_frame())
    assert result.method == "shards"
    assert result.sample_rate == pytest.approx(6 / 12)
    assert "automatically" in result.method_how
    assert result.to_json()["method"]["how"] == result.method_how
    assert result.sampling_error is not None
    hits = result.compute_cache_hits(10).collect()
    assert hits["request_id"].to_list() == ["r3", "r1", "r2"]
    # estimates (see tests/test_cache_hits.py for the exact arithmetic): whole, non-negative
    assert all(h >= 0 for h in hits["cache_hit_tokens"])
    exact = compute_reuse_curve(block_frame(), sample_rate=1)
    assert exact.method == "exact"
    assert exact.sample_rate is None
    assert exact.reuse_ratio_infinite == pytest.approx(3 / 7)
