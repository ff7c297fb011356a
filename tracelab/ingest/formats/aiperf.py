"""``aiperf``: NVIDIA AIPerf ``profile_export.jsonl`` (one benchmark request per line).

``{"metadata": {x_request_id, x_correlation_id, conversation_id, turn_index,
request_start_ns, was_cancelled, ...}, "metrics": {tag: {value, unit}}, "error": null|{...}}``.
Metric values are in the record's display ``unit`` (ms for times), converted here to
seconds by that unit. ``output_sequence_length`` includes reasoning tokens; failed requests
carry ``error_isl`` instead of ``input_sequence_length``. status: no error → ok,
``was_cancelled`` or a cancellation error → cancelled, a timeout error → timeout, else error.
Source: shared/reference/formats.md §3.10 (AIPerf docs, working-with-profile-exports).
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import RAW_PREFIX, Adapter, RawSource, Sample, epoch_ts, number
from tracelab.lookup import lookup

SECONDS_PER_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0}


def detect(sample: Sample) -> bool:
    first = sample.first()
    meta = first.get("metadata")
    return (
        "metrics" in first
        and isinstance(meta, dict)
        and ("x_request_id" in meta or "request_start_ns" in meta)
    )


def _seconds(source: RawSource, tag: str) -> tuple[pl.Expr, pl.Expr]:
    """(seconds, raw text) of a time metric, converted by its ``unit``."""
    value = source.field(f"metrics.{tag}.value")
    unit = source.field(f"metrics.{tag}.unit").cast(pl.String).str.strip_chars()
    factor = lookup(unit, SECONDS_PER_UNIT.items(), pl.Float64)
    return number(value) * factor, value.cast(pl.String) + pl.lit(" ") + unit.fill_null("?")


def to_canonical(source: RawSource) -> pl.LazyFrame:
    start = source.field("metadata.request_start_ns")
    ttft, ttft_raw = _seconds(source, "time_to_first_token")
    e2e, e2e_raw = _seconds(source, "request_latency")
    error = source.field("error")
    error_type = source.field("error.type").cast(pl.String)
    cancelled = source.field("metadata.was_cancelled").cast(pl.String).str.to_lowercase() == "true"
    status = (
        pl.when(error.is_null() & ~cancelled.fill_null(False))
        .then(pl.lit("ok"))
        .when(cancelled.fill_null(False) | error_type.str.contains("(?i)cancel").fill_null(False))
        .then(pl.lit("cancelled"))
        .when(error_type.str.contains("(?i)timeout").fill_null(False))
        .then(pl.lit("timeout"))
        .otherwise(pl.lit("error"))
    )
    return source.frame.select(
        "source_row",
        source.field("metadata.x_request_id").alias("request_id"),
        epoch_ts(start, "ns").alias("arrival_ts"),
        start.alias(f"{RAW_PREFIX}arrival_ts"),
        pl.when(start.is_not_null()).then(pl.lit("absolute")).alias("time_base"),
        source.fields("metrics.input_sequence_length.value", "metrics.error_isl.value").alias(
            "input_tokens"
        ),
        source.fields("metrics.output_sequence_length.value").alias("output_tokens"),
        source.field("metrics.reasoning_token_count.value").alias("reasoning_tokens"),
        ttft.alias("ttft_s"),
        ttft_raw.alias(f"{RAW_PREFIX}ttft_s"),
        e2e.alias("e2e_latency_s"),
        e2e_raw.alias(f"{RAW_PREFIX}e2e_latency_s"),
        source.fields("metadata.x_correlation_id", "metadata.conversation_id").alias("session_id"),
        status.alias("status"),
        number(source.field("metadata.turn_index")).cast(pl.Int64).alias("turn_index"),
        source.field("metadata.benchmark_phase").alias("benchmark_phase"),
        error_type.alias("error_type"),
    )


ADAPTER = Adapter(
    name="aiperf",
    description="NVIDIA AIPerf profile_export.jsonl (metrics converted by their unit)",
    detect=detect,
    to_canonical=to_canonical,
)
