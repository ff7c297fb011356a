"""Each adapter maps a hand-made file (field names per shared/reference/formats.md) exactly."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from tracelab.ingest import FORMATS, read_trace, scan_trace
from tracelab.schema import CANONICAL_SCHEMA

T0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # unix 1700000000

CHAT = (
    '{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o",'
    '"choices":[{"index":0,"finish_reason":"stop"}],"usage":{"prompt_tokens":100,'
    '"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":64},'
    '"completion_tokens_details":{"reasoning_tokens":5}}}\n'
    '{"id":"resp_1","object":"response","created_at":1700000010,"status":"failed","model":"o3",'
    '"usage":{"input_tokens":50,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":7},'
    '"output_tokens":30,"output_tokens_details":{"reasoning_tokens":10}}}\n'
)
OPENAI_BATCH = (
    '{"id":"batch_req_1","custom_id":"req-1","response":{"status_code":200,"request_id":"x1",'
    '"body":{"id":"c9","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini",'
    '"usage":{"prompt_tokens":10,"completion_tokens":3}}},"error":null}\n'
    '{"id":"batch_req_2","custom_id":"req-2","response":null,"error":{"code":"rate_limit","message":"x"}}\n'
)
ANTHROPIC = (
    '{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4","stop_reason":"end_turn",'
    '"usage":{"input_tokens":100,"cache_read_input_tokens":20,"cache_creation_input_tokens":5,'
    '"output_tokens":40,"output_tokens_details":{"thinking_tokens":12}}}\n'
)
ANTHROPIC_BATCH = (
    '{"custom_id":"a","result":{"type":"succeeded","message":{"id":"m2","type":"message","model":"claude",'
    '"usage":{"input_tokens":7,"cache_read_input_tokens":3,"output_tokens":3}}}}\n'
    '{"custom_id":"b","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error"}}}}\n'
    '{"custom_id":"c","result":{"type":"canceled"}}\n'
    '{"custom_id":"d","result":{"type":"expired"}}\n'
)


def _attr(key: str, kind: str, value: object) -> str:
    text = f'"{value}"' if kind in ("stringValue", "intValue") else str(value).lower()
    return f'{{"key":"{key}","value":{{"{kind}":{text}}}}}'


def _span(span_id: str, start: str, end: str, attrs: list[str], status: str = "{}") -> str:
    return (
        f'{{"traceId":"t1","spanId":"{span_id}","name":"chat","kind":3,"startTimeUnixNano":"{start}",'
        f'"endTimeUnixNano":"{end}","attributes":[{",".join(attrs)}],"status":{status}}}'
    )


OTEL = (
    '{"resourceSpans":[{"resource":{"attributes":['
    + _attr("user.id", "stringValue", "tenant-1")
    + ']},"scopeSpans":[{"scope":{"name":"x"},"spans":['
    + _span(
        "s1",
        "1700000000000000000",
        "1700000002500000000",
        [
            _attr("gen_ai.operation.name", "stringValue", "chat"),
            _attr("gen_ai.response.id", "stringValue", "chatcmpl-9"),
            _attr("gen_ai.response.model", "stringValue", "gpt-4o"),
            _attr("gen_ai.usage.input_tokens", "intValue", 100),
            _attr("gen_ai.usage.cache_read.input_tokens", "intValue", 30),
            _attr("gen_ai.usage.output_tokens", "intValue", 20),
            _attr("gen_ai.usage.reasoning.output_tokens", "intValue", 4),
            _attr("gen_ai.response.time_to_first_chunk", "doubleValue", 0.5),
            _attr("gen_ai.request.stream", "boolValue", True),
            _attr("gen_ai.conversation.id", "stringValue", "conv-1"),
        ],
    )
    + ","
    + _span(
        "s2",
        "1700000000000000000",
        "1700000000100000000",
        [_attr("http.method", "stringValue", "GET")],
    )
    + "]}]}]}\n"
    + '{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"spans":['
    + _span(
        "s3",
        "1700000001000000000",
        "1700000004000000000",
        [
            _attr("gen_ai.request.id", "stringValue", "cmpl-7"),
            _attr("gen_ai.usage.prompt_tokens", "intValue", 64),
            _attr("gen_ai.usage.completion_tokens", "intValue", 8),
            _attr("gen_ai.latency.time_to_first_token", "doubleValue", 0.25),
            _attr("gen_ai.latency.time_in_queue", "doubleValue", 0.125),
        ],
        '{"code":2}',
    )
    + "]}]}]}\n"
)
LITELLM = (
    "request_id,call_type,api_key,spend,prompt_tokens,completion_tokens,startTime,endTime,"
    "completionStartTime,model,model_group,user,metadata,session_id,status,proxy_server_request\n"
    "r1,acompletion,hash1,0.01,100,20,2024-05-10 12:00:00.000,2024-05-10 12:00:02.500,"
    '2024-05-10 12:00:00.400,gpt-4o,gpt4,u1,"{""usage_object"": {""prompt_tokens_details"": '
    '{""cached_tokens"": 40}, ""completion_tokens_details"": {""reasoning_tokens"": 2}}}",s1,success,'
    '"{""stream"": true}"\n'
    "r2,aembedding,hash2,0,5,0,2024-05-10 12:00:01.000,2024-05-10 12:00:01.200,2024-05-10 12:00:01.200,"
    "emb,emb,u2,{},,failure,\n"
)
AIPERF = (
    '{"metadata":{"x_request_id":"r-1","x_correlation_id":"c-1","conversation_id":"conv1","turn_index":0,'
    '"request_start_ns":1700000000000000000,"was_cancelled":false,"benchmark_phase":"profiling"},'
    '"metrics":{"time_to_first_token":{"value":120.5,"unit":"ms"},"request_latency":{"value":1000.0,"unit":"ms"},'
    '"input_sequence_length":{"value":550,"unit":"tokens"},"output_sequence_length":{"value":64,"unit":"tokens"},'
    '"reasoning_token_count":{"value":16,"unit":"tokens"}},"error":null}\n'
    '{"metadata":{"x_request_id":"r-2","request_start_ns":1700000002000000000,"was_cancelled":true},'
    '"metrics":{"error_isl":{"value":300,"unit":"tokens"}},'
    '"error":{"code":499,"type":"RequestCancellationError","message":"cancelled"}}\n'
)
AZURE_2024 = (
    "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    "2024-05-10 00:00:00.009930+00:00,374,44\n"
    "2024-05-10 00:00:00+00:00,396,109\n"
)
AZURE_2023 = (
    "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
    "2023-11-16 18:15:46.6805900,4808,10\r\n"
    "2023-11-16 18:15:50.9951690,3180,8"
)
BURSTGPT = (
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
    "5,ChatGPT,472,18,490,Conversation log\n"
    "45.5,GPT-4,1087,0,1087,API log\n"
)
MOONCAKE = (
    '{"timestamp": 0, "input_length": 1000, "output_length": 10, "hash_ids": [0, 1]}\n'
    '{"timestamp": 1500, "input_length": 600, "output_length": 5, "hash_ids": [0, 2]}\n'
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, newline="")
    return path


def _read(path: Path, fmt: str) -> pl.DataFrame:
    trace = read_trace(path)
    assert trace.formats == {str(path): fmt}
    assert trace.rows_rejected == 0, trace.rejected
    frame = trace.frame.collect()
    assert frame.select(list(CANONICAL_SCHEMA)).schema == pl.Schema(CANONICAL_SCHEMA)
    assert (frame["source_format"] == fmt).all()
    assert frame["source_file"].to_list() == [str(path)] * frame.height
    return frame


def _col(frame: pl.DataFrame, name: str) -> list[object]:
    return frame[name].to_list()


def test_registry_names() -> None:
    assert set(FORMATS) == {
        "canonical",
        "openai",
        "openai-batch",
        "anthropic",
        "anthropic-batch",
        "otel",
        "litellm",
        "aiperf",
        "azure",
        "burstgpt",
        "mooncake",
        "bedrock",
        "gemini",
        "langfuse",
        "helicone",
        "openrouter",
        "guidellm",
        "servegen",
    }


def test_openai_objects(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "chat.jsonl", CHAT), "openai")
    assert _col(frame, "request_id") == ["chatcmpl-1", "resp_1"]
    assert _col(frame, "arrival_ts") == [T0, datetime(2023, 11, 14, 22, 13, 30, tzinfo=UTC)]
    assert _col(frame, "input_tokens") == [100, 50]
    assert _col(frame, "cached_input_tokens") == [64, 0]
    assert _col(frame, "cache_write_tokens") == [None, 7]
    assert _col(frame, "output_tokens") == [20, 30]
    assert _col(frame, "reasoning_tokens") == [5, 10]
    assert _col(frame, "endpoint") == ["chat", "responses"]
    assert _col(frame, "status") == ["ok", "error"]
    assert _col(frame, "ttft_s") == [None, None]
    assert _col(frame, "finish_reason") == ["stop", None]


def test_openai_batch(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "out.jsonl", OPENAI_BATCH), "openai-batch")
    assert _col(frame, "request_id") == ["req-1", "req-2"]
    assert _col(frame, "status") == ["ok", "error"]
    assert _col(frame, "input_tokens") == [10, None]
    assert _col(frame, "output_tokens") == [3, None]
    assert _col(frame, "is_streaming") == [False, False]
    assert _col(frame, "arrival_ts") == [None, None]  # body.created is completion time
    assert _col(frame, "http_status") == [200, None]


def test_anthropic_adds_cache_reads_and_writes(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "msgs.jsonl", ANTHROPIC), "anthropic")
    assert _col(frame, "input_tokens") == [100 + 20 + 5]
    assert _col(frame, "cached_input_tokens") == [20]
    assert _col(frame, "cache_write_tokens") == [5]
    assert _col(frame, "output_tokens") == [40]
    assert _col(frame, "reasoning_tokens") == [12]
    assert _col(frame, "endpoint") == ["messages"]
    assert _col(frame, "arrival_ts") == [None]


def test_anthropic_batch_statuses(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "results.jsonl", ANTHROPIC_BATCH), "anthropic-batch")
    assert _col(frame, "request_id") == ["a", "b", "c", "d"]
    assert _col(frame, "status") == ["ok", "error", "cancelled", "timeout"]
    assert _col(frame, "input_tokens") == [10, None, None, None]
    assert _col(frame, "cached_input_tokens") == [3, None, None, None]


def test_otel_spans_current_and_deprecated_names(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "spans.jsonl", OTEL), "otel")
    assert _col(frame, "request_id") == ["chatcmpl-9", "cmpl-7"]  # HTTP span skipped
    assert _col(frame, "source_row") == [1, 3]
    assert _col(frame, "arrival_ts") == [T0, datetime(2023, 11, 14, 22, 13, 21, tzinfo=UTC)]
    assert _col(frame, "input_tokens") == [100, 64]
    assert _col(frame, "cached_input_tokens") == [30, None]
    assert _col(frame, "output_tokens") == [20, 8]
    assert _col(frame, "reasoning_tokens") == [4, None]
    assert _col(frame, "ttft_s") == [0.5, 0.25]
    assert _col(frame, "e2e_latency_s") == [2.5, 3.0]
    assert _col(frame, "is_streaming") == [True, None]
    assert _col(frame, "session_id") == ["conv-1", None]
    assert _col(frame, "tenant_id") == ["tenant-1", None]
    assert _col(frame, "status") == ["ok", "error"]
    assert _col(frame, "queue_time_s") == [None, 0.125]
    assert _col(frame, "model") == ["gpt-4o", None]


def test_litellm_spendlogs_csv(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "spend.csv", LITELLM), "litellm")
    assert _col(frame, "request_id") == ["r1", "r2"]
    assert _col(frame, "arrival_ts") == [
        datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC),
        datetime(2024, 5, 10, 12, 0, 1, tzinfo=UTC),
    ]
    assert _col(frame, "cached_input_tokens") == [40, None]
    assert _col(frame, "reasoning_tokens") == [2, None]
    assert _col(frame, "ttft_s") == [0.4, None]  # only for streamed calls
    assert _col(frame, "e2e_latency_s") == [2.5, 0.2]
    assert _col(frame, "is_streaming") == [True, None]
    assert _col(frame, "tenant_id") == ["hash1", "hash2"]
    assert _col(frame, "endpoint") == ["chat", "embeddings"]
    assert _col(frame, "status") == ["ok", "error"]


def test_aiperf_units_and_cancellation(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "profile_export.jsonl", AIPERF), "aiperf")
    assert _col(frame, "request_id") == ["r-1", "r-2"]
    assert _col(frame, "ttft_s") == [pytest.approx(0.1205), None]
    assert _col(frame, "e2e_latency_s") == [1.0, None]
    assert _col(frame, "input_tokens") == [550, 300]
    assert _col(frame, "output_tokens") == [64, None]
    assert _col(frame, "reasoning_tokens") == [16, None]
    assert _col(frame, "session_id") == ["c-1", None]
    assert _col(frame, "status") == ["ok", "cancelled"]
    assert _col(frame, "arrival_ts")[0] == T0


def test_azure_2024_mixed_precision(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "AzureLLMInferenceTrace_conv_1week.csv", AZURE_2024), "azure")
    assert _col(frame, "arrival_ts") == [
        datetime(2024, 5, 10, 0, 0, 0, 9930, tzinfo=UTC),
        datetime(2024, 5, 10, 0, 0, 0, tzinfo=UTC),
    ]
    assert _col(frame, "source_split") == ["conv", "conv"]
    assert _col(frame, "request_id") == [
        "AzureLLMInferenceTrace_conv_1week.csv:1",
        "AzureLLMInferenceTrace_conv_1week.csv:2",
    ]
    assert _col(frame, "time_base") == ["absolute", "absolute"]


def test_azure_2023_crlf_seven_digits_no_final_newline(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "AzureLLMInferenceTrace_code.csv", AZURE_2023), "azure")
    assert _col(frame, "arrival_ts") == [
        datetime(2023, 11, 16, 18, 15, 46, 680590, tzinfo=UTC),
        datetime(2023, 11, 16, 18, 15, 50, 995169, tzinfo=UTC),
    ]
    assert _col(frame, "input_tokens") == [4808, 3180]
    assert _col(frame, "output_tokens") == [10, 8]
    assert _col(frame, "source_split") == ["code", "code"]


def test_burstgpt_zero_response_is_failed_not_rejected(tmp_path: Path) -> None:
    frame = _read(_write(tmp_path, "BurstGPT_1.csv", BURSTGPT), "burstgpt")
    assert _col(frame, "status") == ["ok", "error"]
    assert _col(frame, "time_base") == ["relative", "relative"]
    assert _col(frame, "arrival_ts") == [
        datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 45, 500000, tzinfo=UTC),
    ]
    assert _col(frame, "model") == ["ChatGPT", "GPT-4"]
    assert _col(frame, "endpoint") == ["conversation", "api"]


def test_mooncake_gzip(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl.gz"
    path.write_bytes(gzip.compress(MOONCAKE.encode()))
    frame = _read(path, "mooncake")
    assert _col(frame, "arrival_ts") == [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC),
    ]
    assert _col(frame, "prefix_hash_blocks") == [[0, 1], [0, 2]]
    assert _col(frame, "prefix_block_tokens") == [512, 512]
    assert _col(frame, "model") == [None, None]
    assert _col(frame, "cached_input_tokens") == [None, None]


def test_canonical_minimal_csv_synthesises_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, "tiny.csv", "input_tokens,output_tokens\n10,2\n20,4\n")
    frame = _read(path, "canonical")
    assert _col(frame, "request_id") == ["tiny.csv:1", "tiny.csv:2"]
    assert _col(frame, "source_row") == [1, 2]
    assert _col(frame, "status") == ["ok", "ok"]
    assert _col(frame, "arrival_ts") == [None, None]
    assert _col(frame, "time_base") == [None, None]


def test_forced_format_and_mixed_inputs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    _write(tmp_path / "a", "BurstGPT_1.csv", BURSTGPT)
    _write(tmp_path / "a", "m.jsonl", MOONCAKE)
    trace = read_trace(tmp_path / "a")
    assert sorted(trace.formats.values()) == ["burstgpt", "mooncake"]
    assert trace.rows_read == 4
    forced = scan_trace(tmp_path / "a" / "m.jsonl", format="mooncake").collect()
    assert forced.height == 2


def test_hive_partitioned_parquet(tmp_path: Path) -> None:
    for day, tokens in (("2024-05-10", 1), ("2024-05-11", 2)):
        folder = tmp_path / "t" / f"day={day}"
        folder.mkdir(parents=True)
        pl.DataFrame({"input_tokens": [tokens], "output_tokens": [tokens]}).write_parquet(
            folder / "p.parquet"
        )
    frame = scan_trace(tmp_path / "t").collect().sort("input_tokens")
    assert _col(frame, "day") == ["2024-05-10", "2024-05-11"]
    assert _col(frame, "input_tokens") == [1, 2]
