"""Bedrock, Gemini, Langfuse, Helicone and OpenRouter files, built from each vendor's
documented schema, read to exact totals; each also has a broken-file case."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from conftest import invoke

from tracelab.ingest import FORMATS, read_trace


def _jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _sum(column: pl.Series) -> int | None:
    """A token total; None when no row has the field (unknown, not 0)."""
    return None if column.null_count() == column.len() else int(column.sum())


def _totals(path: Path) -> dict[str, object]:
    trace = read_trace(path)
    frame = trace.frame.collect()
    return {
        "format": next(iter(trace.formats.values())),
        "read": trace.rows_read,
        "accepted": trace.rows_accepted,
        "rejected": trace.rows_rejected,
        "ok": int((frame["status"] == "ok").sum()),
        "input": _sum(frame["input_tokens"]),
        "cached": _sum(frame["cached_input_tokens"]),
        "output": _sum(frame["output_tokens"]),
        "reasoning": _sum(frame["reasoning_tokens"]),
    }


def _by_id(path: Path) -> dict[str, dict[str, object]]:
    frame = read_trace(path).frame.collect()
    return {row["request_id"]: row for row in frame.iter_rows(named=True)}


# ------------------------------------------------------------------ AWS Bedrock
def _bedrock(request_id, operation, tokens, *, reads=None, writes=None, output=0,
             latency=None, error=None) -> dict[str, object]:
    record: dict[str, object] = {
        "schemaType": "ModelInvocationLog", "schemaVersion": "1.0",
        "timestamp": "2025-04-09T23:00:17Z", "accountId": "123456789012",
        "identity": {"arn": "arn:aws:sts::123456789012:assumed-role/app"},
        "region": "us-east-1", "requestId": request_id, "operation": operation,
        "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
        "input": {"inputContentType": "application/json", "inputTokenCount": tokens},
        "output": {"outputContentType": "application/json", "outputTokenCount": output},
    }
    if reads is not None:
        record["input"]["cacheReadInputTokenCount"] = reads  # type: ignore[index]
    if writes is not None:
        record["input"]["cacheWriteInputTokenCount"] = writes  # type: ignore[index]
    if latency is not None:
        record["output"]["outputBodyJson"] = {  # type: ignore[index]
            "stopReason": "end_turn", "metrics": {"latencyMs": latency},
            "usage": {"inputTokens": tokens, "outputTokens": output}}
    if error:
        record["errorCode"] = error
    return record


def test_bedrock_invocation_logs(tmp_path):
    path = _jsonl(tmp_path / "bedrock.jsonl", [
        _bedrock("b1", "Converse", 35, reads=100, writes=20, output=446, latency=3640),
        _bedrock("b2", "ConverseStream", 10, output=5),
        _bedrock("b3", "InvokeModel", 7, error="ThrottlingException"),
        _bedrock("b4", "Converse", "abc", output=1),
    ])
    assert _totals(path) == {"format": "bedrock", "read": 4, "accepted": 3, "rejected": 1,
                             "ok": 2, "input": 172, "cached": 100, "output": 451,
                             "reasoning": None}
    rows = _by_id(path)
    assert rows["b1"]["input_tokens"] == 155  # 35 uncached + 100 read + 20 written
    assert rows["b1"]["cache_write_tokens"] == 20
    assert rows["b1"]["e2e_latency_s"] == pytest.approx(3.64)
    assert rows["b1"]["arrival_ts"] == datetime(2025, 4, 9, 23, 0, 17, tzinfo=UTC)
    assert rows["b2"]["is_streaming"] is True
    assert rows["b3"]["status"] == "error"
    assert rows["b3"]["error_type"] == "ThrottlingException"


# ------------------------------------------------------------------ Gemini / Vertex AI
def _gemini(response_id, usage, *, blocked=None, created=None) -> dict[str, object]:
    record: dict[str, object] = {"responseId": response_id, "modelVersion": "gemini-2.5-flash",
                                 "usageMetadata": usage}
    if blocked:
        record["promptFeedback"] = {"blockReason": blocked}
    else:
        record["candidates"] = [{"content": {"role": "model", "parts": [{"text": "x"}]},
                                 "finishReason": "STOP"}]
    if created:
        record["createTime"] = created
    return record


def test_gemini_responses(tmp_path):
    path = _jsonl(tmp_path / "gemini.jsonl", [
        # thoughts outside candidates: 100 + 20 + 30 = 150
        _gemini("g1", {"promptTokenCount": 100, "cachedContentTokenCount": 60,
                       "candidatesTokenCount": 20, "thoughtsTokenCount": 30,
                       "totalTokenCount": 150}, created="2025-05-01T10:00:00.123456Z"),
        # a total that already holds the thoughts inside candidates: 10 + 40 = 50
        _gemini("g2", {"promptTokenCount": 10, "candidatesTokenCount": 40,
                       "thoughtsTokenCount": 5, "totalTokenCount": 50}),
        _gemini("g3", {"promptTokenCount": 8, "toolUsePromptTokenCount": 2,
                       "candidatesTokenCount": 3, "totalTokenCount": 13}),
        _gemini("g4", {"promptTokenCount": 5, "totalTokenCount": 5}, blocked="SAFETY"),
        _gemini("g5", {"promptTokenCount": -3, "candidatesTokenCount": 1}),
    ])
    assert _totals(path) == {"format": "gemini", "read": 5, "accepted": 4, "rejected": 1,
                             "ok": 3, "input": 125, "cached": 60, "output": 93,
                             "reasoning": 35}
    rows = _by_id(path)
    assert rows["g1"]["output_tokens"] == 50
    assert rows["g1"]["arrival_ts"] == datetime(2025, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert rows["g2"]["output_tokens"] == 40
    assert rows["g3"]["input_tokens"] == 10
    assert rows["g4"]["status"] == "error"
    assert rows["g4"]["endpoint"] == "generate_content"


# ------------------------------------------------------------------ Langfuse
def _observation(obs_id, usage, *, kind="GENERATION", level="DEFAULT") -> dict[str, object]:
    return {"id": obs_id, "traceId": "t1", "type": kind, "name": "chat",
            "startTime": "2025-11-20T10:00:00.000Z", "endTime": "2025-11-20T10:00:02.000Z",
            "completionStartTime": "2025-11-20T10:00:00.500Z", "model": "gpt-4o",
            "usageDetails": usage, "level": level, "statusMessage": None,
            "userId": "u1", "sessionId": "s1"}


LANGFUSE = [
    # input is the uncached part, as Langfuse's buckets mean it: 86 + 17,817 = 17,903
    _observation("l1", {"input": 86, "input_cached_tokens": 17817, "output": 50,
                        "total": 17953}),
    # langfuse/langfuse#10592: an inclusive input next to the cached count
    _observation("l2", {"input": 17903, "input_cached_tokens": 17817, "output": 50,
                        "total": 17953}),
    _observation("l3", {"input": 100, "cache_read_input_tokens": 20,
                        "cache_creation_input_tokens": 5, "output": 10}, level="ERROR"),
    _observation("l4", {}, kind="SPAN"),
    _observation("l5", {"input": 1.5, "output": 1}),
]


def test_langfuse_api_json(tmp_path):
    path = _jsonl(tmp_path / "observations.jsonl", LANGFUSE)
    assert _totals(path) == {"format": "langfuse", "read": 4, "accepted": 3, "rejected": 1,
                             "ok": 2, "input": 35931, "cached": 35654, "output": 110,
                             "reasoning": None}
    rows = _by_id(path)
    assert rows["l1"]["input_tokens"] == rows["l2"]["input_tokens"] == 17903
    assert rows["l3"]["input_tokens"] == 125
    assert rows["l3"]["status"] == "error"
    assert rows["l1"]["ttft_s"] == pytest.approx(0.5)
    assert rows["l1"]["e2e_latency_s"] == pytest.approx(2.0)
    assert rows["l1"]["session_id"] == "s1"


def test_langfuse_ui_csv(tmp_path):
    rows = [{**o, "usageDetails": json.dumps(o["usageDetails"])} for o in LANGFUSE[:4]]
    path = tmp_path / "observations.csv"
    pl.DataFrame(rows).write_csv(path)
    totals = _totals(path)
    # the span row has no usage: a CSV is read row for row, so it is rejected, not skipped
    assert totals == {"format": "langfuse", "read": 4, "accepted": 3, "rejected": 1, "ok": 2,
                      "input": 35931, "cached": 35654, "output": 110, "reasoning": None}


# ------------------------------------------------------------------ Helicone
def _helicone(request_id, prompt, completion, *, reads=None, writes=None, status=200,
              delay=1000, ttft=None, stream=None, session=None) -> dict[str, object]:
    return {"request_id": request_id, "request_created_at": "2025-06-01T12:00:00.000Z",
            "response_created_at": "2025-06-01T12:00:01.000Z", "response_status": status,
            "request_model": "claude-sonnet-4", "response_model": "claude-sonnet-4",
            "provider": "ANTHROPIC", "delay_ms": delay, "time_to_first_token": ttft,
            "prompt_tokens": prompt, "prompt_cache_read_tokens": reads,
            "prompt_cache_write_tokens": writes, "completion_tokens": completion,
            "total_tokens": None, "request_user_id": "user-1",
            "request_properties": {"Helicone-Session-Id": session} if session else {},
            "request_body": {"stream": stream} if stream is not None else {}}


HELICONE = [
    _helicone("h1", 50, 30, reads=200, writes=10, delay=1200, ttft=300, stream=True,
              session="sess-1"),
    _helicone("h2", 20, 5, status=500),
    _helicone("h3", 1, 1, delay=1000, ttft=2000),
]


def test_helicone_json(tmp_path):
    path = _jsonl(tmp_path / "helicone.jsonl", HELICONE)
    assert _totals(path) == {"format": "helicone", "read": 3, "accepted": 2, "rejected": 1,
                             "ok": 1, "input": 280, "cached": 200, "output": 35,
                             "reasoning": None}
    rows = _by_id(path)
    assert rows["h1"]["input_tokens"] == 260
    assert rows["h1"]["ttft_s"] == pytest.approx(0.3)
    assert rows["h1"]["e2e_latency_s"] == pytest.approx(1.2)
    assert rows["h1"]["is_streaming"] is True
    assert rows["h1"]["session_id"] == "sess-1"
    assert rows["h2"]["status"] == "error"


def test_helicone_csv(tmp_path):
    rows = [{**r, "request_properties": json.dumps(r["request_properties"]),
             "request_body": json.dumps(r["request_body"])} for r in HELICONE[:2]]
    path = tmp_path / "helicone.csv"
    pl.DataFrame(rows).write_csv(path)
    totals = _totals(path)
    assert totals["format"] == "helicone"
    assert (totals["read"], totals["input"], totals["cached"], totals["output"]) == (2, 280,
                                                                                      200, 35)
    assert _by_id(path)["h1"]["session_id"] == "sess-1"


# ------------------------------------------------------------------ OpenRouter
def _generation(gen_id, prompt, completion, *, cached=None, reasoning=None, cancelled=False,
                latency=1250) -> dict[str, object]:
    return {"id": gen_id, "created_at": "2024-07-15T23:33:19.433273+00:00",
            "model": "sao10k/l3-stheno-8b", "provider_name": "Infermatic", "streamed": True,
            "cancelled": cancelled, "latency": latency, "generation_time": 1200,
            "finish_reason": "stop", "tokens_prompt": prompt, "tokens_completion": completion,
            "native_tokens_prompt": prompt, "native_tokens_completion": completion,
            "native_tokens_reasoning": reasoning, "native_tokens_cached": cached,
            "total_cost": 0.0015}


def test_openrouter_generation_stats(tmp_path):
    path = _jsonl(tmp_path / "generations.jsonl", [
        {"data": _generation("gen-1", 10, 25, cached=3, reasoning=5)},
        _generation("gen-2", 100, 0, cancelled=True),
        _generation("gen-3", 5, 20, reasoning=30),
    ])
    assert _totals(path) == {"format": "openrouter", "read": 3, "accepted": 2, "rejected": 1,
                             "ok": 1, "input": 110, "cached": 3, "output": 25, "reasoning": 5}
    rows = _by_id(path)
    assert rows["gen-1"]["e2e_latency_s"] == pytest.approx(1.25)
    assert rows["gen-1"]["arrival_ts"] == datetime(2024, 7, 15, 23, 33, 19, 433273, tzinfo=UTC)
    assert rows["gen-2"]["status"] == "cancelled"


# ------------------------------------------------------------------ broken files
@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("bedrock", _bedrock("b1", "Converse", 1, output=1)),
        ("gemini", _gemini("g1", {"promptTokenCount": 1, "candidatesTokenCount": 1})),
        ("langfuse", LANGFUSE[0]),
        ("helicone", HELICONE[0]),
        ("openrouter", _generation("gen-1", 1, 1)),
    ],
)
def test_broken_file_is_one_line(name, first, runner, tmp_path):
    path = tmp_path / f"{name}.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps(first)[:-7] + "\n")
    assert FORMATS[name].detect  # registered
    result = invoke(runner, ["ingest", str(path), "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "line 2" in lines[0]
    assert not (tmp_path / "o.parquet").exists()


def test_broken_tabular_exports_name_the_missing_column(runner, tmp_path):
    path = tmp_path / "helicone.csv"
    path.write_text("request_id,request_created_at,delay_ms,completion_tokens\nh1,2025-06-01,1,2\n")
    result = invoke(runner, ["ingest", str(path), "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert "prompt_tokens missing for format helicone" in result.output


def test_formats_lists_the_new_adapters(runner):
    result = invoke(runner, ["formats", "--json"])
    names = {row["name"] for row in json.loads(result.output)}
    assert {"bedrock", "gemini", "langfuse", "helicone", "openrouter"} <= names
