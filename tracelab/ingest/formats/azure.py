"""``azure``: Azure LLM inference traces (Azure/AzurePublicDataset, Splitwise ISCA'24, DynamoLLM).

Columns ``TIMESTAMP, ContextTokens, GeneratedTokens`` (plus ``NumImages`` in the 2025
multimodal trace, kept as ``num_images``). 2023 files write naive timestamps with 7
fractional digits and CRLF line ends (UTC assumed); 2024 files write
``2024-05-10 00:00:00.009930+00:00`` with mixed precision; validation parses both.
The file kind (code / conv) named in the file name is kept as ``source_split``.
Source: shared/reference/formats.md §3.11.
"""

from __future__ import annotations

import re

import polars as pl

from tracelab.ingest.formats.base import Adapter, RawSource, Sample

_SPLIT = re.compile(r"(?:^|[_\-.])(code|conv|multimodal)(?:[_\-.]|$)", re.IGNORECASE)


def detect(sample: Sample) -> bool:
    return sample.has("ContextTokens") or sample.has("GeneratedTokens")


def split_of(name: str) -> str | None:
    """``code``/``conv``/``multimodal`` from a file name such as ``..._code_1week.csv``."""
    match = _SPLIT.search(name)
    return match.group(1).lower() if match else None


def to_canonical(source: RawSource) -> pl.LazyFrame:
    extras = []
    if source.kind == "jsonl" or "NumImages" in source.columns:
        extras.append(source.field("NumImages").alias("num_images"))
    return source.frame.select(
        "source_row",
        source.field("TIMESTAMP").alias("arrival_ts"),
        pl.lit("absolute").alias("time_base"),
        source.field("ContextTokens").alias("input_tokens"),
        source.field("GeneratedTokens").alias("output_tokens"),
        pl.lit("ok").alias("status"),
        pl.lit(split_of(source.path.name), pl.String).alias("source_split"),
        *extras,
    )


ADAPTER = Adapter(
    name="azure",
    description="Azure LLM inference trace 2023/2024 (TIMESTAMP, ContextTokens, GeneratedTokens)",
    detect=detect,
    to_canonical=to_canonical,
    required=("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    hint="Azure traces have the columns TIMESTAMP,ContextTokens,GeneratedTokens",
)
