"""A trace's token profile computed per partition and merged: the scale path of the pipeline.

Each partition is scanned once (``scan_partition``), given the per-request token features
(``tracelab.features.compute_token_features``), cut to the ten columns used, and reduced to
small mergeable pieces: per (window, model) sums, exact totals and 1% quantile sketches
(``LogHistogram``) of the length and latency columns. The client merges them in partition
order, so ``run_profile`` gives the same result whichever executor ran the partitions.

Windows are ``window_s`` wide and aligned to the Unix epoch, so a window split across two
partitions merges exactly (its sums add). Units: tokens, seconds, requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.scale.executor import Executor, LocalExecutor
from tracelab.scale.partition import TARGET_ROWS, Partition, plan_partitions, scan_partition
from tracelab.scale.sketch import DEFAULT_ALPHA, LogHistogram, merge_sketches, read_sketches

SKETCH_COLUMNS: tuple[str, ...] = (
    "input_tokens", "output_tokens", "context_tokens", "ttft_s", "e2e_latency_s",
)
SUM_COLUMNS: tuple[str, ...] = (
    "input_tokens", "cached_input_tokens", "output_tokens", "prefill_tokens", "context_tokens",
)
# Floats in the JSON are rounded to this many significant digits so that sums whose
# addition order differs (threads, partitions) print the same.
SIGNIFICANT_DIGITS = 9


@dataclass(frozen=True)
class ProfileTask:
    """What one worker needs: the partition and the settings (small and picklable)."""

    partition: Partition
    window_s: float = 60.0
    alpha: float = DEFAULT_ALPHA


@dataclass
class PartitionProfile:
    """One partition's mergeable summary."""

    index: int
    rows: int
    windows: pl.DataFrame  # window_start_us, model, requests, <SUM_COLUMNS>, ttft_s_sum, ttft_n
    sketches: dict[str, LogHistogram] = field(default_factory=dict)


def compute_window_sums(frame: pl.LazyFrame, window_s: float) -> pl.LazyFrame:
    """Per (epoch-aligned window, model): requests, token sums, TTFT sum and count."""
    width_us = round(window_s * 1_000_000)
    start = (pl.col("arrival_ts").dt.epoch("us") // width_us) * width_us
    return (
        frame.group_by(start.alias("window_start_us"), pl.col("model"))
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            *(pl.col(c).sum().cast(pl.Int64).alias(c) for c in SUM_COLUMNS),
            pl.col("ttft_s").sum().alias("ttft_s_sum"),
            pl.col("ttft_s").count().cast(pl.Int64).alias("ttft_n"),
        )
        .sort("window_start_us", "model", nulls_last=True)
    )


def compute_partition_profile(task: ProfileTask) -> PartitionProfile:
    """Scan, featurise and reduce one partition (runs on a worker)."""
    from tracelab.features.tokens import compute_token_features

    # Ingest validation reads every column whatever is selected, so the partition is
    # scanned once and only the columns the reductions need are kept (~80 bytes a row).
    needed = dict.fromkeys(["arrival_ts", "model", *SUM_COLUMNS, *SKETCH_COLUMNS])
    frame = (
        scan_partition(task.partition)
        .with_columns(compute_token_features())
        .select(list(needed))
        .collect(engine="streaming")
        .lazy()
    )
    windows = compute_window_sums(frame, task.window_s).collect()
    sketches = read_sketches(frame, SKETCH_COLUMNS, alpha=task.alpha)
    rows = int(windows.get_column("requests").sum())
    return PartitionProfile(task.partition.index, rows, windows, sketches)


def merge_profiles(parts: Sequence[PartitionProfile]) -> PartitionProfile:
    """Combine partition profiles in index order: window sums add, sketches merge."""
    ordered = sorted(parts, key=lambda p: p.index)
    if not ordered:
        msg = "no partition to merge"
        raise ValueError(msg)
    windows = pl.concat([p.windows for p in ordered], how="vertical_relaxed")
    keys = ["window_start_us", "model"]
    merged = (
        windows.group_by(keys, maintain_order=True)
        .agg(pl.exclude(keys).sum())
        .sort(keys, nulls_last=True)
    )
    sketches = merge_sketches(p.sketches for p in ordered)
    return PartitionProfile(-1, sum(p.rows for p in ordered), merged, sketches)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def profile_to_json(profile: PartitionProfile, window_s: float) -> dict[str, Any]:
    """A deterministic, JSON-ready summary: totals, quantiles (p50/p90/p99), sketches, windows."""
    win = profile.windows
    totals = {c: int(win.get_column(c).sum()) for c in SUM_COLUMNS}
    ttft_n = int(win.get_column("ttft_n").sum())
    quantiles = {
        name: {f"p{q}": _round(s.quantile(q / 100)) for q in (50, 90, 99)}
        for name, s in sorted(profile.sketches.items())
    }
    per_window = (
        win.group_by("window_start_us").agg(pl.col("requests").sum()).sort("window_start_us")
    )
    return {
        "requests": profile.rows,
        "window_s": window_s,
        "windows": per_window.height,
        "peak_window_requests": int(per_window.select(pl.col("requests").max()).item() or 0),
        "totals": totals,
        "mean_ttft_s": _round(float(win.get_column("ttft_s_sum").sum()) / ttft_n) if ttft_n else None,
        "quantiles": quantiles,
        "sketches": {name: s.to_json() for name, s in sorted(profile.sketches.items())},
        "by_window_model": [
            {k: _round(v) for k, v in row.items()} for row in win.iter_rows(named=True)
        ],
    }


def run_profile(
    paths: str | Path | Sequence[str | Path],
    *,
    executor: Executor | None = None,
    format: str | None = None,
    window_s: float = 60.0,
    target_rows: int = TARGET_ROWS,
    alpha: float = DEFAULT_ALPHA,
) -> dict[str, Any]:
    """Plan partitions, map ``compute_partition_profile`` on ``executor``, merge on the client."""
    partitions = plan_partitions(paths, format=format, target_rows=target_rows)
    tasks = [ProfileTask(p, window_s, alpha) for p in partitions]
    runner: Executor = executor or LocalExecutor()
    parts = runner.map_partitions(compute_partition_profile, tasks)
    merged = merge_profiles(parts)
    out = profile_to_json(merged, window_s)
    out["partitions"] = len(partitions)
    return out


