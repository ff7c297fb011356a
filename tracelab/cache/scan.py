"""Stream a canonical frame into a SHARDS-sampled block-reference stream, never exploding it all.

The evidence rules, block ids, order and rejects are those of ``tracelab.cache.blocks``; this
module builds the streaming queries so that only the *sampled* references are ever held in
memory (Waldspurger et al., FAST'15: a block is sampled iff ``splitmix64(block) mod P < R·P``,
the same test as ``stack.compute_shards_mask``).

One scan of the block column gives the sample and every count the curve needs. The rate is
fixed before it from an upper bound on the reference count that costs no list decoding: the
length check of ``blocks`` rejects a row with more than ``input_tokens // block_tokens + 1``
blocks, so that sum bounds the kept references. Rows are identified by their position in the
input frame (``row``, int64), which is also how per-request hits are keyed.

Prefix blocks: ``prefix_rows`` hands over one record per row with its block list, exploded
and sampled in numpy (``tracelab.cache.explode``). Session evidence (no row has block ids)
synthesises block ``j`` of a session as ``splitmix64(hash(session_id) + j)`` with the top bit
cleared (only equality matters for stack distances, so exact curves equal the dense-rank ids
of ``blocks``); a partial last block is ``2^63 + row`` and never hits. ``session_records``
explodes and samples those in the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tracelab.cache.blocks import (
    _PARTIAL_BIT,
    NEEDED_COLUMNS,
    _parse_blocks,
    prefix_reject_code,
)
from tracelab.cache.stack import SHARDS_MODULUS

_U64 = pl.UInt64()
_FILE_SEED = 0x5EED
_SESSION_SEED = 0x5E55


def splitmix64(z: pl.Expr) -> pl.Expr:
    """splitmix64 of a UInt64 expression (wrapping arithmetic), as ``stack.hash_blocks``."""
    z = z.cast(_U64) + pl.lit(0x9E3779B97F4A7C15, _U64)
    z = (z ^ (z // (1 << 30))) * pl.lit(0xBF58476D1CE4E5B9, _U64)
    z = (z ^ (z // (1 << 27))) * pl.lit(0x94D049BB133111EB, _U64)
    return z ^ (z // (1 << 31))


def shards_keep(block_id: pl.Expr, rate: float | None) -> pl.Expr:
    """True where the SHARDS sample at ``rate`` keeps the block (always, when exact)."""
    if rate is None:
        return pl.lit(True)
    threshold = round(rate * SHARDS_MODULUS)
    return (splitmix64(block_id) % SHARDS_MODULUS) < threshold


@dataclass(frozen=True)
class CheckRefs:
    """The stream's first references, all of them (``block_ids`` uint64, ``counted`` bool), in
    reference order: the subset ``sampling.measure_shards_error`` compares SHARDS with exact on."""

    block_ids: np.ndarray
    counted: np.ndarray


@dataclass(frozen=True)
class SampledRefs:
    """Ordered (sampled) references plus the whole-stream counts.

    ``block_ids`` (uint64), ``row`` (int64 position of the request in the input frame),
    ``counted`` (bool: a read) and ``hit_tokens`` (int64) are aligned, in reference order.
    ``rate`` is None when every reference is kept. ``n_reads`` counts the reads of the whole
    stream and ``read_tokens`` sums their hit tokens; ``evidence_rows`` (sorted int64) are the
    rows with at least one reference. ``check``: the first references unsampled, when the scan
    kept them (SHARDS over prefix blocks), else None.
    """

    evidence: str
    block_tokens: int | None
    rate: float | None
    block_ids: np.ndarray
    row: np.ndarray
    counted: np.ndarray
    hit_tokens: np.ndarray
    n_reads: int
    read_tokens: int
    n_rows: int
    evidence_rows: np.ndarray
    model_counts: pl.DataFrame
    rejected: pl.DataFrame
    rows_without_evidence: int
    span_hours: float | None
    check: CheckRefs | None = None


def prepare_frame(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add the missing canonical columns as nulls, parse blocks into ``_reason``, number rows."""
    columns = frame.collect_schema().names()
    frame = frame.with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in NEEDED_COLUMNS.items()
        if name not in columns
    )
    frame, _ = _parse_blocks(frame)
    return (
        frame.select([*NEEDED_COLUMNS, "_reason"])
        .with_row_index("row")
        .with_columns(pl.col("row").cast(pl.Int64()))
    )


