"""Demand per workload class: prefill and decode token rates per time window, at a percentile.

A class is ``(model_id, label_mode, label_context, label_phase)`` (``by="labels"``) or
``(model_id, label_mode, cluster)`` (``by="cluster"``). For each class the trace is cut into
windows of ``window_s`` seconds from the first arrival; the rates of every window (zero when
the class is idle) give the planning rate at ``percentile``, never below the class's mean
rate over the span (a fleet sized below the mean cannot serve the work at all). The span
is first to last arrival (one window when they coincide). Modes with a
deadline longer than a window are planned at their mean rate: the deadline lets their work
be smoothed. ``growth`` scales the planned rates. Rates are tokens/s; KV is in tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tracelab.errors import ConfigError, InputFileError
from tracelab.lookup import lookup
from tracelab.plan.slo import Slo, slo_for
from tracelab.scale.sketch import DEFAULT_ALPHA, bucket_value, compute_bucket_counts

BY_CHOICES = ("labels", "cluster")
REQUIRED = ("request_id", "arrival_ts", "model_id", "prefill_tokens", "decode_tokens", "label_mode")
KEYS = {
    "labels": ("model_id", "label_mode", "label_context", "label_phase"),
    "cluster": ("model_id", "label_mode", "cluster"),
}
# TPOT assumed to hold a request's KV in memory when neither its SLO nor its log gives one:
# the interactive default (tracelab/data/slo.toml).
FALLBACK_TPOT_S = 0.04
# Token columns the ledger charges, summed per request as integers (see plan/ledger.py).
LEDGER_TOKENS = ("prefill_tokens", "decode_tokens", "cache_hit_tokens")


@dataclass(frozen=True)
class Demand:
    """What the fleet must serve.

    ``classes``: one row per class — ``class_id``, the key columns, ``requests``,
    ``prefill_tokens``/``decode_tokens`` (totals after cache credit), the planned
    ``prefill_tokens_per_s``/``decode_tokens_per_s`` (percentile or mean, × growth), the
    ``mean_*`` and ``peak_*`` rates, ``context_tokens`` (the class's representative prompt,
    at ``percentile``) and ``kv_tokens`` (concurrent KV tokens at ``percentile``).
    ``requests``: the per-request frame with ``class_id`` and ``plan_*`` token columns.
    ``model_mapping``: requests per (logged ``model``, ``model_id``), None without a
    ``model`` column. ``totals``: per class, ``requests``, the float sums
    ``plan_prefill_tokens``/``plan_decode_tokens`` and the integer token totals the ledger
    reports (``prefill_tokens``, ``decode_tokens``, ``cache_hit_tokens``).
    """

    classes: pl.DataFrame
    requests: pl.LazyFrame
    by: str
    window_s: float
    percentile: float
    growth: float
    span_s: float
    windows: int
    model_mapping: pl.DataFrame | None = None
    totals: pl.DataFrame | None = None


def _class_id(by: str) -> pl.Expr:
    if by == "labels":
        parts = ["label_phase", "label_mode", "label_context", "model_id"]
    else:
        parts = ["cluster_name", "label_mode", "model_id"]
    return pl.concat_str(
        [pl.col(p).cast(pl.String).fill_null("unknown") for p in parts], separator=" "
    ).alias("class_id")


def scan_plan_requests(labeled: pl.LazyFrame, by: str = "labels") -> pl.LazyFrame:
    """The labelled frame with ``class_id`` and the token columns the plan charges.

    ``plan_prefill_tokens`` = prefill_tokens minus the simulated ``cache_hit_tokens``
    (optional column; null or absent = no extra credit), floored at 0;
    ``plan_cache_hit_tokens`` = prompt tokens that never needed prefill (the log's
    ``cached_input_tokens`` plus the credit applied).
    """
    if by not in BY_CHOICES:
        msg = f"--by {by!r} is not a class grouping; use one of {', '.join(BY_CHOICES)}"
        raise ConfigError(msg)
    names = labeled.collect_schema().names()
    needed = [*REQUIRED, *KEYS[by][2:]] + (["cluster_name"] if by == "cluster" else [])
    missing = [c for c in needed if c not in names]
    if missing:
        msg = (
            f"labelled frame lacks {', '.join(missing)}; run it through tracelab.labels."
            "label_trace first (tracelab label)"
        )
        raise InputFileError(msg)
    hits = pl.col("cache_hit_tokens") if "cache_hit_tokens" in names else pl.lit(0)
    cached = pl.col("cached_input_tokens") if "cached_input_tokens" in names else pl.lit(0)
    context = pl.col("context_tokens") if "context_tokens" in names else pl.col("prefill_tokens")
    prefill = pl.col("prefill_tokens").cast(pl.Float64).fill_null(0.0).clip(0.0)
    credit = pl.min_horizontal(hits.cast(pl.Float64).fill_null(0.0).clip(0.0), prefill)
    frame = labeled.with_columns(
        _class_id(by),
        (prefill - credit).alias("plan_prefill_tokens"),
        pl.col("decode_tokens").cast(pl.Float64).fill_null(0.0).clip(0.0).alias(
            "plan_decode_tokens"
        ),
        (cached.cast(pl.Float64).fill_null(0.0).clip(0.0) + credit).alias(
            "plan_cache_hit_tokens"
        ),
        context.cast(pl.Float64).fill_null(0.0).clip(0.0).alias("plan_context_tokens"),
    )
    return frame


def _context_counts(requests: pl.LazyFrame) -> pl.DataFrame:
    """[class_id, plan_context_tokens, n]: requests per class and context length, lengths
    rounded to their 1% log bucket (``tracelab.scale.sketch``), so the groups stay a few
    thousand per class however many requests or distinct lengths the trace has (exact
    lengths made ~2M groups at 100M requests). Quantiles read from it are within 1%."""
    counts = compute_bucket_counts(requests, "plan_context_tokens", by=["class_id"])
    return counts.collect(engine="streaming").select(
        "class_id",
        bucket_value(pl.col("bucket"), pl.col("sign"), DEFAULT_ALPHA).alias("plan_context_tokens"),
        pl.col("count").alias("n"),
    )


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


def compute_demand(
    labeled: pl.LazyFrame,
    by: str = "labels",
    window_s: float = 60.0,
    percentile: float = 95.0,
    growth: float = 1.0,
    slos: dict[str, Slo] | None = None,
) -> Demand:
    """Planned token rates per class (tokens/s) from a labelled request frame."""
    if window_s <= 0 or not 0 <= percentile <= 100 or growth <= 0:
        msg = (
            f"window {window_s} s, percentile {percentile}, growth {growth}: need window > 0, "
            "0 <= percentile <= 100 and growth > 0; fix --window-s, --percentile or --growth"
        )
        raise ConfigError(msg)
    requests = scan_plan_requests(labeled, by)
    names = requests.collect_schema().names()
    keys = list(KEYS[by])
    bounds = requests.select(
        pl.col("arrival_ts").min().alias("first"), pl.col("arrival_ts").max().alias("last")
    ).collect(engine="streaming")
    if bounds.height == 0 or bounds["first"][0] is None:
        msg = "the trace has no requests with an arrival time; nothing to plan"
        raise InputFileError(msg)
    first = bounds["first"][0]
    raw_span_s = (bounds["last"][0] - first).total_seconds()
    span_s = raw_span_s if raw_span_s > 0 else window_s
    windows = int(raw_span_s // window_s) + 1
    q = percentile / 100.0

    hold_tpot = lookup("label_mode", [(m, slo.tpot_s or FALLBACK_TPOT_S)
                                       for m, slo in sorted((slos or {}).items())],
                       pl.Float64, FALLBACK_TPOT_S)
    windowed = requests.with_columns(
        ((pl.col("arrival_ts") - pl.lit(first)).dt.total_microseconds() / 1e6 // window_s)
        .cast(pl.Int64)
        .alias("window"),
        (pl.col("plan_context_tokens") * pl.col("plan_decode_tokens") * hold_tpot).alias(
            "kv_token_s"
        ),
    )
    # Two streaming passes, each memory-bounded by its number of groups (never by rows):
    # sums per (class, window[, logged model]) and request counts per (class, context).
    window_keys = ["class_id", "window"] + (["model"] if "model" in names else [])
    per_window = windowed.group_by(window_keys).agg(
        *[pl.col(k).first() for k in keys],
        pl.len().alias("requests"),
        pl.col("plan_prefill_tokens").sum().alias("p"),
        pl.col("plan_decode_tokens").sum().alias("d"),
        pl.col("plan_cache_hit_tokens").sum().alias("h"),
        pl.col("kv_token_s").sum().alias("kv"),
        *[pl.col(f"plan_{c}").cast(pl.Int64).sum().alias(c) for c in LEDGER_TOKENS],
    ).collect(engine="streaming")
    contexts = _context_counts(requests)
    mapping_frame = (
        per_window.group_by("model", "model_id").agg(pl.col("requests").sum())
        .sort("model", "model_id", nulls_last=True)
        if "model" in names else None
    )
    per_class = (
        per_window.sort(window_keys, nulls_last=True).group_by("class_id").agg(
            *[pl.col(k).first() for k in keys],
            pl.col("requests").sum(),
            pl.col("p").sum().alias("prefill_tokens"),
            pl.col("d").sum().alias("decode_tokens"),
            pl.col("h").sum().alias("cache_hit_tokens"),
        )
        .join(quantile_from_counts(contexts, "class_id", "plan_context_tokens", "n", q)
              .rename({"plan_context_tokens": "context_tokens"}), on="class_id", how="left")
        .sort("class_id")
    )
    totals = per_window.group_by("class_id").agg(
        pl.col("requests").sum(), pl.col("p").sum().alias("plan_prefill_tokens"),
        pl.col("d").sum().alias("plan_decode_tokens"), *[pl.col(c).sum() for c in LEDGER_TOKENS],
    ).sort("class_id")
    per_window = per_window.group_by("class_id", "window").agg(
        pl.col("p", "d", "kv").sum() / window_s
    )
    grid = (
        pl.DataFrame({"class_id": per_class["class_id"]})
        .join(pl.DataFrame({"window": pl.int_range(0, windows, eager=True)}), how="cross")
        .join(per_window, on=["class_id", "window"], how="left")
        .with_columns(pl.col("p", "d", "kv").fill_null(0.0))
        .group_by("class_id")
        .agg(
            pl.col("p").quantile(q, "linear").alias("pct_prefill"),
            pl.col("d").quantile(q, "linear").alias("pct_decode"),
            pl.col("p").max().alias("peak_prefill_tokens_per_s"),
            pl.col("d").max().alias("peak_decode_tokens_per_s"),
            pl.col("kv").quantile(q, "linear").alias("kv_tokens"),
        )
    )
    smooth_modes = [m for m, s in (slos or {}).items() if s.deadline_s >= window_s]
    smooth = pl.col("label_mode").is_in(smooth_modes)
    classes = (
        per_class.join(grid, on="class_id", how="left")
        .with_columns(
            (pl.col("prefill_tokens") / span_s).alias("mean_prefill_tokens_per_s"),
            (pl.col("decode_tokens") / span_s).alias("mean_decode_tokens_per_s"),
        )
        .with_columns(
            (
                pl.when(smooth)
                .then(pl.col("mean_prefill_tokens_per_s"))
                .otherwise(pl.max_horizontal("pct_prefill", "mean_prefill_tokens_per_s"))
                * growth
            ).alias("prefill_tokens_per_s"),
            (
                pl.when(smooth)
                .then(pl.col("mean_decode_tokens_per_s"))
                .otherwise(pl.max_horizontal("pct_decode", "mean_decode_tokens_per_s"))
                * growth
            ).alias("decode_tokens_per_s"),
        )
        .drop("pct_prefill", "pct_decode")
        .sort("class_id")
    )
    return Demand(
        classes=classes,
        requests=requests,
        by=by,
        window_s=window_s,
        percentile=percentile,
        growth=growth,
        span_s=span_s,
        windows=windows,
        model_mapping=mapping_frame,
        totals=totals,
    )


def slo_of_class(slos: dict[str, Slo], row: dict[str, object]) -> Slo:
    """The SLO that applies to a class row of ``Demand.classes``."""
    mode = row.get("label_mode")
    return slo_for(slos, mode if isinstance(mode, str) else None)
