"""The canonical request record: one row per LLM request, whatever log it came from.

``schemas/request.schema.json`` documents every field with its type and unit; this module
is the same contract as a polars schema (a test keeps the two in step).
"""

from __future__ import annotations

import polars as pl

STATUSES = ("ok", "error", "cancelled", "timeout")
TIME_BASES = ("absolute", "relative")

CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(),
    "arrival_ts": pl.Datetime("us", "UTC"),
    "time_base": pl.String(),
    "model": pl.String(),
    "input_tokens": pl.Int64(),
    "cached_input_tokens": pl.Int64(),
    "cache_write_tokens": pl.Int64(),
    "output_tokens": pl.Int64(),
    "reasoning_tokens": pl.Int64(),
    "ttft_s": pl.Float64(),
    "e2e_latency_s": pl.Float64(),
    "is_streaming": pl.Boolean(),
    "session_id": pl.String(),
    "tenant_id": pl.String(),
    "prefix_hash_blocks": pl.List(pl.UInt64()),
    "prefix_block_tokens": pl.Int64(),
    "endpoint": pl.String(),
    "status": pl.String(),
    "source_format": pl.String(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
}

CANONICAL_COLUMNS: tuple[str, ...] = tuple(CANONICAL_SCHEMA)

# Token counts must be present for requests that did not fail.
REQUIRED_WHEN_OK: tuple[str, ...] = ("input_tokens", "output_tokens")

TOKEN_COLUMNS: tuple[str, ...] = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def conform(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Select the canonical columns in canonical order and types; absent ones become null.

    Columns outside the canonical set are kept after the canonical ones (adapters may add
    extras such as ``source_split``).
    """
    present = frame.collect_schema().names()
    canonical = [
        (pl.col(name) if name in present else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in CANONICAL_SCHEMA.items()
    ]
    extras = [pl.col(name) for name in present if name not in CANONICAL_SCHEMA]
    return frame.select(canonical + extras)


def empty_frame() -> pl.DataFrame:
    """A zero-row frame with the canonical schema."""
    return pl.DataFrame(schema=CANONICAL_SCHEMA)
