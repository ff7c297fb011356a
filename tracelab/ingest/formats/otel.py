"""``otel``: OpenTelemetry GenAI spans in the OTLP/JSON file-exporter layout.

Each line is ``{"resourceSpans": [{"resource", "scopeSpans": [{"spans": [...]}]}]}``; every
span becomes a row (``source_row`` counts spans in the file from 1). Attributes
``[{key, value: {stringValue|intValue|doubleValue|boolValue}}]`` are looked up by key,
current names first, then deprecated and vendor aliases (vLLM's ``gen_ai.usage.prompt_tokens``,
``gen_ai.latency.*`` in seconds, OpenInference ``llm.token_count.*``). intValue and the
``*UnixNano`` times are decimal strings. Spans without any token or model attribute
(HTTP, DB spans ...) are skipped: they are not LLM requests.
Source: shared/reference/formats.md §3.1 and §3.4 (semantic-conventions v1.44.0, vLLM).
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import (
    RAW_PREFIX,
    Adapter,
    RawSource,
    Sample,
    epoch_ts,
    number,
    seconds_between,
)

_VALUE = pl.Struct(
    {
        "stringValue": pl.String,
        "intValue": pl.String,
        "doubleValue": pl.Float64,
        "boolValue": pl.Boolean,
    }
)
_ATTRS = pl.List(pl.Struct({"key": pl.String, "value": _VALUE}))
_SPAN = pl.Struct(
    {
        "traceId": pl.String,
        "spanId": pl.String,
        "name": pl.String,
        "startTimeUnixNano": pl.String,
        "endTimeUnixNano": pl.String,
        "attributes": _ATTRS,
        "status": pl.Struct({"code": pl.Int64, "message": pl.String}),
    }
)
_EXPORT = pl.Struct(
    {
        "resourceSpans": pl.List(
            pl.Struct(
                {
                    "resource": pl.Struct({"attributes": _ATTRS}),
                    "scopeSpans": pl.List(pl.Struct({"spans": pl.List(_SPAN)})),
                }
            )
        )
    }
)

STATUS_CODE_ERROR = 2  # OTLP Status.code: 0 unset, 1 ok, 2 error

# canonical column → attribute keys, current name first.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "request_id": ("gen_ai.response.id", "gen_ai.request.id"),
    "model": ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name"),
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "cached_input_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cached_tokens",
        "gen_ai.usage.input_tokens.cached",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.input_tokens.cache_write",
        "llm.token_count.prompt_details.cache_write",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "ttft_s": ("gen_ai.response.time_to_first_chunk", "gen_ai.latency.time_to_first_token"),
    "vllm_e2e_s": ("gen_ai.latency.e2e",),
    "queue_time_s": ("gen_ai.latency.time_in_queue",),
    "is_streaming": ("gen_ai.request.stream", "llm.is_streaming"),
    "session_id": ("gen_ai.conversation.id", "session.id"),
    "tenant_id": ("user.id", "enduser.id"),
    "endpoint": ("gen_ai.operation.name",),
    "provider": ("gen_ai.provider.name", "gen_ai.system"),
    "error_type": ("error.type",),
}
_LLM_KEYS = tuple(
    key for name in ("model", "input_tokens", "output_tokens") for key in ATTRIBUTES[name]
)


def _value_text(value: pl.Expr) -> pl.Expr:
    return pl.coalesce(
        value.struct.field("stringValue"),
        value.struct.field("intValue"),
        value.struct.field("doubleValue").cast(pl.String),
        value.struct.field("boolValue").cast(pl.String),
    )


def _attr(keys: tuple[str, ...]) -> pl.Expr:
    """The text value of the first of ``keys`` present on the span or its resource."""
    found = []
    for column in ("attributes", "resource_attributes"):
        for key in keys:
            hit = pl.col(column).list.eval(
                pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
            )
            found.append(_value_text(hit.list.first()))
    return pl.coalesce(found)


def detect(sample: Sample) -> bool:
    return sample.has("resourceSpans")


def spans(source: RawSource) -> pl.LazyFrame:
    """One row per span with its resource's attributes, numbered from 1 in file order."""
    return (
        source.frame.select(
            pl.col("line").str.json_decode(_EXPORT).struct.field("resourceSpans").alias("rs")
        )
        .explode("rs")
        .select(
            pl.col("rs")
            .struct.field("resource")
            .struct.field("attributes")
            .alias("resource_attributes"),
            pl.col("rs").struct.field("scopeSpans").alias("ss"),
        )
        .explode("ss")
        .select("resource_attributes", pl.col("ss").struct.field("spans").alias("span"))
        .explode("span")
        .filter(pl.col("span").is_not_null())
        .unnest("span")
        .with_row_index("source_row", offset=1)
        .with_columns(pl.col("source_row").cast(pl.Int64))
    )


def to_canonical(source: RawSource) -> pl.LazyFrame:
    frame = spans(source)
    keys = pl.col("attributes").list.eval(pl.element().struct.field("key"))
    frame = frame.filter(keys.list.eval(pl.element().is_in(_LLM_KEYS)).list.any().fill_null(False))
    start = epoch_ts(pl.col("startTimeUnixNano"), "ns")
    end = epoch_ts(pl.col("endTimeUnixNano"), "ns")
    attrs = {name: _attr(keys) for name, keys in ATTRIBUTES.items()}
    status_code = pl.col("status").struct.field("code")
    error_type = attrs["error_type"].cast(pl.String).str.to_lowercase()
    return frame.select(
        "source_row",
        pl.coalesce(attrs["request_id"], pl.col("traceId") + pl.lit(":") + pl.col("spanId")).alias(
            "request_id"
        ),
        start.alias("arrival_ts"),
        pl.col("startTimeUnixNano").alias(f"{RAW_PREFIX}arrival_ts"),
        pl.when(pl.col("startTimeUnixNano").is_not_null())
        .then(pl.lit("absolute"))
        .alias("time_base"),
        *(
            attrs[name].alias(name)
            for name in (
                "model",
                "input_tokens",
                "cached_input_tokens",
                "cache_write_tokens",
                "output_tokens",
                "reasoning_tokens",
                "ttft_s",
                "is_streaming",
                "session_id",
                "tenant_id",
                "endpoint",
            )
        ),
        pl.coalesce(seconds_between(start, end), number(attrs["vllm_e2e_s"])).alias(
            "e2e_latency_s"
        ),
        pl.when((status_code == STATUS_CODE_ERROR) | error_type.is_not_null())
        .then(pl.when(error_type == "timeout").then(pl.lit("timeout")).otherwise(pl.lit("error")))
        .otherwise(pl.lit("ok"))
        .alias("status"),
        number(attrs["queue_time_s"]).alias("queue_time_s"),
        attrs["provider"].alias("provider"),
        attrs["error_type"].alias("error_type"),
        pl.col("name").alias("span_name"),
    )


ADAPTER = Adapter(
    name="otel",
    description="OpenTelemetry GenAI spans, OTLP/JSON file exporter (current + deprecated names, vLLM)",
    detect=detect,
    to_canonical=to_canonical,
)
