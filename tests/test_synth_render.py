"""Renderers: exact fields on a hand-made row, and synth → render → ingest round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_series_equal

from tracelab.errors import ConfigError
from tracelab.schema import conform
from tracelab.synth.generate import generate_trace
from tracelab.synth.render import RENDERERS, render_trace

T0 = datetime(2026, 1, 5, 9, 0, 1, 250000, tzinfo=UTC)


@pytest.fixture
def two_rows() -> pl.DataFrame:
    """One ok agentic turn (120 in, 20 cached, 5 cache writes, 30 out, 10 reasoning) and one error."""
    return conform(
        pl.LazyFrame(
            {
                "request_id": ["r1", "r2"],
                "arrival_ts": [T0, T0.replace(second=3)],
                "time_base": ["absolute", "absolute"],
                "model": ["gpt-oss-120b", "llama-3.2-3b"],
                "input_tokens": [120, 50],
                "cached_input_tokens": [20, 0],
                "cache_write_tokens": [5, None],
                "output_tokens": [30, None],
                "reasoning_tokens": [10, None],
                "ttft_s": [0.5, None],
                "e2e_latency_s": [2.0, 0.25],
                "is_streaming": [True, False],
                "session_id": ["sess-1", None],
                "tenant_id": ["team-a", "team-b"],
                "prefix_hash_blocks": [[7, 8], None],
                "prefix_block_tokens": [512, None],
                "endpoint": ["chat", "batch"],
                "status": ["ok", "error"],
                "source_format": ["canonical", "canonical"],
            }
        )
    ).collect()


def test_anthropic_input_excludes_cache_reads_and_writes(
    two_rows: pl.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "a.jsonl"
    assert render_trace(two_rows, "anthropic", path) == 1  # only the completed request
    usage = json.loads(path.read_text())["usage"]
    assert usage["input_tokens"] == 120 - 20 - 5
    assert usage["cache_read_input_tokens"] == 20
    assert usage["cache_creation_input_tokens"] == 5
    assert usage["output_tokens"] == 30
    assert usage["output_tokens_details"] == {"thinking_tokens": 10}


def test_openai_usage_object(two_rows: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    render_trace(two_rows, "openai", path)
    obj = json.loads(path.read_text())
    assert obj["object"] == "chat.completion"
    assert obj["id"] == "chatcmpl-r1"
    assert obj["created"] == int(T0.timestamp())
    assert obj["usage"] == {
        "prompt_tokens": 120,
        "completion_tokens": 30,
        "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 10},
    }


def test_otel_span_layout(two_rows: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    assert render_trace(two_rows, "otel", path) == 2
    spans = json.loads(path.read_text())["resourceSpans"][0]["scopeSpans"][0]["spans"]
    ok, failed = spans
    attrs = {a["key"]: a["value"] for a in ok["attributes"]}
    assert attrs["gen_ai.usage.input_tokens"] == {"intValue": "120"}
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == {"intValue": "20"}
    assert attrs["gen_ai.response.time_to_first_chunk"] == {"doubleValue": 0.5}
    assert attrs["gen_ai.request.stream"] == {"boolValue": True}
    assert ok["startTimeUnixNano"] == str(int(T0.timestamp()) * 10**9 + 250_000_000)
    assert int(ok["endTimeUnixNano"]) - int(ok["startTimeUnixNano"]) == 2 * 10**9
    assert len(ok["traceId"]) == 32
    assert len(ok["spanId"]) == 16
    assert ok["kind"] == 3
    failed_attrs = {a["key"]: a["value"] for a in failed["attributes"]}
    assert failed["status"]["code"] == 2
    assert failed_attrs["error.type"] == {"stringValue": "error"}
    assert "gen_ai.usage.output_tokens" not in failed_attrs


def test_azure_2023_layout(two_rows: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "az.csv"
    render_trace(two_rows, "azure", path)
    assert (
        path.read_bytes()
        == b"TIMESTAMP,ContextTokens,GeneratedTokens\r\n2026-01-05 09:00:01.2500000,120,30"
    )


def test_burstgpt_failure_is_zero_response_tokens(two_rows: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    render_trace(two_rows, "burstgpt", path)
    rows = pl.read_csv(path).rows()
    assert rows == [
        (32401, "gpt-oss-120b", 120, 30, 150, "Conversation log"),
        (32403, "llama-3.2-3b", 50, 0, 50, "API log"),
    ]


def test_mooncake_and_aiperf_and_litellm(two_rows: pl.DataFrame, tmp_path: Path) -> None:
    render_trace(two_rows, "mooncake", tmp_path / "m.jsonl")
    assert json.loads((tmp_path / "m.jsonl").read_text()) == {
        "timestamp": 0,
        "input_length": 120,
        "output_length": 30,
        "hash_ids": [7, 8],
    }
    render_trace(two_rows, "aiperf", tmp_path / "p.jsonl")
    ok, failed = (json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines())
    assert ok["metrics"]["time_to_first_token"] == {"value": 500.0, "unit": "ms"}
    assert ok["metrics"]["output_sequence_length"]["value"] == 30
    assert ok["metadata"]["x_correlation_id"] == "sess-1"
    assert ok["error"] is None
    assert failed["error"]["code"] == 500
    assert failed["metrics"]["error_isl"]["value"] == 50
    render_trace(two_rows, "litellm", tmp_path / "l.csv")
    spend = pl.read_csv(tmp_path / "l.csv")
    assert spend["status"].to_list() == ["success", "failure"]
    assert spend["startTime"][0] == "2026-01-05 09:00:01.250"
    assert spend["completionStartTime"][0] == "2026-01-05 09:00:01.750"
    usage = json.loads(spend["metadata"][0])["usage_object"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 20}


def test_unknown_format_is_a_config_error(two_rows: pl.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown format 'nope'"):
        render_trace(two_rows, "nope", tmp_path / "x")


# Round trips: the fields each format carries come back as generated.
_COMMON = ["model", "input_tokens", "output_tokens"]
ROUND_TRIP: dict[str, tuple[list[str], bool]] = {
    # format: (columns compared exactly, only completed requests are written)
    "canonical": (
        [
            "request_id",
            "arrival_ts",
            "model",
            "input_tokens",
            "cached_input_tokens",
            "output_tokens",
            "reasoning_tokens",
            "session_id",
            "tenant_id",
            "prefix_hash_blocks",
            "endpoint",
            "status",
        ],
        False,
    ),
    "openai": ([*_COMMON, "cached_input_tokens", "reasoning_tokens"], True),
    "anthropic": (
        [*_COMMON, "cached_input_tokens", "cache_write_tokens", "reasoning_tokens"],
        True,
    ),
    "otel": (
        [
            *_COMMON,
            "request_id",
            "arrival_ts",
            "cached_input_tokens",
            "reasoning_tokens",
            "session_id",
            "is_streaming",
            "endpoint",
        ],
        False,
    ),
    "litellm": ([*_COMMON, "request_id", "cached_input_tokens", "session_id"], False),
    "aiperf": (["request_id", "arrival_ts", "session_id"], False),
    "azure": (["arrival_ts", "input_tokens", "output_tokens"], True),
    "burstgpt": (["model", "input_tokens"], False),
    "mooncake": (["input_tokens", "output_tokens", "prefix_hash_blocks"], True),
}


@pytest.fixture(scope="module")
def synth_frame() -> pl.DataFrame:
    return generate_trace(300, seed=11, span_s=600)


@pytest.mark.parametrize("fmt", sorted(ROUND_TRIP))
def test_round_trip_through_ingest(fmt: str, synth_frame: pl.DataFrame, tmp_path: Path) -> None:
    ingest = pytest.importorskip("tracelab.ingest")
    columns, ok_only = ROUND_TRIP[fmt]
    suffix = {
        "canonical": ".parquet",
        "otel": ".json",
        "litellm": ".csv",
        "azure": ".csv",
        "burstgpt": ".csv",
    }.get(fmt, ".jsonl")
    path = tmp_path / f"trace{suffix}"
    written = render_trace(synth_frame, fmt, path)
    trace = ingest.read_trace([path], format=fmt)
    got = trace.frame.collect().sort("source_row")
    expected = synth_frame.filter(pl.col("status") == "ok") if ok_only else synth_frame
    if fmt == "anthropic":  # Anthropic has no "unknown" cache writes: null is written as 0
        expected = expected.with_columns(pl.col("cache_write_tokens").fill_null(0))
    if fmt == "mooncake":  # hash_ids is always present; a request without blocks has []
        expected = expected.with_columns(
            pl.col("prefix_hash_blocks").fill_null(pl.lit([], pl.List(pl.UInt64)))
        )
    assert trace.rows_rejected == 0
    assert got.height == written == expected.height
    assert set(got["source_format"]) == {fmt}
    for column in columns:
        assert_series_equal(got[column], expected[column], check_names=False, check_dtypes=False)
    ok = pl.col("status") == "ok"
    if "status" in got.columns and fmt in ("otel", "litellm", "aiperf", "burstgpt"):
        assert_series_equal(got.select(ok)["status"], expected.select(ok)["status"])
    if fmt in ("otel", "litellm", "aiperf"):
        delta = (got["e2e_latency_s"] - expected["e2e_latency_s"]).abs().max()
        assert delta is not None
        assert delta < 1e-3
    if fmt in ("burstgpt", "mooncake"):  # relative clocks: whole seconds / milliseconds
        assert set(got["time_base"]) == {"relative"}
        offsets = (got["arrival_ts"] - got["arrival_ts"].min()).dt.total_seconds(fractional=True)
        want = (expected["arrival_ts"] - expected["arrival_ts"].min()).dt.total_seconds(
            fractional=True
        )
        assert ((offsets - want).abs() < 1.0).all()


def test_every_renderer_is_round_tripped() -> None:
    assert set(ROUND_TRIP) == set(RENDERERS)
