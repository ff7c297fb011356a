"""``bedrock``: AWS Bedrock model-invocation logs (CloudWatch Logs / S3 JSON, one per line).

Record (``schemaType: ModelInvocationLog``): ``timestamp`` (RFC 3339, whole seconds),
``requestId``, ``operation`` (``Converse``, ``ConverseStream``, ``InvokeModel``,
``InvokeModelWithResponseStream``), ``modelId``, ``input.inputTokenCount``,
``input.cacheReadInputTokenCount``, ``input.cacheWriteInputTokenCount``,
``output.outputTokenCount``, ``output.outputBodyJson.metrics.latencyMs`` (Converse),
``errorCode`` and ``identity.arn``. Field list: the AWS.BedrockModelInvocation schema that
mirrors the AWS user guide "Model invocation logging" (docs.aws.amazon.com/bedrock/latest/
userguide/model-invocation-logging.html), and the example records in that guide.

Bedrock's ``inputTokens``/``inputTokenCount`` EXCLUDE cache reads and cache writes, which
are counted beside them (Converse ``TokenUsage``: ``inputTokens``, ``cacheReadInputTokens``,
``cacheWriteInputTokens``, docs.aws.amazon.com/bedrock/latest/APIReference/
API_runtime_TokenUsage.html; the user guide "Prompt caching" counts them apart; opencode
PR #38427 "treat inputTokens as non-cached input, matching AWS prompt-caching semantics"),
so ``input_tokens = inputTokenCount + cacheReadInputTokenCount + cacheWriteInputTokenCount``.
Reasoning is not reported (null). arrival = ``timestamp``; e2e = ``latencyMs``/1000 when
logged; streaming = a ``*Stream`` operation; a record with ``errorCode`` is an error.
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import (
    Adapter,
    RawSource,
    Sample,
    arrival_columns,
    millis_column,
    uncached_input_columns,
)
from tracelab.lookup import lookup

ENDPOINTS = {
    "Converse": "chat",
    "ConverseStream": "chat",
    "InvokeModel": "invoke",
    "InvokeModelWithResponseStream": "invoke",
}


def detect(sample: Sample) -> bool:
    first = sample.first()
    return first.get("schemaType") == "ModelInvocationLog" or (
        "modelId" in first and "requestId" in first and isinstance(first.get("input"), dict))


def to_canonical(source: RawSource) -> pl.LazyFrame:
    operation = source.field("operation").cast(pl.String)
    error = source.field("errorCode").cast(pl.String)
    latency = source.field("output.outputBodyJson.metrics.latencyMs")
    return source.frame.select(
        "source_row",
        source.field("requestId").alias("request_id"),
        *arrival_columns(source.field("timestamp")),
        source.field("modelId").alias("model"),
        *uncached_input_columns(source.field("input.inputTokenCount"),
                                source.field("input.cacheReadInputTokenCount"),
                                source.field("input.cacheWriteInputTokenCount")),
        source.field("output.outputTokenCount").alias("output_tokens"),
        *millis_column(latency, "e2e_latency_s"),
        operation.str.ends_with("Stream").alias("is_streaming"),
        source.field("identity.arn").alias("tenant_id"),
        pl.coalesce(lookup(operation, ENDPOINTS.items(), pl.String),
                    operation.str.to_lowercase()).alias("endpoint"),
        pl.when(error.is_null()).then(pl.lit("ok")).otherwise(pl.lit("error")).alias("status"),
        error.alias("error_type"),
        source.field("output.outputBodyJson.stopReason").alias("finish_reason"),
    )


ADAPTER = Adapter(
    name="bedrock",
    description="AWS Bedrock model-invocation logs (input = inputTokenCount + cache reads + writes)",
    detect=detect,
    to_canonical=to_canonical,
)
