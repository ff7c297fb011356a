"""Run the streaming reference pass: sample, per-row counts, rejects, models, order.

``collect_sample`` drives one scan of the block lists (see ``tracelab.cache.scan`` for the
queries, ``tracelab.cache.explode`` for the numpy side of prefix blocks), which also keeps the
first references unsampled for the SHARDS error check; ``first_references`` reads them with a
second, short scan for session evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from tracelab.cache.blocks import REJECTED_SCHEMA, prefix_reason_text
from tracelab.cache.explode import (
    SAMPLE_SCHEMA,
    FirstReferences,
    SampleParts,
    flatten,
    in_reference_order,
)
from tracelab.cache.scan import _FILE_SEED, SampledRefs, prefix_rows, session_records


def _order_keys(
    sample: pl.DataFrame, files: pl.DataFrame | None,
    keys: tuple[str, ...] = ("_ts", "_rank", "_srow", "row", "_j"),
) -> pl.DataFrame:  # fmt: skip
    """Replace the file hash by the file's rank (string order; 0 when ``files`` is None: one
    file), then sort by ``keys`` if out of order."""
    if files is None:
        sample = sample.with_columns(pl.lit(0, dtype=pl.UInt32()).alias("_rank")).drop("_file")
    else:
        ranks = files.select(
            pl.col("source_file").hash(_FILE_SEED).alias("_file"),
            pl.col("source_file").rank("dense").cast(pl.UInt32()).alias("_rank"),
        )
        sample = sample.join(ranks, on="_file", how="left", maintain_order="left").drop("_file")
    return in_reference_order(sample, list(keys))


@dataclass
class _Tally:
    """Whole-stream counts over the pass's per-row records (one per ``_batches`` row)."""

    n_good: int = 0
    reads: int = 0
    tokens: int = 0
    rows: list[np.ndarray] = field(default_factory=list)
    rejected: list[pl.DataFrame] = field(default_factory=list)
    sizes: dict[int, int] = field(default_factory=dict)

    def add(self, per_row: pl.DataFrame) -> np.ndarray:
        """Count a batch's rows; return which are good (not rejected)."""
        ok = (~per_row["_bad"] & per_row["_code"].is_null()).to_numpy()
        n_refs = per_row["refs"].to_numpy()
        writes = per_row["writes"].to_numpy() if "writes" in per_row.columns else 0
        self.n_good += int(ok.sum())
        self.reads += int(n_refs[ok].sum())
        self.tokens += int(per_row["tokens"].to_numpy()[ok].sum())
        self.rows.append(per_row["row"].to_numpy()[ok & (n_refs + writes > 0)])
        if not ok.all():
            self.rejected.append(
                per_row.filter(~ok).select(
                    "row", "_code", "refs", "input_tokens", pl.col("pbt").alias("prefix_block_tokens")
                )
            )  # fmt: skip
        pbt = per_row["pbt"]
        values, counts = np.unique(pbt.filter(pbt >= 1).to_numpy(), return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            self.sizes[value] = self.sizes.get(value, 0) + count
        return ok


def _kept_details(
    frame: pl.LazyFrame, rejected_rows: pl.DataFrame, with_files: bool
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """Models, row count and arrival span, files: over the kept rows, in one scan that reads
    no block list (per model: count, first and last arrival, distinct files when asked)."""
    kept = frame
    if rejected_rows.height:
        kept = frame.join(rejected_rows.lazy().select("row"), on="row", how="anti")
    ts = pl.col("arrival_ts")
    per_model = (
        kept.group_by("model")
        .agg(
            pl.len().alias("count"),
            ts.min().alias("_first"),
            ts.max().alias("_last"),
            *([pl.col("source_file").unique().alias("_files")] if with_files else []),
        )
        .collect(engine="streaming")
    )
    stats = per_model.select(
        pl.col("count").sum().alias("n_kept"),
        (pl.col("_last").max() - pl.col("_first").min())
        .dt.total_seconds(fractional=True)
        .alias("span_s"),
    )
    files = (
        per_model.select(pl.col("_files").explode().unique().alias("source_file"))
        if with_files
        else None
    )
    return per_model.select("model", "count"), stats, files


def _batches(frame: pl.LazyFrame, evidence: str) -> pl.LazyFrame:
    """The rows a reference pass reads, narrow: those with evidence or a parse reject."""
    col = "prefix_hash_blocks" if evidence == "prefix_blocks" else "session_id"
    names = ["row", "arrival_ts", "source_row", "input_tokens", "prefix_block_tokens", col]
    if evidence == "sessions":
        names.append("output_tokens")
    bad = pl.col("_reason").is_not_null()  # a parse reject; its text is read back at the end
    return frame.filter(pl.col(col).is_not_null() | bad).select(
        *names, bad.alias("_bad"), pl.col("source_file").hash(_FILE_SEED).alias("_file")
    )


def collect_sample(
    evidence: str, block_tokens: int, rate: float | None, frame: pl.LazyFrame, check: int = 0
) -> tuple[SampledRefs, pl.DataFrame]:
    """One streaming scan: the sample in reference order, and the block sizes of block rows.

    The engine hands over record batches (``collect_batches``): one record per row with its
    block list for prefix blocks (exploded and sampled in numpy, ``tracelab.cache.explode``),
    exploded and sampled references plus each row's first record for sessions. Each batch is
    reduced to counts at once, so the block lists are decoded once, and neither the full
    reference stream nor a per-request frame ever exists. This loop over batches (not rows) is
    the one place the pass is driven from Python. ``check`` > 0 (prefix blocks): also keep the
    first ``check`` records unsampled (``SampledRefs.check``).
    """
    tally = _Tally()
    first = FirstReferences(check) if check > 0 and evidence == "prefix_blocks" else None
    if evidence == "prefix_blocks":
        kept = SampleParts(block_tokens, rate)
        query = prefix_rows(_batches(frame, evidence), block_tokens)
        for batch in query.collect_batches(engine="streaming"):
            good = tally.add(batch)
            ids, missing = flatten(batch["_blocks"])
            kept.add(batch, ids, missing, good)
            if first is not None:
                first.add(batch, ids, missing, good)
        sample = kept.frame()
    else:
        parts: list[pl.DataFrame] = []
        query = session_records(_batches(frame, evidence), block_tokens, rate)
        for batch in query.collect_batches(engine="streaming"):
            parts.append(batch.filter(batch["_keep"]).select(list(SAMPLE_SCHEMA)))
            tally.add(batch.filter(batch["_first"]))
        sample = pl.concat(parts) if parts else pl.DataFrame(schema=SAMPLE_SCHEMA)
    done = finish_sample(frame, block_tokens, sample, tally)
    sample, rejected = done.sample, done.rejected
    refs = SampledRefs(
        evidence=evidence,
        block_tokens=block_tokens,
        rate=rate,
        block_ids=sample["block_id"].to_numpy().astype(np.uint64, copy=False),
        row=sample["row"].to_numpy().astype(np.int64, copy=False),
        counted=sample["counted"].to_numpy().astype(bool, copy=False),
        hit_tokens=sample["hit_tokens"].to_numpy().astype(np.int64, copy=False),
        n_reads=tally.reads,
        read_tokens=tally.tokens,
        n_rows=done.n_rows,
        evidence_rows=done.evidence_rows,
        model_counts=done.models,
        rejected=rejected,
        rows_without_evidence=done.rows_without_evidence,
        span_hours=done.span_hours,
        check=None if first is None else first.result(),
    )
    sizes = tally.sizes
    return refs, pl.DataFrame(
        {"pbt": list(sizes), "n": list(sizes.values())}, schema={"pbt": pl.Int32(), "n": pl.Int64()}
    )


@dataclass(frozen=True)
class FinishedSample:
    """A pass's records in reference order and the whole-stream facts beside them."""

    sample: pl.DataFrame
    rejected: pl.DataFrame
    models: pl.DataFrame
    n_rows: int
    rows_without_evidence: int
    span_hours: float | None
    evidence_rows: np.ndarray


def finish_sample(
    frame: pl.LazyFrame, block_tokens: int, sample: pl.DataFrame, tally: _Tally,
    keys: tuple[str, ...] = ("_ts", "_rank", "_srow", "row", "_j"),
) -> FinishedSample:  # fmt: skip
    """Rejected rows with their reasons, models, row counts and span over the kept rows, and
    ``sample`` (with ``_file``, ``_ts``, ``_srow``, ``row``) sorted into reference order."""
    rejected_rows = (
        pl.concat(tally.rejected)
        if tally.rejected
        else pl.DataFrame(schema={"row": pl.Int64(), "_code": pl.Int8()})
    )
    # file ranks only matter when the sample spans several files
    several = sample.select(pl.col("_file").n_unique()).item() > 1
    models, stats, files = _kept_details(frame, rejected_rows, several)
    text = prefix_reason_text(pl.col("_code"), block_tokens, pl.col("refs"))
    rejected = (
        frame.select("row", "request_id", "source_file", "source_row", "_reason")
        .join(rejected_rows.lazy(), on="row", maintain_order="left", suffix="_r")
        .select(
            pl.col("request_id").cast(pl.String()),
            pl.col("source_file").cast(pl.String()),
            pl.col("source_row").cast(pl.Int64()),
            pl.coalesce("_reason", text).alias("reason"),
        )
        .collect(engine="streaming")
        if rejected_rows.height
        else pl.DataFrame(schema=REJECTED_SCHEMA)
    )
    span = stats["span_s"].item()
    return FinishedSample(
        sample=_order_keys(sample, files, keys),
        rejected=rejected.cast(REJECTED_SCHEMA),  # type: ignore[arg-type]
        models=models,
        n_rows=int(stats["n_kept"].item()) + rejected.height,
        rows_without_evidence=int(stats["n_kept"].item()) - tally.n_good,
        span_hours=float(span) / 3600.0 if span else None,
        evidence_rows=np.concatenate(tally.rows).astype(np.int64, copy=False)
        if tally.rows
        else np.zeros(0, np.int64),
    )


def first_references(
    frame: pl.LazyFrame, evidence: str, block_tokens: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Block ids and read flags of the first ``n`` session records in frame order (a slice
    scan), ordered by arrival time, source row and row (files are not ranked: a check subset).
    Prefix blocks take them from the main scan instead (``SampledRefs.check``)."""
    got = (
        session_records(_batches(frame, evidence), block_tokens, None, head=n)
        .filter("_keep")
        .collect(engine="streaming")
    )
    got = in_reference_order(got, ["_ts", "_srow", "row", "_j"])
    return (
        got["block_id"].to_numpy().astype(np.uint64, copy=False),
        got["counted"].to_numpy().astype(bool, copy=False),
    )
