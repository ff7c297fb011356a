"""The synthetic trace generator: determinism, cited medians, shares, sessions and prefix blocks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tracelab.errors import ConfigError
from tracelab.schema import CANONICAL_SCHEMA
from tracelab.synth.generate import generate_trace, parse_start, write_large_trace
from tracelab.synth.workloads import BLOCK_TOKENS, MIXES


@pytest.fixture(scope="module")
def trace() -> pl.DataFrame:
    return generate_trace(5000, seed=0)


def _median(trace: pl.DataFrame, workload: str, column: str) -> float:
    value = trace.filter(pl.col("synth_workload") == workload)[column].median()
    assert isinstance(value, float)
    return value


def test_same_seed_gives_identical_frame() -> None:
    assert_frame_equal(generate_trace(800, seed=7), generate_trace(800, seed=7))
    assert not generate_trace(800, seed=7).equals(generate_trace(800, seed=8))


def test_canonical_schema_and_sorted_arrivals(trace: pl.DataFrame) -> None:
    assert dict(list(trace.schema.items())[: len(CANONICAL_SCHEMA)]) == CANONICAL_SCHEMA
    assert trace.columns[-1] == "synth_workload"
    assert trace.height == 5000
    assert trace["request_id"].n_unique() == 5000
    assert trace["arrival_ts"].is_sorted()
    start = trace["arrival_ts"].min()
    assert start >= datetime(2026, 1, 5, 9, tzinfo=UTC)  # type: ignore[operator]
    span = (trace["arrival_ts"].max() - start).total_seconds()  # type: ignore[operator]
    assert 3500 < span < 3600
    assert set(trace["source_format"]) == {"canonical"}
    assert set(trace["time_base"]) == {"absolute"}


@pytest.mark.parametrize(
    ("workload", "column", "cited", "tolerance"),
    [
        ("code", "input_tokens", 1500, 0.10),  # Splitwise ISCA'24 coding median prompt
        ("code", "output_tokens", 13, 0.16),  # Splitwise coding median output (integers: ±2)
        ("chat", "input_tokens", 1020, 0.10),  # Splitwise conversation median prompt
        ("chat", "output_tokens", 129, 0.10),  # Splitwise conversation median output
        ("rag", "input_tokens", 6909, 0.15),  # Mooncake FAST'25 conversation trace p50
        ("agentic", "input_tokens", 6909, 0.15),  # tuned to Mooncake's p50
        ("batch", "input_tokens", 1050, 0.10),  # CNN/DailyMail 781 words x 1.3 + 100
    ],
)
def test_medians_match_cited_figures(
    trace: pl.DataFrame, workload: str, column: str, cited: float, tolerance: float
) -> None:
    assert abs(_median(trace, workload, column) / cited - 1) <= tolerance


def test_workload_shares_follow_the_mix(trace: pl.DataFrame) -> None:
    counts = dict(trace["synth_workload"].value_counts().iter_rows())
    assert counts == {w.name: round(w.share * 5000) for w in MIXES["default"]}


def test_every_workload_has_its_shape(trace: pl.DataFrame) -> None:
    by = trace.group_by("synth_workload").agg(
        pl.col("endpoint").unique().alias("endpoints"),
        pl.col("is_streaming").all().alias("streaming"),
        pl.col("session_id").null_count().alias("no_session"),
        pl.col("model").n_unique().alias("models"),
        pl.col("prefix_hash_blocks").null_count().alias("no_blocks"),
    )
    rows = {r["synth_workload"]: r for r in by.iter_rows(named=True)}
    assert rows["batch"]["endpoints"] == ["batch"]
    assert not rows["batch"]["streaming"]
    assert rows["code"]["endpoints"] == ["text_completion"]
    assert rows["code"]["streaming"]
    assert rows["chat"]["no_session"] == 0
    assert rows["agentic"]["no_session"] == 0
    assert rows["code"]["no_session"] == len(trace.filter(pl.col("synth_workload") == "code"))
    assert rows["agentic"]["no_blocks"] == 0
    assert rows["chat"]["no_blocks"] == 1750
    assert all(r["models"] >= 2 for r in rows.values())


def test_sessions_context_grows_and_think_time(trace: pl.DataFrame) -> None:
    turns = (
        trace.filter(pl.col("session_id").is_not_null())
        .sort("session_id", "arrival_ts")
        .with_columns(
            prev_in=pl.col("input_tokens").shift().over("session_id"),
            prev_out=pl.col("output_tokens").shift().over("session_id"),
            prev_end=(
                pl.col("arrival_ts") + pl.duration(microseconds=pl.col("e2e_latency_s") * 1e6)
            )
            .shift()
            .over("session_id"),
        )
        .filter(pl.col("prev_in").is_not_null())
    )
    assert turns.height > 1000
    assert (turns["input_tokens"] > turns["prev_in"]).all()
    ok = turns.filter(pl.col("prev_out").is_not_null())
    assert (ok["input_tokens"] >= ok["prev_in"] + ok["prev_out"]).all()
    think = (
        turns.with_columns(
            think_s=(pl.col("arrival_ts") - pl.col("prev_end")).dt.total_microseconds() / 1e6
        )
        .group_by("synth_workload")
        .agg(pl.col("think_s").median(), pl.col("think_s").min().alias("lo"))
    )
    medians = dict(think.select("synth_workload", "think_s").iter_rows())
    assert medians["agentic"] < 1.0 < 5.0 < medians["chat"]
    assert (think["lo"] >= -1e-6).all()


def test_prefix_blocks_extend_previous_turn_and_share_system_prompt(trace: pl.DataFrame) -> None:
    agentic = trace.filter(pl.col("synth_workload") == "agentic").sort("session_id", "arrival_ts")
    assert set(agentic["prefix_block_tokens"]) == {BLOCK_TOKENS}
    lengths = agentic["prefix_hash_blocks"].list.len()
    assert (lengths == (agentic["input_tokens"] + BLOCK_TOKENS - 1) // BLOCK_TOKENS).all()
    prev = agentic.with_columns(
        prev=pl.col("prefix_hash_blocks").shift().over("session_id")
    ).filter(pl.col("prev").is_not_null())
    prefix = prev.select(
        (pl.col("prefix_hash_blocks").list.head(pl.col("prev").list.len()) == pl.col("prev")).all()
    ).item()
    assert prefix
    firsts = agentic.group_by("session_id").first()
    first_block = firsts["prefix_hash_blocks"].list.first()
    assert first_block.n_unique() <= 4 < firsts.height  # four agents' system prompts, shared
    # a session's own blocks are not shared with other sessions
    own = agentic.group_by("session_id").agg(pl.col("prefix_hash_blocks").list.explode().unique())
    ids = own.explode("prefix_hash_blocks")["prefix_hash_blocks"]
    assert ids.filter(ids >= 1 << 20).is_duplicated().sum() == 0


def test_cached_tokens_and_row_invariants(trace: pl.DataFrame) -> None:
    assert (trace["cached_input_tokens"] <= trace["input_tokens"]).all()
    assert trace.select((pl.col("reasoning_tokens") <= pl.col("output_tokens")).all()).item()
    assert trace.select((pl.col("ttft_s") <= pl.col("e2e_latency_s")).all()).item()
    agentic_later = trace.filter(
        (pl.col("synth_workload") == "agentic") & (pl.col("cached_input_tokens") > 0)
    )
    assert agentic_later.height == trace.filter(pl.col("synth_workload") == "agentic").height
    single = trace.filter(pl.col("synth_workload").is_in(["code", "rag", "batch"]))
    assert (single["cached_input_tokens"] == 0).all()
    reasoning = trace.filter(pl.col("reasoning_tokens") > 0)["model"].unique().sort().to_list()
    assert reasoning == ["Qwen/Qwen3-30B-A3B", "gpt-oss-120b"]


def test_failed_requests(trace: pl.DataFrame) -> None:
    statuses = dict(trace["status"].value_counts().iter_rows())
    assert set(statuses) == {"ok", "error", "cancelled", "timeout"}
    assert 0.005 < 1 - statuses["ok"] / trace.height < 0.05
    errors = trace.filter(pl.col("status").is_in(["error", "timeout"]))
    assert errors["output_tokens"].null_count() == errors.height
    assert errors["ttft_s"].null_count() == errors.height
    ok = trace.filter(pl.col("status") == "ok")
    assert ok["output_tokens"].null_count() == 0
    assert ok["input_tokens"].null_count() == 0


def test_batch_arrives_in_bursts(trace: pl.DataFrame) -> None:
    batch = trace.filter(pl.col("endpoint") == "batch")
    gaps = batch["arrival_ts"].diff().drop_nulls().dt.total_microseconds() / 1e6
    assert (gaps < 5.0).mean() > 0.95  # submitted together: ~100 requests within 5 s
    assert batch["ttft_s"].null_count() == batch.height


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2**32 - 1))
def test_any_size_and_seed_gives_valid_rows(n: int, seed: int) -> None:
    frame = generate_trace(n, seed=seed, span_s=120)
    assert frame.height == n
    assert frame["request_id"].n_unique() == n
    if n:
        span = (frame["arrival_ts"].max() - frame["arrival_ts"].min()).total_seconds()  # type: ignore[operator]
        assert span < 120 or frame["session_id"].is_not_null().any()


def test_bad_mix_and_span() -> None:
    with pytest.raises(ConfigError, match="unknown mix 'nope'"):
        generate_trace(10, mix="nope")
    with pytest.raises(ConfigError, match="span_s must be > 0"):
        generate_trace(10, span_s=0)
    with pytest.raises(ConfigError, match="ISO-8601"):
        generate_trace(10, start="yesterday")


def test_parse_start_is_utc() -> None:
    assert parse_start("1970-01-01T00:01:00Z") == 60.0
    assert parse_start("1970-01-01T00:01:00") == 60.0
    assert parse_start("1970-01-01T01:01:00+01:00") == 60.0


def test_write_large_trace_streams_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    assert (
        write_large_trace(path, 250_000, seed=3, chunk_rows=100_000, requests_per_s=1000) == 250_000
    )
    lazy = pl.scan_parquet(path)
    summary = lazy.select(
        pl.len().alias("rows"),
        pl.col("request_id").n_unique().alias("ids"),
        pl.col("request_id").str.slice(0, 4).unique().sort().alias("chunks"),
        pl.col("arrival_ts").min().alias("first"),
        pl.col("prefix_hash_blocks").is_not_null().sum().alias("with_blocks"),
    ).collect()
    assert summary["rows"][0] == 250_000
    assert summary["ids"][0] == 250_000
    assert summary["chunks"].to_list() == ["s3c0", "s3c1", "s3c2"]
    assert summary["with_blocks"][0] == pytest.approx(0.2 * 250_000, rel=0.01)
    # each chunk continues the clock: chunk 1 starts after chunk 0's 100 s
    starts = (
        lazy.group_by(pl.col("request_id").str.slice(0, 4).alias("chunk"))
        .agg(pl.col("arrival_ts").min())
        .sort("chunk")
        .collect()["arrival_ts"]
    )
    offsets = (starts - starts[0]).dt.total_seconds().to_numpy()
    assert np.all(np.abs(offsets - np.array([0, 100, 200])) < 2)
    assert pl.read_parquet_schema(path)["prefix_hash_blocks"] == pl.List(pl.UInt64)
