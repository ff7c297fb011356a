"""Percentiles over time windows from the busy windows alone (idle ones enter as counts)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def quantile_from_counts(counts: pl.DataFrame, key: str, value: str, n: str,
                         q: float) -> pl.DataFrame:
    """Per ``key``, the ``q`` quantile of ``value`` repeated ``n`` times: exactly polars'
    ``quantile(q, "linear")`` of the expanded column (position q × (count − 1), linear
    between its two neighbours), from a frame of distinct values and their counts."""
    ranked = (
        counts.sort(key, value)
        .with_columns(pl.col(n).cum_sum().over(key).alias("_end"))
        .with_columns(((pl.col(n).sum().over(key) - 1) * q).alias("_pos"))
    )
    lo, hi = pl.col("_pos").floor(), pl.col("_pos").ceil()
    return ranked.group_by(key).agg(
        pl.col(value).filter(pl.col("_end") > lo).first().alias("_lo"),
        pl.col(value).filter(pl.col("_end") > hi).first().alias("_hi"),
        (pl.col("_pos") - lo).first().alias("_frac"),
    ).select(key, (pl.col("_lo") + pl.col("_frac") * (pl.col("_hi") - pl.col("_lo"))).alias(value))


def window_rates(per_window: pl.DataFrame, key: str, windows: int, q: float,
                 values: Sequence[str] = ("p", "d", "kv")) -> pl.DataFrame:
    """Per ``key``: ``pct_<v>`` (the ``q`` quantile over all ``windows`` windows, idle ones
    counting as 0) and ``peak_<v>`` of each rate column ``v`` of ``per_window`` (one row per
    key and busy window, rates ≥ 0).

    Only busy windows are stored: the idle ones enter as one (0, count) row per key, so the
    cost follows the rows of ``per_window``, not the span (a 1970 timestamp beside 2026 ones
    makes ~29M windows per class, which a materialised grid cannot hold)."""
    busy = per_window.group_by(key).agg(pl.len().alias("_busy"))
    idle = busy.select(key, (pl.lit(windows, pl.Int64) - pl.col("_busy")).alias("n")).filter(
        pl.col("n") > 0)
    out = per_window.group_by(key).agg(
        *[pl.col(v).max().alias(f"peak_{v}") for v in values])
    for v in values:
        counts = pl.concat([
            per_window.select(key, pl.col(v).cast(pl.Float64), pl.lit(1, pl.Int64).alias("n")),
            idle.select(key, pl.lit(0.0).alias(v), "n"),
        ])
        out = out.join(quantile_from_counts(counts, key, v, "n", q).rename({v: f"pct_{v}"}),
                       on=key, how="left")
    return out
