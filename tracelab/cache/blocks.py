"""Turn canonical request rows into an ordered stream of KV-block references.

Evidence, in order of preference:

- ``prefix_blocks``: the rows' ``prefix_hash_blocks`` (Mooncake-style ids, ``prefix_block_tokens``
  tokens each). Every block of a prompt is a read.
- ``sessions``: no row has prefix blocks but rows carry ``session_id``. A turn's prompt is assumed
  to extend the session's previous context, so block ``j`` of a session is the same content in
  every turn (id = session rank · 2^32 + j). A turn *reads* its prompt's full blocks (a partial
  last block gets a unique id and never hits) and then *writes* the full blocks its output
  completes (previous turn's input + output is the next turn's reusable prefix). Writes update
  LRU recency but are not counted in hit ratios. Blocks are ``SESSION_BLOCK_TOKENS`` tokens.
- ``none``: neither; there is no curve.

References are ordered by ``arrival_ts``, ties by ``source_file`` then ``source_row`` (file
order), each request's blocks in prompt order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tracelab.strformat import format_str

# vLLM's default KV block size on CUDA (CacheConfig.block_size = 16), used to cut
# session prompts into blocks when the trace has no block ids of its own.
SESSION_BLOCK_TOKENS = 16

_PARTIAL_BIT = 1 << 63
_ORDER = ["arrival_ts", "source_file", "source_row"]
NEEDED_COLUMNS: dict[str, pl.DataType] = {
    "request_id": pl.String(), "arrival_ts": pl.Datetime("us", "UTC"), "source_file": pl.String(),
    "source_row": pl.Int64(), "model": pl.String(), "input_tokens": pl.Int64(),
    "output_tokens": pl.Int64(), "session_id": pl.String(), "prefix_block_tokens": pl.Int64(),
    "prefix_hash_blocks": pl.List(pl.UInt64()),
}  # fmt: skip
REJECTED_SCHEMA = {
    "request_id": pl.String(),
    "source_file": pl.String(),
    "source_row": pl.Int64(),
    "reason": pl.String(),
}


@dataclass(frozen=True)
class BlockRefs:
    """An ordered block-reference stream.

    ``block_ids`` (uint64), ``request_index`` (int64, row of ``requests``), ``counted`` (bool:
    reads count toward hit ratios, writes do not) and ``hit_tokens`` (int64: prompt tokens a
    hit on that reference saves) are aligned arrays. ``requests`` holds the accepted rows in
    reference order (``request_id``, ``model``); ``span_hours`` is their arrival span (None
    under two timestamps or a zero span).
    """

    evidence: str
    block_tokens: int | None
    block_ids: np.ndarray
    request_index: np.ndarray
    counted: np.ndarray
    hit_tokens: np.ndarray
    requests: pl.DataFrame
    rejected: pl.DataFrame
    rows_without_evidence: int
    span_hours: float | None = None

    @property
    def n_references(self) -> int:
        """Block reads (the references hit ratios are computed over)."""
        return int(self.counted.sum())


def _empty_refs(
    evidence: str, requests: pl.DataFrame, rejected: pl.DataFrame, block_tokens: int | None
) -> BlockRefs:
    return BlockRefs(
        evidence=evidence,
        block_tokens=block_tokens,
        block_ids=np.zeros(0, dtype=np.uint64),
        request_index=np.zeros(0, dtype=np.int64),
        counted=np.zeros(0, dtype=bool),
        hit_tokens=np.zeros(0, dtype=np.int64),
        requests=requests,
        rejected=rejected,
        rows_without_evidence=requests.height,
    )


def _parse_blocks(frame: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.Expr]:
    """Canonical ``prefix_hash_blocks`` (List(UInt64)) and a per-row malformed-reason expression."""
    dtype = frame.collect_schema()["prefix_hash_blocks"]
    col = pl.col("prefix_hash_blocks")
    if dtype == pl.List(pl.UInt64()):  # canonical: nothing to parse (and no list copy)
        return frame.with_columns(pl.lit(None, dtype=pl.String()).alias("_reason")), pl.col(
            "_reason"
        )
    if isinstance(dtype, pl.List) and dtype.inner.is_integer():
        negative = col.list.min() < 0 if dtype.inner.is_signed_integer() else pl.lit(False)
        reason: pl.Expr = pl.when(negative).then(
            pl.lit("prefix_hash_blocks has a negative block id")
        )
        parsed = pl.when(negative).then(None).otherwise(col).cast(pl.List(pl.UInt64()))
    elif dtype == pl.String():
        well_formed = col.str.contains(r"^\s*\[\s*(\d+\s*(,\s*\d+\s*)*)?\]\s*$")
        reason = pl.when(col.is_not_null() & ~well_formed).then(
            pl.lit("prefix_hash_blocks is not a list of non-negative integer block ids")
        )
        parsed = pl.when(well_formed).then(col.str.extract_all(r"\d+")).cast(pl.List(pl.UInt64()))
    elif dtype == pl.Null():
        reason = pl.lit(None, dtype=pl.String())
        parsed = col.cast(pl.List(pl.UInt64()))
    else:
        reason = pl.when(col.is_not_null()).then(
            pl.lit(f"prefix_hash_blocks is {dtype}, not a list of block ids")
        )
        parsed = pl.lit(None, dtype=pl.List(pl.UInt64()))
    frame = frame.with_columns(reason.cast(pl.String()).alias("_reason"))
    return frame.with_columns(parsed.alias("prefix_hash_blocks")), pl.col("_reason")


def _split_rejected(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    rejected = frame.filter(pl.col("_reason").is_not_null()).select(
        pl.col("request_id").cast(pl.String()),
        pl.col("source_file").cast(pl.String()),
        pl.col("source_row").cast(pl.Int64()),
        pl.col("_reason").alias("reason"),
    )
    kept = frame.filter(pl.col("_reason").is_null()).drop("_reason")
    return kept, rejected


def prefix_reject_code(block_tokens: int) -> pl.Expr:
    """Int8 code of the first failed block-row check (null: passes); cheap, no strings.

    1 ``prefix_block_tokens`` missing, 2 below 1, 3 not the trace's block size, 4 more blocks
    than ``input_tokens // block_tokens + 1``. ``prefix_reason_text`` spells it out.
    """
    has = pl.col("prefix_hash_blocks").is_not_null()
    size = pl.col("prefix_block_tokens")
    n_blocks = pl.col("prefix_hash_blocks").list.len()
    return (
        pl.when(has & size.is_null()).then(1)
        .when(has & (size < 1)).then(2)
        .when(has & (size != block_tokens)).then(3)
        .when(has & (n_blocks > pl.col("input_tokens") // block_tokens + 1)).then(4)
        .cast(pl.Int8())
    )  # fmt: skip


def prefix_reason_text(code: pl.Expr, block_tokens: int, n_blocks: pl.Expr) -> pl.Expr:
    """The one-line reject reason of a ``prefix_reject_code`` (reads the size and input);
    code 5 is the session pass's missing ``input_tokens``."""
    return (
        pl.when(code == 1)
        .then(pl.lit("prefix_block_tokens is missing; set the block size (tokens per block)"))
        .when(code == 2)
        .then(pl.lit("prefix_block_tokens is below 1"))
        .when(code == 3)
        .then(
            format_str(
                "prefix_block_tokens {} differs from the trace's {} tokens per block",
                pl.col("prefix_block_tokens"),
                pl.lit(block_tokens),
            )
        )
        .when(code == 4)
        .then(
            format_str(
                "{} prefix blocks for {} input tokens: more than input_tokens/{}+1",
                n_blocks,
                pl.col("input_tokens"),
                pl.lit(block_tokens),
            )
        )
        .when(code == 5)
        .then(pl.lit("input_tokens is missing; session reuse needs the prompt length"))
    )


