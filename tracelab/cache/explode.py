"""Explode per-row block lists in numpy: the SHARDS sample and the unsampled check subset.

``scan.prefix_rows`` hands over one record per prefix-block row with its whole block list.
Each batch's lists are flattened once (``flatten``) and hashed in cache-sized chunks
(``stack.compute_shards_mask``, the same splitmix64 test as ``scan.shards_keep``); only the
kept references get per-reference columns, gathered from their row. The engine thus decodes
the lists while this runs on the main thread, and no column is repeated for the references
the sample drops (on 10M requests, 35M references for a 1.7M sample).

``FirstReferences`` keeps the stream's first references unsampled from the same batches, so
the SHARDS error check needs no second scan.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tracelab.cache.scan import CheckRefs
from tracelab.cache.stack import compute_shards_mask

SAMPLE_SCHEMA: dict[str, pl.DataType] = {
    "block_id": pl.UInt64(), "row": pl.Int64(), "counted": pl.Boolean(),
    "hit_tokens": pl.Int64(), "_j": pl.Int64(), "_ts": pl.Int64(), "_file": pl.UInt64(),
    "_srow": pl.Int64(),
}  # fmt: skip


def in_reference_order(refs: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``refs`` sorted by ``keys`` (nulls last), stably; no sort when already in that order.

    Nulls go last through an ``is_null`` flag before each nullable key: a multi-key sort with
    ``nulls_last=True`` was 5x slower in polars 2.1.
    """
    later = pl.lit(True)
    for name in reversed(keys):  # lexicographic (keys) >= previous reference
        col, before = pl.col(name), pl.col(name).shift(1)
        later = (col > before) | ((col == before) & later) if name != keys[-1] else col >= before
    present = pl.all_horizontal(pl.col(n).is_not_null() for n in keys).all()
    if refs.height < 2 or refs.select(present & later.slice(1).all()).item():
        return refs
    nullable = [n for n in keys if refs[n].null_count()]
    flags = [pl.col(n).is_null().alias(f"_null{n}") for n in nullable]
    by = [e for n in keys for e in ([f"_null{n}"] if n in nullable else []) + [n]]
    return (
        refs.with_columns(flags).sort(by, maintain_order=True).drop(f"_null{n}" for n in nullable)
    )


