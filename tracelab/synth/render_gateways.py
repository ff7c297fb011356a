"""Renderers for gateway and observability logs: OpenTelemetry GenAI spans (OTLP/JSON) and
the LiteLLM proxy's spend log (see ``tracelab.synth.render``'s docstring for the rules)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.synth.rows import ERRORS as _ERRORS
from tracelab.synth.rows import dumps as _dumps
from tracelab.synth.rows import hash_hex as _hash_hex
from tracelab.synth.rows import ns as _ns
from tracelab.synth.rows import write_lines as _write_lines

# OpenTelemetry span kind CLIENT and status codes (opentelemetry-proto trace.proto).
_SPAN_KIND_CLIENT = 3
_STATUS_OK, _STATUS_ERROR = 1, 2


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