def prefix_reject_reason(block_tokens: int) -> pl.Expr:
    """``_reason`` plus the block-size and block-count checks of a prefix-block row."""
    text = prefix_reason_text(
        prefix_reject_code(block_tokens), block_tokens, pl.col("prefix_hash_blocks").list.len()
    )
    return pl.coalesce(pl.col("_reason"), text)


def _prefix_block_refs(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, int]:
    """Check block rows and explode them into references (block_id, _req, hit_tokens)."""
    has = pl.col("prefix_hash_blocks").is_not_null()
    sizes = rows.filter(has & (pl.col("prefix_block_tokens") >= 1))["prefix_block_tokens"]
    block_tokens = int(sizes.mode().min()) if sizes.len() else 1  # type: ignore[arg-type]
    rows = rows.with_columns(prefix_reject_reason(block_tokens).alias("_reason"))
    kept, rejected = _split_rejected(rows)
    j = pl.int_ranges(0, pl.col("prefix_hash_blocks").list.len(), dtype=pl.Int64())
    refs = (
        kept.lazy()
        .with_row_index("_req")
        .filter(pl.col("prefix_hash_blocks").is_not_null())
        .select("_req", "input_tokens", "prefix_hash_blocks", j.alias("_j"))
        .explode(["prefix_hash_blocks", "_j"])
        .select(
            pl.col("prefix_hash_blocks").alias("block_id"),
            pl.col("_req").cast(pl.Int64()),
            pl.lit(True).alias("counted"),
            pl.when(pl.col("input_tokens").is_null())
            .then(block_tokens)
            .otherwise((pl.col("input_tokens") - pl.col("_j") * block_tokens).clip(0, block_tokens))
            .cast(pl.Int64())
            .alias("hit_tokens"),
        )
        .collect()
    )
    return refs, kept, rejected, block_tokens