def _values(series: pl.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """An integer column as numpy (nulls as 0) and its null mask (None: no nulls)."""
    if not series.null_count():
        return series.to_numpy(), None
    return series.fill_null(0).to_numpy(), series.is_null().to_numpy()


def flatten(lists: pl.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """The lists' block ids in row order (uint64) and which are null (None: none is); a null
    id is never a reference."""
    return _values(lists.explode(empty_as_null=False, keep_nulls=False))


class SampleParts:
    """The kept references of each batch's good rows, as numpy arrays; one frame at the end.

    Per batch: which flattened blocks are kept (all, or the SHARDS hash test), the row each
    comes from (a binary search over the rows' block offsets) and its per-row fields by
    numpy gathers; no polars call per batch (each costs a query plan).
    """

    def __init__(self, block_tokens: int, rate: float | None) -> None:
        self.block_tokens = block_tokens
        self.rate = rate
        self.columns: dict[str, list[np.ndarray]] = {name: [] for name in SAMPLE_SCHEMA}
        self.nulls: dict[str, list[np.ndarray]] = {"_ts": [], "_srow": []}

    def add(
        self, batch: pl.DataFrame, ids: np.ndarray, missing: np.ndarray | None, good: np.ndarray
    ) -> None:
        """Keep a ``prefix_rows`` batch's sampled references (``ids``/``missing``: ``flatten``)."""
        lengths = batch["refs"].to_numpy()
        ends = np.cumsum(lengths, dtype=np.int64)
        if self.rate is None:
            keep = np.repeat(good, lengths)
        else:
            keep = compute_shards_mask(ids, self.rate)
        if missing is not None:
            keep &= ~missing
        at = np.flatnonzero(keep)
        row_of = np.searchsorted(ends, at, side="right")
        if self.rate is not None:
            at, row_of = at[good[row_of]], row_of[good[row_of]]
        j = at - (ends - lengths)[row_of]
        tin, no_tin = _values(batch["input_tokens"])
        tin = tin[row_of]
        hit = np.clip(tin - j * self.block_tokens, 0, self.block_tokens)
        if no_tin is not None:
            hit[no_tin[row_of]] = self.block_tokens  # no prompt length: the whole block
        got = {
            "block_id": ids[at], "row": batch["row"].to_numpy()[row_of],
            "counted": np.ones(at.size, dtype=bool), "hit_tokens": hit, "_j": j,
            "_file": _values(batch["_file"])[0][row_of],
        }  # fmt: skip
        for name in ("_ts", "_srow"):
            values, null = _values(batch[name])
            got[name] = values[row_of]
            self.nulls[name].append(np.zeros(at.size, bool) if null is None else null[row_of])
        for name, value in got.items():
            self.columns[name].append(value)

    def frame(self) -> pl.DataFrame:
        """All kept references (``SAMPLE_SCHEMA``), in batch order."""
        if not self.columns["row"]:
            return pl.DataFrame(schema=SAMPLE_SCHEMA)
        frame = pl.DataFrame(
            {name: np.concatenate(parts) for name, parts in self.columns.items()},
            schema=SAMPLE_SCHEMA,
        )
        for name, parts in self.nulls.items():
            null = np.concatenate(parts)
            if null.any():
                frame = frame.with_columns(
                    pl.when(pl.Series(null)).then(None).otherwise(pl.col(name)).alias(name)
                )
        return frame


class FirstReferences:
    """The first ``n`` records of the stream, unsampled: the references among them.

    A record is a block of a ``_batches`` row, or one (null) record for a row with an empty
    or no list (as ``LazyFrame.explode(empty_as_null=True)``); references are the blocks of
    good rows. Batches must come in row order (``collect_batches`` keeps it).
    """

    def __init__(self, n: int) -> None:
        self.left = n
        self.parts: list[pl.DataFrame] = []

    def add(
        self, batch: pl.DataFrame, ids: np.ndarray, missing: np.ndarray | None, good: np.ndarray
    ) -> None:
        """Take this batch's share of the first records (none once ``n`` are seen)."""
        if self.left <= 0:
            return
        lengths = batch["refs"].to_numpy().astype(np.int64)
        records = np.maximum(lengths, 1)
        starts = np.cumsum(records) - records
        k = int(np.searchsorted(starts, self.left))  # rows starting within the first records
        row_of = np.repeat(np.arange(k), lengths[:k])
        block_start = np.cumsum(lengths[:k]) - lengths[:k]
        j = np.arange(row_of.size) - block_start[row_of]
        take = good[row_of] & (starts[row_of] + j < self.left)
        if missing is not None:
            take &= ~missing[: row_of.size]
        self.left -= int(records.sum())
        self.parts.append(
            batch.select("row", "_ts", "_srow")[row_of[take]].with_columns(
                pl.Series("block_id", ids[: row_of.size][take], pl.UInt64()),
                pl.Series("_j", j[take], pl.Int64()),
            )
        )

    def result(self) -> CheckRefs:
        """The references ordered by arrival time, source row and row (files are not ranked:
        a check subset)."""
        refs = pl.concat(self.parts) if self.parts else pl.DataFrame(
            schema={"row": pl.Int64(), "_ts": pl.Int64(), "_srow": pl.Int64(),
                    "block_id": pl.UInt64(), "_j": pl.Int64()}
        )  # fmt: skip
        refs = in_reference_order(refs, ["_ts", "_srow", "row", "_j"])
        ids = refs["block_id"].to_numpy().astype(np.uint64, copy=False)
        return CheckRefs(block_ids=ids, counted=np.ones(ids.size, dtype=bool))
