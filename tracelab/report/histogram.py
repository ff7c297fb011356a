"""Length histograms: log10 token buckets, the query that fills them, and their quantiles.

Bucket i holds [10^(i/B), 10^((i+1)/B)) tokens (B = ``BINS_PER_DECADE``); zero tokens go to
bucket ``ZERO_BUCKET``. 240 buckets per decade are 0.96% wide, and a quantile read from the
histogram lies in the bucket of the exact one (geometric interpolation inside it, clamped to
the observed min and max), so it is within 1% of the exact value.
Histograms are dicts of bucket index (as text) → requests, so partitions' histograms add.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import polars as pl

BINS_PER_DECADE = 240
ZERO_BUCKET = -1

__all__ = ["BINS_PER_DECADE", "ZERO_BUCKET", "bucket_edges", "compute_hist_query",
           "histogram_quantile"]


def compute_hist_query(labeled: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Rows per log10 length bucket of ``column`` (see BINS_PER_DECADE); nulls skipped."""
    value = pl.col(column).cast(pl.Float64)
    bucket = (
        pl.when(value <= 0)
        .then(pl.lit(ZERO_BUCKET, dtype=pl.Int64))
        .otherwise((value.log10() * BINS_PER_DECADE + 1e-9).floor().cast(pl.Int64))
        .alias("bucket")
    )
    return (
        labeled.filter(pl.col(column).is_not_null()).group_by(bucket).agg(pl.len().alias("n"))
    )


def bucket_edges(index: int) -> tuple[float, float]:
    """The [low, high) token range of a length-histogram bucket."""
    if index == ZERO_BUCKET:
        return 0.0, 1.0
    return 10 ** (index / BINS_PER_DECADE), 10 ** ((index + 1) / BINS_PER_DECADE)


def histogram_quantile(hist: Mapping[str, int], q: float, low: float | None = None,
                       high: float | None = None) -> float | None:
    """Quantile ``q`` (0..1) of a length histogram, interpolated geometrically in its bucket
    and clamped to ``[low, high]`` (the observed min and max, when known)."""
    value = _histogram_quantile(hist, q)
    if value is None:
        return None
    if high is not None:
        value = min(value, float(high))
    if low is not None:
        value = max(value, float(low))
    return value


def _histogram_quantile(hist: Mapping[str, int], q: float) -> float | None:
    items = sorted((int(k), n) for k, n in hist.items())
    total = sum(n for _, n in items)
    if total == 0:
        return None
    target = q * total
    seen = 0
    for index, n in items:
        if seen + n >= target:
            low, high = bucket_edges(index)
            if index == ZERO_BUCKET:
                return 0.0
            frac = (target - seen) / n
            return math.exp(math.log(low) + frac * (math.log(high) - math.log(low)))
        seen += n
    return bucket_edges(items[-1][0])[1]
