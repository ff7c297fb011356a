"""Run the streaming reference pass: sample, per-row counts, rejects, models, order.

``collect_sample`` drives one scan of the block lists (see ``tracelab.cache.scan`` for the
record query); ``first_references`` reads a short exact prefix for the SHARDS error check.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tracelab.cache.blocks import REJECTED_SCHEMA, prefix_reason_text
from tracelab.cache.scan import _FILE_SEED, SampledRefs, prefix_records, session_records


def _order_keys(sample: pl.DataFrame, files: pl.DataFrame | None) -> pl.DataFrame:
    """Replace the file hash by the file's rank (string order; 0 when ``files`` is None: one
    file), then sort if out of order."""
    if files is None:
        sample = sample.with_columns(pl.lit(0, dtype=pl.UInt32()).alias("_rank")).drop("_file")
    else:
        ranks = files.select(
            pl.col("source_file").hash(_FILE_SEED).alias("_file"),
            pl.col("source_file").rank("dense").cast(pl.UInt32()).alias("_rank"),
        )
        sample = sample.join(ranks, on="_file", how="left", maintain_order="left").drop("_file")
    keys = ["_ts", "_rank", "_srow", "row", "_j"]
    later = pl.lit(True)
    for name in reversed(keys):  # lexicographic (keys) >= previous reference
        col, before = pl.col(name), pl.col(name).shift(1)
        later = (col > before) | ((col == before) & later) if name != keys[-1] else col >= before
    present = pl.all_horizontal(pl.col(n).is_not_null() for n in keys[:3]).all()
    if sample.height > 1 and not sample.select(present & later.slice(1).all()).item():
        sample = sample.sort(keys, nulls_last=True, maintain_order=True)
    return sample


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
    evidence: str, block_tokens: int, rate: float | None, frame: pl.LazyFrame
) -> tuple[SampledRefs, pl.DataFrame]:
    """One streaming scan: the sample in reference order, and the block sizes of block rows.

    The engine explodes and samples (``prefix_records``/``session_records``) and hands over
    record batches (``collect_batches``); each batch's row records are reduced to counts at
    once, so the block lists are decoded once, and neither the full reference stream nor a
    per-request frame ever exists. This loop over batches (not rows) is the one place the
    pass is driven from Python.
    """
    build = prefix_records if evidence == "prefix_blocks" else session_records
    query = build(_batches(frame, evidence), block_tokens, rate)
    parts: list[pl.DataFrame] = []
    rows: list[np.ndarray] = []
    rejected_parts: list[pl.DataFrame] = []
    n_good = reads = tokens = 0
    columns = ["block_id", "row", "counted", "hit_tokens", "_j", "_ts", "_file", "_srow"]
    sizes: dict[int, int] = {}
    for batch in query.collect_batches(engine="streaming"):
        parts.append(batch.filter(batch["_keep"]).select(columns))
        first = batch["_first"].to_numpy()
        ok = (~batch["_bad"] & batch["_code"].is_null()).to_numpy()
        good = first & ok
        n_refs, writes = batch["refs"].to_numpy(), batch["writes"].to_numpy()
        n_good += int(good.sum())
        reads += int(n_refs[good].sum())
        tokens += int(batch["tokens"].to_numpy()[good].sum())
        rows.append(batch["row"].to_numpy()[good & (n_refs + writes > 0)])
        if not ok.all():
            rejected_parts.append(
                batch.filter(first & ~ok).select(
                    "row", "_code", "refs", "input_tokens", pl.col("pbt").alias("prefix_block_tokens")
                )
            )  # fmt: skip
        pbt = batch["pbt"]
        values, counts = np.unique(
            pbt.filter(batch["_first"] & (pbt >= 1)).to_numpy(), return_counts=True
        )
        for value, count in zip(values.tolist(), counts.tolist(), strict=True):
            sizes[value] = sizes.get(value, 0) + count
    rejected_rows = (
        pl.concat(rejected_parts)
        if rejected_parts
        else pl.DataFrame(schema={"row": pl.Int64(), "_code": pl.Int8()})
    )
    sample = pl.concat(parts) if parts else query.head(0).select(columns).collect()
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
    sample = _order_keys(sample, files)
    span = stats["span_s"].item()
    refs = SampledRefs(
        evidence=evidence,
        block_tokens=block_tokens,
        rate=rate,
        block_ids=sample["block_id"].to_numpy().astype(np.uint64, copy=False),
        row=sample["row"].to_numpy().astype(np.int64, copy=False),
        counted=sample["counted"].to_numpy().astype(bool, copy=False),
        hit_tokens=sample["hit_tokens"].to_numpy().astype(np.int64, copy=False),
        n_reads=reads,
        read_tokens=tokens,
        n_rows=int(stats["n_kept"].item()) + rejected.height,
        evidence_rows=np.concatenate(rows).astype(np.int64, copy=False)
        if rows
        else np.zeros(0, np.int64),
        model_counts=models,
        rejected=rejected.cast(REJECTED_SCHEMA),  # type: ignore[arg-type]
        rows_without_evidence=int(stats["n_kept"].item()) - n_good,
        span_hours=float(span) / 3600.0 if span else None,
    )
    return refs, pl.DataFrame(
        {"pbt": list(sizes), "n": list(sizes.values())}, schema={"pbt": pl.Int32(), "n": pl.Int64()}
    )


def first_references(
    frame: pl.LazyFrame, evidence: str, block_tokens: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Block ids and read flags of the first ``n`` references in frame order (a slice scan),
    ordered by arrival time, source row and row (files are not ranked: a check subset)."""
    build = prefix_records if evidence == "prefix_blocks" else session_records
    got = (
        build(_batches(frame, evidence), block_tokens, None, head=n)
        .filter("_keep")
        .collect(engine="streaming")
        .sort(["_ts", "_srow", "row", "_j"], nulls_last=True, maintain_order=True)
    )
    return (
        got["block_id"].to_numpy().astype(np.uint64, copy=False),
        got["counted"].to_numpy().astype(bool, copy=False),
    )
