"""``gemini``: Google Gemini API / Vertex AI ``generateContent`` responses, one per line.

``{"candidates": [{"finishReason", ...}], "usageMetadata": {...}, "modelVersion",
"responseId", "createTime" (Vertex only)}``. ``usageMetadata`` (Gemini API reference
``UsageMetadata``; Vertex AI ``GenerateContentResponseUsageMetadata``):

* ``promptTokenCount`` "when cachedContent is set, ... includes the number of tokens in the
  cached content", so input = promptTokenCount (+ ``toolUsePromptTokenCount``, tool results
  fed back to the model as input) and cached = ``cachedContentTokenCount``;
* ``thoughtsTokenCount`` sits OUTSIDE ``candidatesTokenCount``: ``totalTokenCount`` is the
  sum of prompt, candidates, tool-use prompt and thoughts (Vertex reference; seen on live
  responses in Helicone PR #5604: 15 + 359 + 661 = 1035, and mozilla-ai/any-llm#1290:
  20 + 198 + 405 = 623). Output = candidates + thoughts, reasoning = thoughts. LiteLLM once
  said the Gemini API counts thoughts inside candidates (BerriAI/litellm#10141 review),
  and BerriAI/litellm#16341 is users losing those tokens; so each row is checked against
  its own ``totalTokenCount``: when total = prompt + tool-use + candidates, the thoughts are
  taken as already inside candidates (output = candidates).

arrival = ``createTime`` (Vertex) when present, else null (the Gemini API response has no
time); request_id = ``responseId``; model = ``modelVersion``. A response without
candidates but with ``promptFeedback.blockReason`` is an error (blocked prompt).
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import (
    RAW_PREFIX,
    Adapter,
    RawSource,
    Sample,
    arrival_columns,
    number,
)

_USAGE = "usageMetadata"


def detect(sample: Sample) -> bool:
    first = sample.first()
    usage = first.get(_USAGE)
    return isinstance(usage, dict) and ("promptTokenCount" in usage or "candidates" in first)


def to_canonical(source: RawSource) -> pl.LazyFrame:
    def count(name: str) -> pl.Expr:
        return number(source.field(f"{_USAGE}.{name}"))

    prompt = source.field(f"{_USAGE}.promptTokenCount")
    tool, candidates, thoughts = (count("toolUsePromptTokenCount"), count("candidatesTokenCount"),
                                  count("thoughtsTokenCount"))
    total = count("totalTokenCount")
    inputs = number(prompt) + tool.fill_null(0)
    inside = (thoughts > 0) & (total == inputs + candidates.fill_null(0))
    output = pl.when(inside.fill_null(False)).then(candidates).otherwise(
        candidates.fill_null(0) + thoughts.fill_null(0))
    has_output = candidates.is_not_null() | thoughts.is_not_null()
    blocked = source.field("promptFeedback.blockReason")
    created = source.field("createTime")
    return source.frame.select(
        "source_row",
        source.field("responseId").alias("request_id"),
        *arrival_columns(created),
        source.field("modelVersion").alias("model"),
        pl.when(prompt.is_not_null()).then(inputs).alias("input_tokens"),
        prompt.alias(f"{RAW_PREFIX}input_tokens"),
        source.field(f"{_USAGE}.cachedContentTokenCount").alias("cached_input_tokens"),
        pl.when(has_output).then(output)
        .when(blocked.is_not_null()).then(pl.lit(0.0)).alias("output_tokens"),
        source.field(f"{_USAGE}.thoughtsTokenCount").alias("reasoning_tokens"),
        pl.lit("generate_content").alias("endpoint"),
        pl.when(blocked.is_null()).then(pl.lit("ok")).otherwise(pl.lit("error")).alias("status"),
        blocked.alias("error_type"),
        source.field("candidates[0].finishReason").alias("finish_reason"),
    )


ADAPTER = Adapter(
    name="gemini",
    description="Gemini / Vertex AI generateContent responses, one per line (output = candidates + thoughts)",
    detect=detect,
    to_canonical=to_canonical,
)
