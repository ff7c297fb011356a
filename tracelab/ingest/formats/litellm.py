"""``litellm``: LiteLLM proxy ``LiteLLM_SpendLogs`` exports (CSV, JSONL or Parquet).

``prompt_tokens``/``completion_tokens`` follow OpenAI semantics (cached included). Cached
and reasoning tokens come from ``metadata.usage_object`` (OpenAI-style details, or
Anthropic ``cache_read_input_tokens``/``cache_creation_input_tokens``); ``metadata`` is a
JSON object in JSONL and JSON text in CSV/Parquet. arrival = ``startTime`` (naive = UTC);
e2e = ``endTime - startTime`` (else ``request_duration_ms``/1000); ttft =
``completionStartTime - startTime`` only for streamed calls (``proxy_server_request.stream``),
since LiteLLM sets completionStartTime ≈ endTime otherwise. tenant = ``api_key`` (already a
hash), else team/org/user. Source: shared/reference/formats.md §3.7 (schema.prisma).
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import (
    RAW_PREFIX,
    Adapter,
    RawSource,
    Sample,
    json_field,
    number,
    parse_time,
    seconds_between,
    status_map,
)

ENDPOINTS = {
    "completion": "chat",
    "acompletion": "chat",
    "text_completion": "text_completion",
    "atext_completion": "text_completion",
    "embedding": "embeddings",
    "aembedding": "embeddings",
    "responses": "responses",
    "aresponses": "responses",
    "anthropic_messages": "messages",
}
STATUS = {"success": "ok", "failure": "error"}


def detect(sample: Sample) -> bool:
    return sample.has("request_id", "call_type", "prompt_tokens", "completion_tokens")


def _instant(source: RawSource, name: str) -> pl.Expr:
    """A time column as a UTC instant: parsed from text, or taken as it is when the file
    already holds instants (a Parquet file read from the database; naive = UTC)."""
    dtype = source.frame.collect_schema().get(name) if source.kind == "parquet" else None
    if isinstance(dtype, pl.Datetime):
        column = pl.col(name).dt.cast_time_unit("us")
        if dtype.time_zone is None:
            return column.dt.replace_time_zone("UTC")
        return column.dt.convert_time_zone("UTC")
    return parse_time(source.field(name))


def to_canonical(source: RawSource) -> pl.LazyFrame:
    def meta(*paths: str) -> pl.Expr:
        return pl.coalesce([json_field(source, "metadata", p).cast(pl.String) for p in paths])

    start = _instant(source, "startTime")
    end = _instant(source, "endTime")
    first_token = _instant(source, "completionStartTime")
    stream_text = (
        json_field(source, "proxy_server_request", "stream").cast(pl.String).str.to_lowercase()
    )
    streaming = pl.when(stream_text == "true").then(True).when(stream_text == "false").then(False)
    call_type = source.field("call_type").cast(pl.String)
    return source.frame.select(
        "source_row",
        source.field("request_id").cast(pl.String).alias("request_id"),
        start.alias("arrival_ts"),
        source.field("startTime").cast(pl.String).alias(f"{RAW_PREFIX}arrival_ts"),
        pl.when(source.field("startTime").is_not_null())
        .then(pl.lit("absolute"))
        .alias("time_base"),
        source.fields("model", "model_group").alias("model"),
        source.field("prompt_tokens").alias("input_tokens"),
        meta(
            "usage_object.prompt_tokens_details.cached_tokens",
            "usage_object.cache_read_input_tokens",
            "additional_usage_values.prompt_tokens_details.cached_tokens",
        ).alias("cached_input_tokens"),
        meta("usage_object.cache_creation_input_tokens").alias("cache_write_tokens"),
        source.field("completion_tokens").alias("output_tokens"),
        meta(
            "usage_object.completion_tokens_details.reasoning_tokens",
            "additional_usage_values.completion_tokens_details.reasoning_tokens",
        ).alias("reasoning_tokens"),
        pl.when(streaming).then(seconds_between(start, first_token)).alias("ttft_s"),
        pl.coalesce(
            seconds_between(start, end), number(source.field("request_duration_ms")) / 1000
        ).alias("e2e_latency_s"),
        streaming.alias("is_streaming"),
        source.field("session_id").cast(pl.String).alias("session_id"),
        source.fields("api_key", "team_id", "organization_id", "user", "end_user").alias(
            "tenant_id"
        ),
        call_type.replace(ENDPOINTS)
        .alias("endpoint"),
        pl.when(source.field("status").is_null())
        .then(pl.lit("ok"))
        .otherwise(status_map(source.field("status"), STATUS))
        .alias("status"),
        source.field("model_group").cast(pl.String).alias("model_group"),
        number(source.field("spend")).alias("spend_usd"),
    )


ADAPTER = Adapter(
    name="litellm",
    description="LiteLLM proxy SpendLogs export (CSV/JSONL/Parquet; cached tokens from metadata.usage_object)",
    detect=detect,
    to_canonical=to_canonical,
    required=("request_id", "prompt_tokens", "completion_tokens"),
    hint="SpendLogs exports have request_id, call_type, prompt_tokens and completion_tokens",
)
