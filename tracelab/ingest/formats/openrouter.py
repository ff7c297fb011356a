"""``openrouter``: OpenRouter generation stats (``GET /api/v1/generation?id=…``), one per line.

Each line is the endpoint's ``{"data": {...}}`` or the ``data`` object itself. Fields
(OpenRouter API reference and SDK ``GenerationResponseData``, openrouter.ai/docs): ``id``,
``created_at`` (ISO 8601), ``model``, ``provider_name``, ``streamed``, ``cancelled``,
``latency`` ("Total latency in milliseconds"), ``generation_time`` (ms), ``finish_reason``,
``native_tokens_prompt``, ``native_tokens_completion``, ``native_tokens_reasoning``,
``native_tokens_cached`` (counts in the model's own tokenizer; ``tokens_prompt`` and
``tokens_completion`` are OpenRouter's normalised counts, used only when the native ones
are absent), ``external_user``, ``session_id``.

Token semantics follow OpenRouter's OpenAI-shaped usage (docs "Usage Accounting"): cached
tokens are part of the prompt count (the example there: prompt 194 + completion 2 = total
196 while ``cache_write_tokens`` is 100) and reasoning tokens part of the completion count,
so input = native prompt, cached = native cached, output = native completion, reasoning =
native reasoning. e2e = ``latency``/1000; TTFT is not reported (null).
status: ``cancelled`` → cancelled, finish_reason ``error`` → error, else ok.
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import (
    Adapter,
    RawSource,
    Sample,
    arrival_columns,
    millis_column,
    number,
)


def _has_stats(record: object) -> bool:
    return isinstance(record, dict) and "native_tokens_prompt" in record


def detect(sample: Sample) -> bool:
    first = sample.first()
    return _has_stats(first) or _has_stats(first.get("data"))


def to_canonical(source: RawSource) -> pl.LazyFrame:
    def field(name: str, *fallbacks: str) -> pl.Expr:
        names = [f"data.{n}" for n in (name, *fallbacks)] + [name, *fallbacks]
        return source.fields(*names)

    created = field("created_at")
    latency = field("latency")
    cancelled = field("cancelled").str.to_lowercase() == "true"
    finish = field("finish_reason")
    status = (pl.when(cancelled.fill_null(False)).then(pl.lit("cancelled"))
              .when(finish.str.to_lowercase() == "error").then(pl.lit("error"))
              .otherwise(pl.lit("ok")))
    return source.frame.select(
        "source_row",
        field("id").alias("request_id"),
        *arrival_columns(created),
        field("model").alias("model"),
        field("native_tokens_prompt", "tokens_prompt").alias("input_tokens"),
        field("native_tokens_cached").alias("cached_input_tokens"),
        field("native_tokens_completion", "tokens_completion").alias("output_tokens"),
        field("native_tokens_reasoning").alias("reasoning_tokens"),
        *millis_column(latency, "e2e_latency_s"),
        field("streamed").alias("is_streaming"),
        field("session_id").alias("session_id"),
        field("external_user").alias("tenant_id"),
        status.alias("status"),
        finish.alias("finish_reason"),
        field("provider_name").alias("provider"),
        number(field("total_cost")).alias("spend_usd"),
    )


ADAPTER = Adapter(
    name="openrouter",
    description="OpenRouter generation stats (GET /api/v1/generation; native token counts)",
    detect=detect,
    to_canonical=to_canonical,
)
