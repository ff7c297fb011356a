"""``canonical``: tracelab's own request record (``schemas/request.schema.json``).

Any subset of the canonical columns is a valid file as long as it has ``input_tokens``
and ``output_tokens``; absent columns come out null. ``time_base`` defaults to
``absolute`` for rows that have an ``arrival_ts``. ``prefix_hash_blocks`` may be a list
(Parquet, JSONL) or, in CSV, the text ``[1,2,3]`` that ``tracelab ingest -o x.csv`` writes.
"""

from __future__ import annotations

import polars as pl

from tracelab.ingest.formats.base import Adapter, RawSource, Sample
from tracelab.schema import CANONICAL_SCHEMA

_PROVENANCE = {"source_format", "source_file", "source_row"}


def detect(sample: Sample) -> bool:
    return bool(sample.columns & {"input_tokens", "output_tokens"})


def to_canonical(source: RawSource) -> pl.LazyFrame:
    wanted = [name for name in CANONICAL_SCHEMA if name not in _PROVENANCE]
    if source.kind == "jsonl":
        columns = [source.field(name).alias(name) for name in wanted]
        frame = source.frame.select("source_row", *columns)
    else:
        # Earlier provenance is superseded by this read; other extras are kept.
        frame = source.frame.drop([c for c in _PROVENANCE - {"source_row"} if c in source.columns])
        frame = frame.with_columns(
            pl.lit(None, pl.String).alias(name) for name in wanted if name not in source.columns
        )
    return frame.with_columns(
        pl.when(pl.col("arrival_ts").is_not_null())
        .then(pl.coalesce(pl.col("time_base").cast(pl.String), pl.lit("absolute")))
        .otherwise(pl.col("time_base").cast(pl.String))
        .alias("time_base")
    )


ADAPTER = Adapter(
    name="canonical",
    description="tracelab's canonical request record (Parquet, JSONL or CSV; any subset of columns)",
    detect=detect,
    to_canonical=to_canonical,
    required=("input_tokens", "output_tokens"),
    hint="name the token columns input_tokens and output_tokens",
)
