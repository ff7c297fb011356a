"""Render a canonical frame in the layouts other tools write, per ``shared/reference/formats.md``.

One function per format, each writing exactly the fields that tool writes (no prompt or
response text, as tracelab never keeps it). What each format cannot say is dropped:
formats without a status (OpenAI and Anthropic response objects, Azure, Mooncake) only
hold the completed (``ok``) requests, because those logs only ever see completed ones;
BurstGPT writes a failed request as ``Response tokens = 0``, as its authors do.
JSON layouts are compact (no spaces), as SDK ``model_dump_json`` and OTLP exporters write.
The JSON renderers build one dict per row: they are for small samples, not 100M-row files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.errors import ConfigError

# OpenTelemetry span kind CLIENT and status codes (opentelemetry-proto trace.proto).
_SPAN_KIND_CLIENT = 3
_STATUS_OK, _STATUS_ERROR = 1, 2
# HTTP-ish error codes for failed requests, as a gateway reports them.
_ERRORS = {
    "error": (500, "InternalServerError", "synthetic server error"),
    "cancelled": (499, "RequestCancellationError", "Request was cancelled"),
    "timeout": (504, "TimeoutError", "Request timed out"),
}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _write_lines(path: Path, lines: Iterable[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line + "\n")
            count += 1
    return count


def _ok(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("status") == "ok")


def _unix_s(frame: pl.DataFrame) -> pl.Series:
    return frame["arrival_ts"].dt.epoch("s")


def _ns(frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    start = frame["arrival_ts"].dt.epoch("ns")
    end = start + (frame["e2e_latency_s"].fill_null(0.0) * 1e9).round().cast(pl.Int64)
    return start, end


def _hash_hex(text: str, chars: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:chars]


def render_openai(frame: pl.DataFrame, path: Path) -> int:
    """ChatCompletion objects (``text_completion`` objects for that endpoint), one per line."""
    rows = _ok(frame)
    created = _unix_s(rows).to_list()

    def line(row: dict[str, Any], when: int) -> str:
        usage: dict[str, Any] = {
            "prompt_tokens": row["input_tokens"],
            "completion_tokens": row["output_tokens"],
            "total_tokens": row["input_tokens"] + row["output_tokens"],
        }
        if row["cached_input_tokens"] is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": row["cached_input_tokens"]}
        if row["reasoning_tokens"] is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": row["reasoning_tokens"]}
        text = row["endpoint"] == "text_completion"
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
        choice.update({"text": ""} if text else {"message": {"role": "assistant", "content": ""}})
        return _dumps(
            {
                "id": f"{'cmpl' if text else 'chatcmpl'}-{row['request_id']}",
                "object": "text_completion" if text else "chat.completion",
                "created": when,
                "model": row["model"],
                "choices": [choice],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": None,
            }
        )

    return _write_lines(
        path, (line(r, t) for r, t in zip(rows.iter_rows(named=True), created, strict=True))
    )


def render_anthropic(frame: pl.DataFrame, path: Path) -> int:
    """Anthropic Message objects; ``usage.input_tokens`` excludes cache reads and writes."""
    rows = _ok(frame)

    def line(row: dict[str, Any]) -> str:
        read = row["cached_input_tokens"] or 0
        write = row["cache_write_tokens"] or 0
        usage: dict[str, Any] = {
            "input_tokens": row["input_tokens"] - read - write,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": read,
            "output_tokens": row["output_tokens"],
            "service_tier": "batch" if row["endpoint"] == "batch" else "standard",
        }
        if row["reasoning_tokens"] is not None:
            usage["output_tokens_details"] = {"thinking_tokens": row["reasoning_tokens"]}
        return _dumps(
            {
                "id": f"msg_{row['request_id']}",
                "type": "message",
                "role": "assistant",
                "model": row["model"],
                "content": [{"type": "text", "text": ""}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": usage,
            }
        )

    return _write_lines(path, (line(r) for r in rows.iter_rows(named=True)))


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def render_otel(frame: pl.DataFrame, path: Path) -> int:
    """One OTLP/JSON ``ExportTraceServiceRequest`` (collector file exporter), one CLIENT span per request."""
    start, end = _ns(frame)
    spans = []
    for row, t0, t1 in zip(
        frame.iter_rows(named=True), start.to_list(), end.to_list(), strict=True
    ):
        attrs = {
            "gen_ai.operation.name": row["endpoint"],
            "gen_ai.request.model": row["model"],
            "gen_ai.response.model": row["model"],
            "gen_ai.response.id": row["request_id"],
            "gen_ai.request.stream": row["is_streaming"],
            "gen_ai.usage.input_tokens": row["input_tokens"],
            "gen_ai.usage.cache_read.input_tokens": row["cached_input_tokens"],
            "gen_ai.usage.cache_creation.input_tokens": row["cache_write_tokens"],
            "gen_ai.usage.output_tokens": row["output_tokens"],
            "gen_ai.usage.reasoning.output_tokens": row["reasoning_tokens"],
            "gen_ai.response.time_to_first_chunk": None
            if row["ttft_s"] is None
            else round(row["ttft_s"], 6),
            "gen_ai.conversation.id": row["session_id"],
            "user.id": row["tenant_id"],
        }
        status: dict[str, Any] = {"code": _STATUS_OK}
        if row["status"] != "ok":
            attrs["error.type"] = row["status"]
            status = {"code": _STATUS_ERROR, "message": _ERRORS[row["status"]][2]}
        spans.append(
            {
                "traceId": _hash_hex("trace:" + row["request_id"], 32),
                "spanId": _hash_hex("span:" + row["request_id"], 16),
                "name": f"{row['endpoint']} {row['model']}",
                "kind": _SPAN_KIND_CLIENT,
                "startTimeUnixNano": str(t0),
                "endTimeUnixNano": str(t1),
                "attributes": [_attr(k, v) for k, v in attrs.items() if v is not None],
                "status": status,
            }
        )
    resource = {"attributes": [_attr("service.name", "tracelab-synth")]}
    scope = {"name": "tracelab.synth", "version": "0.1.0"}
    payload = {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": scope, "spans": spans}]}]
    }
    _write_lines(path, [_dumps(payload)])
    return len(spans)


_LITELLM_CALL_TYPES = {
    "chat": "acompletion",
    "text_completion": "atext_completion",
    "batch": "acompletion",
}


def render_litellm(frame: pl.DataFrame, path: Path) -> int:
    """LiteLLM ``LiteLLM_SpendLogs`` as a CSV export (Postgres ``timestamp(3)`` text, UTC).

    ``spend`` is 0.0: self-hosted models have no price in LiteLLM's cost map. Prompts and
    responses are not stored (``{}``), as with ``store_prompts_in_spend_logs`` off.
    """

    def metadata(row: dict[str, Any]) -> str:
        usage: dict[str, Any] = {
            "prompt_tokens": row["input_tokens"],
            "completion_tokens": row["output_tokens"],
            "total_tokens": row["input_tokens"] + (row["output_tokens"] or 0),
        }
        if row["cached_input_tokens"] is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": row["cached_input_tokens"]}
        if row["reasoning_tokens"] is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": row["reasoning_tokens"]}
        meta: dict[str, Any] = {"user_api_key_alias": row["tenant_id"], "usage_object": usage}
        if row["status"] != "ok":
            code, kind, message = _ERRORS[row["status"]]
            meta["error_information"] = {
                "error_code": str(code),
                "error_class": kind,
                "error_message": message,
            }
        return _dumps(meta)

    def stamp(expr: pl.Expr) -> pl.Expr:
        return expr.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.3f")

    meta = pl.Series([metadata(r) for r in frame.iter_rows(named=True)], dtype=pl.String)
    duration = pl.duration(microseconds=(pl.col("e2e_latency_s").fill_null(0.0) * 1e6).round())
    first_chunk = pl.duration(microseconds=(pl.col("ttft_s") * 1e6).round())
    out = frame.with_columns(metadata=meta).select(
        "request_id",
        pl.col("endpoint")
        .replace_strict(_LITELLM_CALL_TYPES, default="acompletion")
        .alias("call_type"),
        pl.col("tenant_id")
        .map_elements(lambda t: hashlib.sha256(t.encode()).hexdigest(), pl.String)
        .alias("api_key"),
        pl.lit(0.0).alias("spend"),
        (pl.col("input_tokens") + pl.col("output_tokens").fill_null(0)).alias("total_tokens"),
        pl.col("input_tokens").alias("prompt_tokens"),
        pl.col("output_tokens").alias("completion_tokens"),
        stamp(pl.col("arrival_ts")).alias("startTime"),
        stamp(pl.col("arrival_ts") + duration).alias("endTime"),
        (pl.col("e2e_latency_s") * 1000).round().cast(pl.Int64).alias("request_duration_ms"),
        stamp(
            pl.when(pl.col("is_streaming") & pl.col("ttft_s").is_not_null())
            .then(pl.col("arrival_ts") + first_chunk)
            .otherwise(pl.col("arrival_ts") + duration)
        ).alias("completionStartTime"),
        "model",
        pl.lit("").alias("model_id"),
        pl.col("model").alias("model_group"),
        pl.lit("hosted_vllm").alias("custom_llm_provider"),
        pl.lit("http://vllm:8000/v1").alias("api_base"),
        pl.lit("").alias("user"),
        "metadata",
        pl.lit("False").alias("cache_hit"),
        pl.lit("Cache OFF").alias("cache_key"),
        pl.lit("[]").alias("request_tags"),
        pl.col("tenant_id").alias("team_id"),
        pl.lit("").alias("organization_id"),
        pl.lit("").alias("end_user"),
        pl.lit("").alias("requester_ip_address"),
        pl.lit("{}").alias("messages"),
        pl.lit("{}").alias("response"),
        pl.col("session_id"),
        pl.when(pl.col("status") == "ok")
        .then(pl.lit("success"))
        .otherwise(pl.lit("failure"))
        .alias("status"),
        (
            pl.lit('{"stream": ')
            + pl.col("is_streaming").cast(pl.String).str.to_lowercase()
            + pl.lit("}")
        ).alias("proxy_server_request"),
    )
    out.write_csv(path)
    return out.height


def render_aiperf(frame: pl.DataFrame, path: Path) -> int:
    """NVIDIA AIPerf ``profile_export.jsonl`` records (times in ms, as the record's unit says)."""
    start, end = _ns(frame)
    turns = frame.select(pl.int_range(pl.len()).over("session_id").alias("turn"))["turn"].to_list()

    def metric(value: Any, unit: str) -> dict[str, Any]:
        return {"value": round(value, 3) if isinstance(value, float) else value, "unit": unit}

    def line(index: int, row: dict[str, Any], t0: int, t1: int, turn: int) -> str:
        session = row["session_id"]
        cancelled = row["status"] == "cancelled"
        metrics: dict[str, Any] = {"request_latency": metric(row["e2e_latency_s"] * 1000, "ms")}
        error = None
        if row["status"] == "ok":
            out, reasoning = row["output_tokens"], row["reasoning_tokens"] or 0
            metrics["input_sequence_length"] = metric(row["input_tokens"], "tokens")
            metrics["output_sequence_length"] = metric(out, "tokens")
            metrics["output_token_count"] = metric(out - reasoning, "tokens")
            if row["reasoning_tokens"] is not None:
                metrics["reasoning_token_count"] = metric(reasoning, "tokens")
            if row["ttft_s"] is not None:
                metrics["time_to_first_token"] = metric(row["ttft_s"] * 1000, "ms")
                if out > 1:
                    itl = (row["e2e_latency_s"] - row["ttft_s"]) / (out - 1)
                    metrics["inter_token_latency"] = metric(itl * 1000, "ms")
                    metrics["output_token_throughput_per_user"] = metric(1 / itl, "tokens/sec/user")
        else:
            code, kind, message = _ERRORS[row["status"]]
            metrics["error_isl"] = metric(row["input_tokens"], "tokens")
            error = {"code": code, "type": kind, "message": message}
        meta = {
            "session_num": index,
            "x_request_id": row["request_id"],
            "x_correlation_id": session,
            "conversation_id": session,
            "turn_index": turn if session is not None else 0,
            "request_start_ns": t0,
            "request_ack_ns": t0 + 1_000_000,
            "request_end_ns": t1,
            "worker_id": f"worker_{index % 4}",
            "record_processor_id": "record_processor_0",
            "benchmark_phase": "profiling",
            "was_cancelled": cancelled,
            "cancellation_time_ns": t1 if cancelled else None,
        }
        return _dumps({"metadata": meta, "metrics": metrics, "error": error})

    rows = zip(frame.iter_rows(named=True), start.to_list(), end.to_list(), turns, strict=True)
    return _write_lines(path, (line(i, r, a, b, t) for i, (r, a, b, t) in enumerate(rows)))


def render_azure(frame: pl.DataFrame, path: Path) -> int:
    """Azure LLM inference trace 2023: ``TIMESTAMP`` naive UTC with 7 fractional digits, CRLF, no final newline."""
    rows = _ok(frame).select(
        (pl.col("arrival_ts").dt.strftime("%Y-%m-%d %H:%M:%S%.6f") + "0").alias("TIMESTAMP"),
        pl.col("input_tokens").alias("ContextTokens"),
        pl.col("output_tokens").alias("GeneratedTokens"),
    )
    body = rows.write_csv(line_terminator="\r\n").removesuffix("\r\n")
    path.write_bytes(body.encode())
    return rows.height


def render_burstgpt(frame: pl.DataFrame, path: Path) -> int:
    """BurstGPT CSV: integer seconds since 0:00 of the first day; a failure has 0 response tokens."""
    midnight = pl.col("arrival_ts").min().dt.truncate("1d")
    out = frame.select(
        ((pl.col("arrival_ts") - midnight).dt.total_seconds()).alias("Timestamp"),
        pl.col("model").alias("Model"),
        pl.col("input_tokens").alias("Request tokens"),
        pl.when(pl.col("status") == "ok")
        .then(pl.col("output_tokens"))
        .otherwise(0)
        .alias("Response tokens"),
    ).with_columns(
        (pl.col("Request tokens") + pl.col("Response tokens")).alias("Total tokens"),
        pl.when(frame["session_id"].is_not_null())
        .then(pl.lit("Conversation log"))
        .otherwise(pl.lit("API log"))
        .alias("Log Type"),
    )
    out.write_csv(path)
    return out.height


def render_mooncake(frame: pl.DataFrame, path: Path) -> int:
    """Mooncake JSONL: ms since the first request, lengths and ``hash_ids`` (512-token blocks)."""
    rows = _ok(frame)
    first = rows["arrival_ts"].min()
    out = rows.select(
        ((pl.col("arrival_ts") - pl.lit(first)).dt.total_milliseconds()).alias("timestamp"),
        pl.col("input_tokens").alias("input_length"),
        pl.col("output_tokens").alias("output_length"),
        pl.col("prefix_hash_blocks")
        .fill_null(pl.lit([], pl.List(pl.UInt64)))
        .cast(pl.List(pl.Int64))
        .alias("hash_ids"),
    )
    return _write_lines(path, (_dumps(r) for r in out.iter_rows(named=True)))


def render_canonical(frame: pl.DataFrame, path: Path) -> int:
    """The canonical frame itself: Parquet, or JSON lines when the path ends in ``.jsonl``.

    ``source_file`` and ``source_row`` say where ingest read a row; a generated row was
    read from nowhere, so when they are all null they are left out (ingest fills them).
    """
    provenance = [c for c in ("source_file", "source_row") if c in frame.columns]
    frame = frame.drop([c for c in provenance if frame[c].null_count() == frame.height])
    if path.suffix == ".jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path, compression="zstd", statistics=False)
    return frame.height


RENDERERS: dict[str, Callable[[pl.DataFrame, Path], int]] = {
    "canonical": render_canonical,
    "openai": render_openai,
    "anthropic": render_anthropic,
    "otel": render_otel,
    "litellm": render_litellm,
    "aiperf": render_aiperf,
    "azure": render_azure,
    "burstgpt": render_burstgpt,
    "mooncake": render_mooncake,
}


def render_trace(frame: pl.DataFrame, format: str, path: str | Path) -> int:
    """Write ``frame`` (canonical schema) to ``path`` in ``format``; return the rows written."""
    if format not in RENDERERS:
        msg = f"unknown format {format!r} for synth; choose one of {', '.join(RENDERERS)}"
        raise ConfigError(msg)
    return RENDERERS[format](frame, Path(path))
