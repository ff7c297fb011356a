"""``openai`` and ``openai-batch``: OpenAI API response objects and Batch API output lines.

``openai``: one Chat Completions / Completions / Responses object per line. Usage:
``prompt_tokens`` (cached included) or Responses ``input_tokens``; cached from
``*_tokens_details.cached_tokens``, cache writes from ``*.cache_write_tokens``, reasoning
from ``*_tokens_details.reasoning_tokens``. Arrival = ``created`` / ``created_at`` (unix s).

``openai-batch``: ``{id, custom_id, response: {status_code, request_id, body}, error}``.
request_id = ``custom_id`` (else ``response.request_id``); ok iff ``error`` is null and the
status code is 2xx. ``body.created`` is completion time within the 24 h window, not
arrival, so arrival and latencies stay null; ``is_streaming = false``.
Source: shared/reference/formats.md §3.2 (openai-python, 2026-08).
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import RAW_PREFIX, Adapter, RawSource, Sample, epoch_ts, number
from tracelab.lookup import lookup

_OBJECTS = ("chat.completion", "text_completion", "response", "list")
ENDPOINTS = {
    "chat.completion": "chat",
    "text_completion": "text_completion",
    "response": "responses",
    "list": "embeddings",
}
# Responses API `status`; Chat Completions objects have none (they are complete).
RESPONSE_STATUS = {
    "completed": "ok",
    "incomplete": "ok",
    "failed": "error",
    "cancelled": "cancelled",
}


def usage_columns(source: RawSource, body: str) -> list[pl.Expr]:
    """Canonical token columns from an OpenAI object at JSON path ``body`` ('' = root)."""
    at = f"{body}." if body else ""
    usage = f"{at}usage"
    return [
        source.fields(f"{usage}.prompt_tokens", f"{usage}.input_tokens").alias("input_tokens"),
        source.fields(
            f"{usage}.prompt_tokens_details.cached_tokens",
            f"{usage}.input_tokens_details.cached_tokens",
        ).alias("cached_input_tokens"),
        source.fields(
            f"{usage}.prompt_tokens_details.cache_write_tokens",
            f"{usage}.input_tokens_details.cache_write_tokens",
        ).alias("cache_write_tokens"),
        source.fields(f"{usage}.completion_tokens", f"{usage}.output_tokens").alias(
            "output_tokens"
        ),
        source.fields(
            f"{usage}.completion_tokens_details.reasoning_tokens",
            f"{usage}.output_tokens_details.reasoning_tokens",
        ).alias("reasoning_tokens"),
        source.field(f"{at}model").alias("model"),
        lookup(source.field(f"{at}object"), ENDPOINTS.items(), pl.String).alias("endpoint"),
        source.field(f"{at}choices[0].finish_reason").alias("finish_reason"),
        source.field(f"{at}service_tier").alias("service_tier"),
    ]


def detect(sample: Sample) -> bool:
    first = sample.first()
    return first.get("object") in _OBJECTS and "usage" in first


def to_canonical(source: RawSource) -> pl.LazyFrame:
    created = source.fields("created", "created_at")
    status = source.field("status").cast(pl.String).str.to_lowercase()
    return source.frame.select(
        "source_row",
        source.field("id").alias("request_id"),
        epoch_ts(created, "s").alias("arrival_ts"),
        created.alias(f"{RAW_PREFIX}arrival_ts"),
        pl.when(created.is_not_null()).then(pl.lit("absolute")).alias("time_base"),
        *usage_columns(source, ""),
        pl.when(status.is_null())
        .then(pl.lit("ok"))
        .otherwise(status.replace(RESPONSE_STATUS))
        .alias("status"),
    )


def detect_batch(sample: Sample) -> bool:
    return (
        sample.has("custom_id")
        and ("response" in sample.columns or "error" in sample.columns)
        and "result" not in sample.columns
    )


def to_canonical_batch(source: RawSource) -> pl.LazyFrame:
    code = number(source.field("response.status_code"))
    failed = source.field("error").is_not_null() | ~code.is_between(200, 299).fill_null(False)
    return source.frame.select(
        "source_row",
        source.fields("custom_id", "response.request_id").alias("request_id"),
        *usage_columns(source, "response.body"),
        pl.lit(False).alias("is_streaming"),
        pl.when(failed).then(pl.lit("error")).otherwise(pl.lit("ok")).alias("status"),
        code.cast(pl.Int64).alias("http_status"),
        source.field("error.code").alias("error_type"),
    )


ADAPTER = Adapter(
    name="openai",
    description="OpenAI Chat Completions / Responses objects, one per JSONL line",
    detect=detect,
    to_canonical=to_canonical,
)
BATCH_ADAPTER = Adapter(
    name="openai-batch",
    description="OpenAI Batch API output JSONL ({custom_id, response: {status_code, body}, error})",
    detect=detect_batch,
    to_canonical=to_canonical_batch,
)
