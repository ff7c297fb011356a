"""Small, mergeable aggregates of a labeled request frame: the raw material of a report.

Every ``compute_*`` function takes the labeled LazyFrame (canonical columns + features +
labels + cluster, see ``tracelab.labels.label_trace``) and returns a small dict of counts and
sums keyed by strings, so the same code can run on each partition of a huge trace and the
results combine with :func:`merge_aggregates` (numbers add; keys ending ``_min``/``_max``
take the min/max). ``tracelab.report.summary`` turns merged aggregates into the shares,
quantiles and rates a person reads.

Units: tokens, seconds (``_s``), requests (counts). Arrival instants are microseconds since
the Unix epoch (relative traces start at the epoch, see ``schemas/request.schema.json``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

# Length histograms: log10 buckets, bucket i holds [10^(i/B), 10^((i+1)/B)) tokens; zero tokens
# go to bucket -1. 50 buckets per decade = 4.7% wide, so a quantile read from the histogram is
# within ~2.3% of the exact one (geometric interpolation inside the bucket).
BINS_PER_DECADE = 50
ZERO_BUCKET = -1

LABEL_AXES: tuple[str, ...] = (
    "label_phase",
    "label_context",
    "label_mode",
    "label_model",
    "label_placement",
)
LENGTH_COLUMNS: tuple[str, ...] = ("input_tokens", "output_tokens")
TOKEN_SUMS: tuple[str, ...] = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "prefill_tokens",
    "decode_tokens",
    "cache_hit_tokens",
)
# Timeline buckets: the smallest "nice" width giving at most MAX_TIMELINE_BUCKETS points.
NICE_BUCKETS_S: tuple[int, ...] = (
    1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400, 604800,
)
MAX_TIMELINE_BUCKETS = 120

_US = 1_000_000


def _zero(name: str) -> pl.Expr:
    return pl.col(name).fill_null(0)


def _present(frame: pl.LazyFrame) -> set[str]:
    return set(frame.collect_schema().names())


def _col_or_null(name: str, present: set[str], dtype: pl.DataType) -> pl.Expr:
    return pl.col(name) if name in present else pl.lit(None, dtype=dtype).alias(name)


def _epoch_us() -> pl.Expr:
    return pl.col("arrival_ts").dt.epoch("us")


def choose_bucket_s(span_s: float) -> int:
    """Timeline bucket width (s): the smallest nice width with ≤ 120 buckets over the span."""
    for width in NICE_BUCKETS_S:
        if span_s / width <= MAX_TIMELINE_BUCKETS:
            return width
    return NICE_BUCKETS_S[-1]


def compute_span(labeled: pl.LazyFrame) -> dict[str, Any]:
    """First and last arrival (µs since epoch) and the time base; one cheap pass."""
    present = _present(labeled)
    row = labeled.select(
        _epoch_us().min().alias("arrival_us_min"),
        _epoch_us().max().alias("arrival_us_max"),
        _col_or_null("time_base", present, pl.String()).drop_nulls().unique().sort()
        .implode().alias("time_bases"),
    ).collect().row(0, named=True)
    return {
        "arrival_us_min": row["arrival_us_min"],
        "arrival_us_max": row["arrival_us_max"],
        "time_bases": {base: 1 for base in row["time_bases"]},
    }


def compute_totals(labeled: pl.LazyFrame) -> dict[str, Any]:
    """Request counts by status, token sums (tokens) and how many rows knew each count
    (``<column>_known``): a sum over rows that all lack a count is unknown, not 0."""
    present = _present(labeled)
    sums = [
        _zero(name).sum().alias(name) if name in present else pl.lit(0).alias(name)
        for name in TOKEN_SUMS
    ]
    work = [
        _zero(name).sum().alias(name) if name in present else pl.lit(0.0).alias(name)
        for name in ("prefill_device_s", "decode_device_s")
    ]
    known = [
        pl.col(name).is_not_null().sum().alias(f"{name}_known") if name in present
        else pl.lit(0).alias(f"{name}_known")
        for name in TOKEN_SUMS
    ]
    row = labeled.select(
        pl.len().alias("requests"), *sums, *known, *work
    ).collect().row(0, named=True)
    status = (
        labeled.group_by(pl.col("status").fill_null("unknown"))
        .agg(pl.len().alias("n"))
        .collect()
    )
    row["status"] = dict(zip(status["status"].to_list(), status["n"].to_list(), strict=True))
    return row


def _hist(labeled: pl.LazyFrame, column: str) -> dict[str, int]:
    value = pl.col(column).cast(pl.Float64)
    bucket = (
        pl.when(value <= 0)
        .then(pl.lit(ZERO_BUCKET, dtype=pl.Int64))
        .otherwise((value.log10() * BINS_PER_DECADE + 1e-9).floor().cast(pl.Int64))
        .alias("bucket")
    )
    counts = (
        labeled.filter(pl.col(column).is_not_null())
        .group_by(bucket)
        .agg(pl.len().alias("n"))
        .collect()
    )
    return {str(b): n for b, n in zip(counts["bucket"], counts["n"], strict=True)}


def compute_length_histograms(labeled: pl.LazyFrame) -> dict[str, dict[str, int]]:
    """Log-bucket histograms of input and output lengths (tokens); see BINS_PER_DECADE."""
    return {column: _hist(labeled, column) for column in LENGTH_COLUMNS}


def _mix(labeled: pl.LazyFrame, keys: list[pl.Expr]) -> pl.DataFrame:
    present = _present(labeled)
    work = [
        _zero(name) if name in present else pl.lit(0.0)
        for name in ("prefill_device_s", "decode_device_s")
    ]
    return (
        labeled.group_by(keys)
        .agg(
            pl.len().alias("requests"),
            (_zero("input_tokens") + _zero("output_tokens")).sum().alias("tokens"),
            (work[0] + work[1]).sum().alias("work_s"),
        )
        .collect()
    )


def compute_label_mix(labeled: pl.LazyFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Per label axis and value: requests, tokens (input+output) and work_s (reference device-s)."""
    present = _present(labeled)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for axis in LABEL_AXES:
        if axis not in present:
            continue
        mix = _mix(labeled, [pl.col(axis).fill_null("unknown").alias("value")])
        out[axis] = {
            row["value"]: {k: row[k] for k in ("requests", "tokens", "work_s")}
            for row in mix.iter_rows(named=True)
        }
    return out


