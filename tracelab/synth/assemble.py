"""Assemble drawn workload columns into one canonical request frame."""

from __future__ import annotations

import numpy as np
import polars as pl

from tracelab.schema import CANONICAL_COLUMNS, conform
from tracelab.synth.workloads import BLOCK_TOKENS, Workload


def assemble_frame(
    parts: list[tuple[Workload, dict[str, np.ndarray]]],
    start_s: float,
    id_prefix: str,
    row_offset: int,
) -> pl.DataFrame:
    """Assemble the workloads' columns into one canonical frame sorted by arrival."""
    frames = []
    for order, (w, cols) in enumerate(parts):
        frame = pl.DataFrame({k: v for k, v in cols.items()}, strict=False).with_columns(
            pl.lit(w.name).alias("synth_workload"),
            pl.lit(order).alias("workload_order"),
            pl.lit(w.endpoint).alias("endpoint"),
            pl.lit(w.streaming).alias("is_streaming"),
            pl.lit(BLOCK_TOKENS if w.system_prompt_blocks else None, pl.Int64).alias(
                "prefix_block_tokens"
            ),
            (
                pl.format("{}-{}-{}", pl.lit(id_prefix), pl.lit(w.name), pl.col("session_no"))
                if w.sessions
                else pl.lit(None, pl.String)
            ).alias("session_id"),
        )
        frames.append(frame)
    blocks = pl.concat_list(
        pl.int_ranges(pl.col("sys_start"), pl.col("sys_start") + pl.col("sys_count")),
        pl.int_ranges(pl.col("new_start"), pl.col("new_start") + pl.col("new_count")),
    ).cast(pl.List(pl.UInt64))
    epoch_us = (pl.lit(start_s * 1e6) + pl.col("offset_s") * 1e6).round().cast(pl.Int64)
    frame = (
        pl.concat(frames, how="vertical")
        .sort(["offset_s", "workload_order", "session_no", "turn"], maintain_order=True)
        .with_row_index("row")
        .with_columns(
            pl.format(
                "{}-{}",
                pl.lit(id_prefix),
                (pl.col("row") + row_offset).cast(pl.String).str.zfill(9),
            ).alias("request_id"),
            pl.from_epoch(epoch_us, time_unit="us").dt.replace_time_zone("UTC").alias("arrival_ts"),
            pl.lit("absolute").alias("time_base"),
            pl.when(pl.col("prefix_block_tokens").is_not_null())
            .then(blocks)
            .alias("prefix_hash_blocks"),
            pl.when(pl.col("output_tokens") >= 0)
            .then(pl.col("output_tokens"))
            .alias("output_tokens"),
            pl.when(pl.col("cached_input_tokens") >= 0)
            .then(pl.col("cached_input_tokens"))
            .alias("cached_input_tokens"),
            pl.when(pl.col("reasoning_tokens") >= 0)
            .then(pl.col("reasoning_tokens"))
            .alias("reasoning_tokens"),
            pl.col("ttft_s").fill_nan(None),
            pl.lit("canonical").alias("source_format"),
        )
    )
    return conform(frame.lazy()).select(*CANONICAL_COLUMNS, "synth_workload").collect()