def guess_block_tokens(frame: pl.LazyFrame) -> tuple[int, int | None]:
    """The most common ``prefix_block_tokens`` (smallest on ties) and the reference bound.

    Reads integer columns only. The bound is None when a row with that block size has no
    ``input_tokens`` (its block count is then not bounded).
    """
    pbt = pl.col("prefix_block_tokens")
    sizes = (
        frame.filter(pbt >= 1)
        .group_by("prefix_block_tokens")
        .agg(
            pl.len().alias("n"),
            (pl.col("input_tokens") // pbt + 1).sum().alias("bound"),
            pl.col("input_tokens").is_null().sum().alias("no_input"),
        )
        .collect(engine="streaming")
    )
    if sizes.height == 0:
        return 1, 0
    top = (
        sizes.filter(pl.col("n") == pl.col("n").max())
        .sort("prefix_block_tokens")
        .row(0, named=True)
    )
    return int(top["prefix_block_tokens"]), None if top["no_input"] else int(top["bound"])


def _records(
    rows: pl.LazyFrame, carried: dict[str, pl.Expr], lists: dict[str, pl.Expr], block: pl.Expr,
    rate: float | None, out: dict[str, pl.Expr], head: int | None,
) -> pl.LazyFrame:  # fmt: skip
    """Explode ``lists`` (aligned, per row) into references and keep two kinds of record:
    sampled references of kept rows (``_keep``) and each row's first record (``_first``, which
    carries the per-row counts and the reject flags; an empty list gives one null record).
    Only narrow numeric per-row columns are repeated by the explode; ``out`` is evaluated
    after the filter."""
    narrow = rows.select(
        "row", pl.col("arrival_ts").dt.epoch("us").alias("_ts"), "_file",
        pl.col("source_row").alias("_srow"), "input_tokens", "_bad",
        *(expr.alias(name) for name, expr in carried.items()),
        *(expr.alias(name) for name, expr in lists.items()),
    )  # fmt: skip
    exploded = narrow.explode(list(lists), empty_as_null=True)
    if head is not None:
        exploded = exploded.head(head)
    position = pl.col("_k" if "_k" in lists else "_j")  # place in the row's list
    first = pl.col("_j").is_null() | (position == 0)
    keep = ~pl.col("_bad") & pl.col("_code").is_null() & pl.col("_j").is_not_null()
    exploded = exploded.with_columns(block.alias("_block")).with_columns(
        (keep & shards_keep(pl.col("_block"), rate)).alias("_keep"), first.alias("_first")
    )
    return exploded.filter(pl.col("_keep") | pl.col("_first")).select(
        *(expr.alias(name) for name, expr in out.items()),
        "row", "_ts", "_file", "_srow", position.alias("_j"), "_keep", "_first",
        "refs", "pbt", "_code", "_bad", "input_tokens",
    )  # fmt: skip


def prefix_rows(frame: pl.LazyFrame, block_tokens: int) -> pl.LazyFrame:
    """One record per prefix-block row (``_batches`` columns), its block list kept whole.

    Carries the per-row counts and reject flags (``_records``' names: ``refs``, ``pbt``,
    ``_code``, ``tokens``) and the list itself as ``_blocks``: the engine decodes the lists
    and numpy explodes and samples them (``tracelab.cache.explode``), so no per-reference
    column is ever repeated by an explode.
    """
    blocks = pl.col("prefix_hash_blocks")
    refs = blocks.list.len().fill_null(0).cast(pl.Int32())
    all_blocks = refs.cast(pl.Int64()) * block_tokens
    tin = pl.col("input_tokens")
    return frame.select(
        "row", pl.col("arrival_ts").dt.epoch("us").alias("_ts"), "_file",
        pl.col("source_row").alias("_srow"), "input_tokens", "_bad", refs.alias("refs"),
        pl.col("prefix_block_tokens").cast(pl.Int32()).alias("pbt"),
        prefix_reject_code(block_tokens).alias("_code"),  # checks as codes; texts for rejects
        # the row's read tokens: min(input_tokens, blocks x block size)
        pl.min_horizontal(tin.clip(0).fill_null(all_blocks), all_blocks).alias("tokens"),
        blocks.alias("_blocks"),
    )  # fmt: skip


def session_records(
    frame: pl.LazyFrame, block_tokens: int, rate: float | None, head: int | None = None
) -> pl.LazyFrame:
    """The record query (see ``_records``) of synthesised session blocks (reads, then output
    writes) over ``_batches`` rows."""
    has = pl.col("session_id").is_not_null()
    tin = pl.col("input_tokens")
    n_reads = ((tin + block_tokens - 1) // block_tokens).clip(0)
    full_in = tin // block_tokens
    n_writes = ((tin + pl.col("output_tokens").fill_null(0)) // block_tokens - full_in).clip(0)
    j = pl.col("_j")
    is_read = pl.col("_k") < pl.col("refs")
    partial = is_read & (j >= tin // block_tokens)  # a partial last block: unique, never hits
    block = (
        pl.when(partial)
        .then(pl.lit(_PARTIAL_BIT, dtype=_U64) + pl.col("row").cast(_U64))
        .otherwise(splitmix64(pl.col("_session") + j.cast(_U64)) % _PARTIAL_BIT)
    )
    carried = {
        "refs": n_reads.fill_null(0).cast(pl.Int32()),
        "pbt": pl.lit(None, dtype=pl.Int32()),
        "_code": pl.when(has & tin.is_null()).then(5).cast(pl.Int8()),  # input_tokens missing
        "_session": pl.col("session_id").hash(_SESSION_SEED),
        "_writes": n_writes.fill_null(0).cast(pl.Int32()),
    }
    lists = {
        "_j": pl.concat_list(
            pl.int_ranges(0, n_reads, dtype=pl.Int64()),
            pl.int_ranges(full_in, full_in + n_writes, dtype=pl.Int64()),
        ),
        "_k": pl.int_ranges(0, n_reads + n_writes, dtype=pl.Int64()),
    }
    hit = pl.when(is_read).then((tin - j * block_tokens).clip(0, block_tokens)).otherwise(0)
    out = {
        "block_id": pl.col("_block"),
        "counted": is_read,
        "hit_tokens": hit.cast(pl.Int64()),
        "tokens": tin.clip(0).fill_null(0),
        "writes": pl.col("_writes").cast(pl.Int64()),
    }
    return _records(frame, carried, lists, block, rate, out, head)


__all__ = ["CheckRefs", "SampledRefs", "guess_block_tokens", "prefix_rows", "prepare_frame",
           "session_records", "shards_keep", "splitmix64"]  # fmt: skip