def compute_cluster_mix(labeled: pl.LazyFrame) -> dict[str, dict[str, Any]]:
    """Per cluster id: its name, requests, tokens and work_s."""
    if "cluster" not in _present(labeled):
        return {}
    mix = _mix(labeled, [pl.col("cluster"), pl.col("cluster_name")])
    return {
        ("none" if row["cluster"] is None else str(row["cluster"])): {
            "name": row["cluster_name"],
            **{k: row[k] for k in ("requests", "tokens", "work_s")},
        }
        for row in mix.iter_rows(named=True)
    }


def compute_models(labeled: pl.LazyFrame) -> dict[str, dict[str, Any]]:
    """Per model name as logged: the registry id it resolved to, how, and its request count."""
    present = _present(labeled)
    keys = [
        pl.col("model").fill_null("<none>").alias("model"),
        _col_or_null("model_id", present, pl.String()).alias("model_id"),
        _col_or_null("model_match", present, pl.String()).alias("model_match"),
    ]
    frame = labeled.group_by(keys).agg(pl.len().alias("requests")).collect()
    return {
        row["model"]: {
            "model_id": row["model_id"],
            "match": row["model_match"],
            "requests": row["requests"],
        }
        for row in frame.iter_rows(named=True)
    }


def compute_timeline(labeled: pl.LazyFrame, bucket_s: int) -> dict[str, Any]:
    """Requests and tokens per time bucket, and per bucket × label value (mode, phase, cluster).

    Buckets are absolute (epoch-aligned) so partitions merge: key = floor(arrival / bucket_s).
    """
    present = _present(labeled)
    bucket = (_epoch_us() // (bucket_s * _US)).alias("bucket")
    totals = (
        labeled.group_by(bucket)
        .agg(
            pl.len().alias("requests"),
            (_zero("input_tokens") + _zero("output_tokens")).sum().alias("tokens"),
        )
        .collect()
    )
    series: dict[str, dict[str, dict[str, int]]] = {}
    for axis in ("label_mode", "label_phase", "cluster_name"):
        if axis not in present:
            continue
        counts = (
            labeled.group_by(bucket, pl.col(axis).fill_null("unknown").alias("value"))
            .agg(pl.len().alias("n"))
            .collect()
        )
        per_value: dict[str, dict[str, int]] = {}
        for b, value, n in counts.iter_rows():
            per_value.setdefault(value, {})[str(b)] = n
        series[axis] = per_value
    return {
        "bucket_s": bucket_s,
        "requests": {str(b): n for b, n in zip(totals["bucket"], totals["requests"], strict=True)},
        "tokens": {str(b): n for b, n in zip(totals["bucket"], totals["tokens"], strict=True)},
        "series": series,
    }


def compute_arrivals(labeled: pl.LazyFrame, window_s: float) -> dict[str, Any]:
    """Burstiness aggregates: inter-arrival sums (s) and the histogram of per-window counts.

    Coefficient of variation of inter-arrivals = std/mean of gaps; index of dispersion =
    var/mean of requests per window (1 for Poisson arrivals). Windows with no arrival are
    implied by the first/last window index.
    """
    gaps = labeled.select(
        (_epoch_us().sort().diff().cast(pl.Float64) / _US).drop_nulls().alias("gap_s")
    )
    g = gaps.select(
        pl.len().alias("gap_n"),
        pl.col("gap_s").sum().alias("gap_sum_s"),
        (pl.col("gap_s") ** 2).sum().alias("gap_sumsq_s2"),
    ).collect().row(0, named=True)
    window_us = window_s * _US
    per_window = (
        labeled.group_by((_epoch_us() // window_us).cast(pl.Int64).alias("w"))
        .agg(pl.len().alias("n"))
        .collect()
    )
    if per_window.height:
        w_min, w_max = int(per_window["w"].min()), int(per_window["w"].max())  # type: ignore[arg-type]
    else:
        w_min = w_max = 0
    hist = per_window.group_by("n").agg(pl.len().alias("windows")).sort("n")
    return {
        "window_s": window_s,
        "gap_n": g["gap_n"],
        "gap_sum_s": g["gap_sum_s"] or 0.0,
        "gap_sumsq_s2": g["gap_sumsq_s2"] or 0.0,
        "window_min": w_min,
        "window_max": w_max,
        "window_counts": {str(n): w for n, w in zip(hist["n"], hist["windows"], strict=True)},
    }


def compute_aggregates(
    labeled: pl.LazyFrame, *, window_s: float = 60.0, bucket_s: int | None = None
) -> dict[str, Any]:
    """All report aggregates of one frame (or partition). ``bucket_s`` None: from the span."""
    span = compute_span(labeled)
    if bucket_s is None:
        lo, hi = span["arrival_us_min"], span["arrival_us_max"]
        bucket_s = choose_bucket_s(0.0 if lo is None else (hi - lo) / _US)
    return {
        "span": span,
        "totals": compute_totals(labeled),
        "lengths": compute_length_histograms(labeled),
        "labels": compute_label_mix(labeled),
        "clusters": compute_cluster_mix(labeled),
        "models": compute_models(labeled),
        "timeline": compute_timeline(labeled, bucket_s),
        "arrivals": compute_arrivals(labeled, window_s),
    }


def merge_aggregates(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Combine two aggregates: numbers add, ``*_min``/``*_max`` keys take min/max, dicts recurse.

    Settings (``window_s``, ``bucket_s``) and names must agree and are kept. Inter-arrival gaps
    across a partition boundary and windows split by it are the approximation of merging.
    """
    out: dict[str, Any] = dict(a)
    for key, value in b.items():
        if key not in out or out[key] is None:
            out[key] = value
        elif value is None:
            continue
        elif isinstance(value, Mapping):
            out[key] = merge_aggregates(out[key], value)
        elif key.endswith("_min"):
            out[key] = min(out[key], value)
        elif key.endswith("_max"):
            out[key] = max(out[key], value)
        elif key in ("window_s", "bucket_s", "name", "model_id", "match"):
            out[key] = value if out[key] is None else out[key]
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = out[key] + value
        else:
            out[key] = value
    return out


def bucket_edges(index: int) -> tuple[float, float]:
    """The [low, high) token range of a length-histogram bucket."""
    if index == ZERO_BUCKET:
        return 0.0, 1.0
    return 10 ** (index / BINS_PER_DECADE), 10 ** ((index + 1) / BINS_PER_DECADE)


def histogram_quantile(hist: Mapping[str, int], q: float) -> float | None:
    """Quantile ``q`` (0..1) of a length histogram, interpolated geometrically in its bucket."""
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
