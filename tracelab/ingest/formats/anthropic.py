"""``anthropic`` and ``anthropic-batch``: Anthropic Messages responses and batch results.

Anthropic's ``usage.input_tokens`` EXCLUDES cache reads and cache writes, so
``input_tokens = input_tokens + cache_read_input_tokens + cache_creation_input_tokens``
(OTel semantic-conventions v1.41.0 ``docs/gen-ai/anthropic.md``); cached = cache reads,
cache writes = ``cache_creation_input_tokens``, reasoning =
``usage.output_tokens_details.thinking_tokens``. A Message has no arrival time (null).

``anthropic-batch``: Message Batches results ``{custom_id, result: {type, message?,
error?}}``; ``type`` succeeded/errored/canceled/expired → ok/error/cancelled/timeout.
Source: shared/reference/formats.md §3.3 (anthropic-sdk-python, 2026-08).
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import RAW_PREFIX, Adapter, RawSource, Sample, number

BATCH_STATUS = {
    "succeeded": "ok",
    "errored": "error",
    "canceled": "cancelled",
    "expired": "timeout",
}


def message_columns(source: RawSource, at: str) -> list[pl.Expr]:
    """Canonical columns from a Message object at JSON path ``at`` ('' = root)."""
    prefix = f"{at}." if at else ""
    usage = f"{prefix}usage"
    base_input = source.field(f"{usage}.input_tokens")
    reads = source.field(f"{usage}.cache_read_input_tokens")
    writes = source.field(f"{usage}.cache_creation_input_tokens")
    total = number(base_input) + number(reads).fill_null(0) + number(writes).fill_null(0)
    return [
        pl.when(base_input.is_not_null()).then(total).alias("input_tokens"),
        base_input.alias(f"{RAW_PREFIX}input_tokens"),
        reads.alias("cached_input_tokens"),
        writes.alias("cache_write_tokens"),
        source.field(f"{usage}.output_tokens").alias("output_tokens"),
        source.field(f"{usage}.output_tokens_details.thinking_tokens").alias("reasoning_tokens"),
        source.field(f"{prefix}model").alias("model"),
        pl.lit("messages").alias("endpoint"),
        source.field(f"{prefix}stop_reason").alias("finish_reason"),
        source.field(f"{usage}.service_tier").alias("service_tier"),
    ]


def detect(sample: Sample) -> bool:
    first = sample.first()
    return first.get("type") == "message" and "usage" in first


def to_canonical(source: RawSource) -> pl.LazyFrame:
    kind = source.field("type")
    return source.frame.select(
        "source_row",
        source.field("id").alias("request_id"),
        *message_columns(source, ""),
        pl.when(kind == "error").then(pl.lit("error")).otherwise(pl.lit("ok")).alias("status"),
        source.field("error.type").alias("error_type"),
    )


def detect_batch(sample: Sample) -> bool:
    return sample.has("custom_id", "result")


def to_canonical_batch(source: RawSource) -> pl.LazyFrame:
    kind = source.field("result.type").cast(pl.String).str.to_lowercase()
    return source.frame.select(
        "source_row",
        source.field("custom_id").alias("request_id"),
        *message_columns(source, "result.message"),
        kind.replace(BATCH_STATUS).alias("status"),
        source.field("result.error.error.type").alias("error_type"),
    )


ADAPTER = Adapter(
    name="anthropic",
    description="Anthropic Messages responses, one per JSONL line (input = input + cache reads + writes)",
    detect=detect,
    to_canonical=to_canonical,
)
BATCH_ADAPTER = Adapter(
    name="anthropic-batch",
    description="Anthropic Message Batches results JSONL ({custom_id, result: {type, message}})",
    detect=detect_batch,
    to_canonical=to_canonical_batch,
)
