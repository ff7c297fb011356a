"""``langfuse``: Langfuse observation exports (public API JSON, one per line; the UI's CSV).

Observation fields (Langfuse ``ObservationSchema``, packages/shared/src/domain/
observations.ts; the CSV export writes these keys as its header, objects as JSON text,
packages/shared/src/server/utils/transforms/transformStreamToCsv.ts): ``id``, ``traceId``,
``type``, ``startTime``, ``endTime``, ``completionStartTime``, ``model``, ``usageDetails``
(map of usage type → count), ``level`` (``ERROR`` = failed), ``statusMessage``, and on
the export ``userId``/``sessionId``. Times are ISO 8601. In JSON files only LLM calls are
rows (``type`` GENERATION or EMBEDDING, or none given); spans, events, tools are skipped,
as OpenTelemetry's non-LLM spans are. A CSV is read row for row (the UI's generations table
holds only generations; any other row has no usage and is rejected).

``usageDetails`` keys are separate buckets that Langfuse sums into "input" wherever the key
contains ``input`` (its docs, "token and cost tracking"): ``input`` is the uncached part,
cache reads come as ``input_cached_tokens``/``input_cache_read``/``cache_read_input_tokens``,
cache writes as ``input_cache_creation``/``cache_creation_input_tokens``. Integrations that
send OpenAI's inclusive ``prompt_tokens`` as ``input`` next to the cached count make that
sum count cached input twice (langfuse/langfuse#10592: input 17,903 + cached 17,817 shown as
35,720). So each row's own ``total`` decides: when ``input + output == total`` the input is
already inclusive and is taken as it is; otherwise input = input + cache reads + writes.
Reasoning: ``output_reasoning_tokens``/``output_reasoning``/``reasoning_tokens`` (⊆ output).
e2e = endTime − startTime, ttft = completionStartTime − startTime. A page of
``GET /api/public/observations`` (``{"data": [...], "meta": {...}}``) is one observation per
line after ``jq -c '.data[]' page.json``; the page object itself is not read.
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import (
    RAW_PREFIX,
    Adapter,
    RawSource,
    Sample,
    arrival_columns,
    json_field,
    number,
    parse_time,
    seconds_between,
)

LLM_TYPES = ("GENERATION", "EMBEDDING")
CACHE_READ = ("input_cached_tokens", "input_cache_read", "cache_read_input_tokens")
CACHE_WRITE = ("input_cache_creation", "cache_creation_input_tokens")
REASONING = ("output_reasoning_tokens", "output_reasoning", "reasoning_tokens")


def detect(sample: Sample) -> bool:
    return sample.has("traceId", "startTime") and (
        sample.has("usageDetails") or sample.has("usage"))


def to_canonical(source: RawSource) -> pl.LazyFrame:
    def usage(*keys: str) -> pl.Expr:
        return pl.coalesce([number(json_field(source, "usageDetails", k)) for k in keys])

    base = json_field(source, "usageDetails", "input")
    legacy_in, legacy_out = source.field("usage.input"), source.field("usage.output")
    reads, writes = usage(*CACHE_READ), usage(*CACHE_WRITE)
    output, total = usage("output"), usage("total")
    inclusive = (number(base) + output.fill_null(0) == total).fill_null(False)
    summed = number(base) + reads.fill_null(0) + writes.fill_null(0)
    start, end = parse_time(source.field("startTime")), parse_time(source.field("endTime"))
    first = parse_time(source.field("completionStartTime"))
    level = source.field("level").cast(pl.String).str.to_uppercase()
    frame = source.frame
    if source.kind == "jsonl":
        kind = source.field("type").cast(pl.String).str.to_uppercase()
        frame = frame.filter(kind.is_null() | kind.is_in(LLM_TYPES))
    return frame.select(
        "source_row",
        source.field("id").alias("request_id"),
        *arrival_columns(source.field("startTime"), start),
        source.fields("model", "providedModelName").alias("model"),
        pl.when(base.is_null()).then(number(legacy_in))
        .when(inclusive).then(number(base)).otherwise(summed).alias("input_tokens"),
        pl.coalesce(base, legacy_in).alias(f"{RAW_PREFIX}input_tokens"),
        reads.alias("cached_input_tokens"),
        writes.alias("cache_write_tokens"),
        pl.coalesce(output, number(legacy_out)).alias("output_tokens"),
        usage(*REASONING).alias("reasoning_tokens"),
        seconds_between(start, first).alias("ttft_s"),
        seconds_between(start, end).alias("e2e_latency_s"),
        source.fields("sessionId", "trace.sessionId").alias("session_id"),
        source.fields("userId", "trace.userId").alias("tenant_id"),
        source.field("type").cast(pl.String).str.to_lowercase().alias("endpoint"),
        pl.when(level == "ERROR").then(pl.lit("error")).otherwise(pl.lit("ok")).alias("status"),
        source.field("statusMessage").alias("error_type"),
        source.field("traceId").alias("trace_id"),
    )


ADAPTER = Adapter(
    name="langfuse",
    description="Langfuse observations (API JSON lines, UI CSV; cached input never counted twice)",
    detect=detect,
    to_canonical=to_canonical,
    required=("id", "traceId", "startTime"),
    hint="Langfuse observation exports have id, traceId, startTime and usageDetails",
)
