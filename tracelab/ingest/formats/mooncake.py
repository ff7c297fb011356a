"""``mooncake``: Mooncake traces (kvcache-ai/Mooncake ``FAST25-release/traces/*.jsonl``).

Records ``{"timestamp", "input_length", "output_length", "hash_ids"}``: ``timestamp`` is
ms since the first request (``time_base = relative``), ``hash_ids`` are prefix-block ids
with 512 tokens per block (AIPerf/Dynamo tooling; shared/reference/formats.md §3.11).
Cached tokens are not logged, so ``cached_input_tokens`` stays null. AIPerf's
``mooncake_trace`` adds ``session_id``, read as the session.

``guidellm``: GuideLLM's ``trace_synthetic`` replay file, the same fields with
``timestamp`` in SECONDS (vllm-project/guidellm docs/guides/datasets.md). Its records are
indistinguishable from a Mooncake trace without block ids, so it is never detected: name
it with ``--format guidellm``.
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import RAW_PREFIX, Adapter, RawSource, Sample, relative_ts

BLOCK_TOKENS = 512


def detect(sample: Sample) -> bool:
    return sample.has("hash_ids") or sample.has("input_length", "output_length")


def to_canonical(source: RawSource, seconds_per_unit: float = 1e-3) -> pl.LazyFrame:
    timestamp = source.field("timestamp")
    return source.frame.select(
        "source_row",
        relative_ts(timestamp.cast(pl.Float64, strict=False) * seconds_per_unit)
        .alias("arrival_ts"),
        timestamp.cast(pl.String).alias(f"{RAW_PREFIX}arrival_ts"),
        pl.lit("relative").alias("time_base"),
        source.field("input_length").alias("input_tokens"),
        source.field("output_length").alias("output_tokens"),
        source.field("hash_ids").alias("prefix_hash_blocks"),
        pl.lit(BLOCK_TOKENS).alias("prefix_block_tokens"),
        source.field("session_id").alias("session_id"),
        pl.lit("ok").alias("status"),
    )


ADAPTER = Adapter(
    name="mooncake",
    description="Mooncake JSONL trace (timestamp ms relative, input/output_length, hash_ids of 512-token blocks)",
    detect=detect,
    to_canonical=to_canonical,
    required=("timestamp", "input_length", "output_length"),
    hint="Mooncake records have timestamp, input_length, output_length and hash_ids",
)
GUIDELLM_ADAPTER = Adapter(
    name="guidellm",
    description="GuideLLM trace_synthetic replay file (timestamp s, input/output_length); "
    "never detected: read only when the format is named",
    detect=lambda sample: False,
    to_canonical=lambda source: to_canonical(source, seconds_per_unit=1.0),
    required=("timestamp", "input_length", "output_length"),
)
