"""Real public traces in ../shared/traces give the figures their papers published."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tracelab.ingest import read_trace

ABSENT = ("model", "ttft_s", "e2e_latency_s", "session_id", "tenant_id")


def test_azure_2023_splitwise_medians(shared_dir: Path) -> None:
    trace = read_trace(shared_dir / "traces" / "azure-2023")
    assert set(trace.formats.values()) == {"azure"}
    assert (trace.rows_read, trace.rows_rejected) == (8_819 + 19_366, 0)
    frame = trace.frame.collect()
    medians = (
        frame.group_by("source_split")
        .agg(pl.col("input_tokens").median(), pl.col("output_tokens").median(), pl.len())
        .sort("source_split")
    )
    # Splitwise (ISCA'24): coding 1500 / 13 (the file gives 1469 / 13); conversation 1020 / 129.
    assert medians.rows() == [("code", 1469.0, 13.0, 8_819), ("conv", 1020.0, 129.0, 19_366)]
    assert frame["time_base"].unique().to_list() == ["absolute"]
    assert str(frame["arrival_ts"].min()) == "2023-11-16 18:15:46.680590+00:00"
    for name in ABSENT:
        assert frame[name].null_count() == frame.height, name


def test_mooncake_conversation(shared_dir: Path) -> None:
    trace = read_trace(shared_dir / "traces" / "mooncake-fast25" / "conversation_trace.jsonl")
    assert trace.formats
    assert set(trace.formats.values()) == {"mooncake"}
    assert (trace.rows_read, trace.rows_accepted) == (12_031, 12_031)
    frame = trace.frame.collect()
    assert frame["time_base"].unique().to_list() == ["relative"]
    assert frame["arrival_ts"].min().year == 1970
    assert frame["prefix_hash_blocks"].null_count() == 0
    assert frame["prefix_block_tokens"].unique().to_list() == [512]
    blocks = frame["prefix_hash_blocks"].list.len()
    assert (frame["input_tokens"] <= blocks * 512).all()  # last block may be partial
    for name in ABSENT:
        assert frame[name].null_count() == frame.height, name
