"""``burstgpt``: BurstGPT traces (HPMLL/BurstGPT, ``BurstGPT_1.csv`` ...).

Columns ``Timestamp, Model, Request tokens, Response tokens, Total tokens, Log Type``.
``Timestamp`` is seconds from 0:00 of the first day, so ``time_base = relative``. A row
with ``Response tokens == 0`` is a failed request: it is kept with ``status = error``.
``Log Type`` (``Conversation log`` / ``API log``) becomes ``endpoint`` ``conversation`` /
``api``. Source: shared/reference/formats.md §3.11.
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import RAW_PREFIX, Adapter, RawSource, Sample, relative_ts


def detect(sample: Sample) -> bool:
    return sample.has("Request tokens") or sample.has("Response tokens")


def to_canonical(source: RawSource) -> pl.LazyFrame:
    response = source.field("Response tokens")
    timestamp = source.field("Timestamp")
    log_type = source.field("Log Type").cast(pl.String)
    return source.frame.select(
        "source_row",
        relative_ts(timestamp).alias("arrival_ts"),
        timestamp.cast(pl.String).alias(f"{RAW_PREFIX}arrival_ts"),
        pl.lit("relative").alias("time_base"),
        source.field("Model").cast(pl.String).alias("model"),
        source.field("Request tokens").alias("input_tokens"),
        response.alias("output_tokens"),
        log_type.str.strip_chars().str.to_lowercase().str.replace(r"\s*log$", "").alias("endpoint"),
        pl.when(response.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False) == 0)
        .then(pl.lit("error"))
        .otherwise(pl.lit("ok"))
        .alias("status"),
        log_type.alias("log_type"),
    )


ADAPTER = Adapter(
    name="burstgpt",
    description="BurstGPT trace (Timestamp s relative, Request/Response tokens; 0 response = failed)",
    detect=detect,
    to_canonical=to_canonical,
    required=("Timestamp", "Request tokens", "Response tokens"),
    hint="BurstGPT files have the columns Timestamp,Model,Request tokens,Response tokens",
)
