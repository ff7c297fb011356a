"""``row_key``: a per-request hash that depends on the request, never on the file's name.

Anything that seeds a sample or a pseudo-random choice per request (the clustering sample,
say) hashes this. A logged ``request_id`` is the request's identity, so it is used as it is
(and a shuffled trace samples the same rows). A row without one got ingest's fallback id
``FILE:ROW`` (``tracelab.ingest.reader``), which would make a renamed copy of a file sample
other rows: those rows are keyed by their content instead (arrival, model, tenant, session
and token counts), so byte-identical inputs give identical keys whatever they are called.
"""

from __future__ import annotations

import polars as pl

from tracelab.strformat import format_str

# What a request is, for rows without a logged id (columns of the canonical record).
CONTENT_COLUMNS = (
    "arrival_ts", "model", "tenant_id", "session_id", "input_tokens", "cached_input_tokens",
    "output_tokens", "reasoning_tokens", "ttft_s", "e2e_latency_s", "status", "endpoint",
)  # fmt: skip


def is_fallback_id() -> pl.Expr:
    """True where ``request_id`` looks like ingest's ``FILE:ROW`` fallback: it ends with
    ``:source_row`` (the labelled frame no longer carries ``source_file``; a logged id that
    happens to end so is keyed by content too, which is as deterministic)."""
    suffix = format_str(":{}", "source_row")  # not pl.format: see tracelab.strformat
    return pl.col("request_id").cast(pl.String).str.ends_with(suffix).fill_null(False)


def row_key(columns: list[str], seed: int = 0) -> pl.Expr:
    """UInt64 hash of the logged ``request_id``, or of the row's content where the id is
    the fallback (see the module doc). ``columns``: the frame's column names."""
    content = [c for c in CONTENT_COLUMNS if c in columns]
    by_id = pl.col("request_id").cast(pl.String).hash(seed=seed)
    if "source_row" not in columns or not content:
        return by_id
    by_content = pl.struct(content).hash(seed=seed)
    return pl.when(is_fallback_id()).then(by_content).otherwise(by_id)