def _session_block_refs(
    rows: pl.DataFrame, block_tokens: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Synthesise per-session block reads (the prompt) and writes (blocks the output completes)."""
    has = pl.col("session_id").is_not_null()
    rows = rows.with_columns(
        pl.coalesce(
            pl.col("_reason"),
            pl.when(has & pl.col("input_tokens").is_null()).then(
                pl.lit("input_tokens is missing; session reuse needs the prompt length")
            ),
        ).alias("_reason")
    )
    kept, rejected = _split_rejected(rows)
    base = (
        kept.lazy()
        .with_row_index("_req")
        .filter(has)
        .select(
            pl.col("_req").cast(pl.Int64()),
            pl.col("input_tokens").alias("_in"),
            (pl.col("input_tokens") + pl.col("output_tokens").fill_null(0)).alias("_ctx"),
            (pl.col("session_id").rank("dense").cast(pl.UInt64()) * (1 << 32)).alias("_sess"),
        )
    )
    full_in = pl.col("_in") // block_tokens
    reads = (
        base.with_columns(
            pl.int_ranges(0, (pl.col("_in") + block_tokens - 1) // block_tokens).alias("_j")
        )
        .explode("_j")
        .filter(pl.col("_j").is_not_null())
        .select(
            pl.when(pl.col("_j") < full_in)
            .then(pl.col("_sess") + pl.col("_j").cast(pl.UInt64()))
            .otherwise(pl.lit(_PARTIAL_BIT, dtype=pl.UInt64()) + pl.col("_req").cast(pl.UInt64()))
            .alias("block_id"),
            "_req",
            pl.lit(True).alias("counted"),
            (pl.col("_in") - pl.col("_j") * block_tokens).clip(0, block_tokens).alias("hit_tokens"),
            pl.col("_j").cast(pl.Int64()),
        )
    )
    writes = (
        base.with_columns(pl.int_ranges(full_in, pl.col("_ctx") // block_tokens).alias("_j"))
        .explode("_j")
        .filter(pl.col("_j").is_not_null())
        .select(
            (pl.col("_sess") + pl.col("_j").cast(pl.UInt64())).alias("block_id"),
            "_req",
            pl.lit(False).alias("counted"),
            pl.lit(0, dtype=pl.Int64()).alias("hit_tokens"),
            (pl.col("_j").cast(pl.Int64()) + (1 << 40)),  # after the reads of the same request
        )
    )
    refs = (
        pl.concat([reads, writes])
        .sort(["_req", "_j"])
        .select("block_id", "_req", "counted", "hit_tokens")
        .collect()
    )
    return refs, kept, rejected


def _in_order(rows: pl.DataFrame) -> bool:
    """Rows already sorted by ``_ORDER`` (no nulls in it), so sorting would change nothing."""
    if rows.height < 2:
        return True
    later = pl.lit(False)
    for name in reversed(_ORDER):  # lexicographic: (a, b, c) >= previous row
        col, before = pl.col(name), pl.col(name).shift(1)
        later = (col > before) | ((col == before) & later) if name != _ORDER[-1] else col >= before
    keys_present = pl.all_horizontal(pl.col(n).is_not_null() for n in _ORDER).all()
    return bool(rows.select(keys_present & later.slice(1).all()).item())


def compute_block_references(
    frame: pl.LazyFrame, session_block_tokens: int = SESSION_BLOCK_TOKENS
) -> BlockRefs:
    """The block-reference stream of a canonical request frame, with its evidence and rejects."""
    columns = frame.collect_schema().names()
    needed = NEEDED_COLUMNS
    frame = frame.with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in needed.items()
        if name not in columns
    )
    frame, _ = _parse_blocks(frame)
    rows = frame.select([*needed, "_reason"]).collect()
    if not _in_order(rows):  # logs are usually in arrival order: skip the sort's full copy
        rows = rows.sort(_ORDER, nulls_last=True, maintain_order=True)
    malformed = rows.filter(pl.col("_reason").is_not_null()).height
    if rows.filter(pl.col("prefix_hash_blocks").is_not_null()).height or malformed:
        refs, kept, rejected, block_tokens = _prefix_block_refs(rows)
        evidence, evidence_col = "prefix_blocks", "prefix_hash_blocks"
    elif rows.filter(pl.col("session_id").is_not_null()).height:
        refs, kept, rejected = _session_block_refs(rows, session_block_tokens)
        evidence, evidence_col, block_tokens = "sessions", "session_id", session_block_tokens
    else:
        kept, rejected = _split_rejected(rows)
        return _empty_refs("none", kept.select("request_id", "model"), rejected, None)
    requests = kept.select("request_id", pl.col("model").cast(pl.Categorical()), evidence_col)
    span = kept.select(
        (pl.col("arrival_ts").max() - pl.col("arrival_ts").min()).dt.total_seconds(fractional=True)
    ).item()
    del rows, kept
    return BlockRefs(
        evidence=evidence,
        block_tokens=block_tokens,
        block_ids=refs["block_id"].to_numpy().astype(np.uint64, copy=False),
        request_index=refs["_req"].to_numpy().astype(np.int64, copy=False),
        counted=refs["counted"].to_numpy().astype(bool, copy=False),
        hit_tokens=refs["hit_tokens"].to_numpy().astype(np.int64, copy=False),
        requests=requests.drop(evidence_col),
        rejected=rejected,
        rows_without_evidence=requests.filter(pl.col(evidence_col).is_null()).height,
        span_hours=float(span) / 3600.0 if span else None,
    )
