"""Demand per workload class: prefill and decode token rates per time window, at a percentile.

A class is ``(model_id, label_mode, label_context, label_phase)`` (``by="labels"``) or
``(model_id, label_mode, cluster)`` (``by="cluster"``). For each class the trace is cut into
windows of ``window_s`` seconds from the first arrival (only busy windows are stored; idle
ones count as zeros, arithmetically). A model's classes share its pools, so their planned
rates are their shares of the percentile of the model's windowed total, never below its
mean rate over the span (``plan/pooled.py``: peaks of classes that peak at different
moments do not add). The span is first to last arrival (one window when they coincide). Modes with a
deadline longer than a window are planned at their mean rate: the deadline lets their work
be smoothed. ``growth`` scales the planned rates. Rates are tokens/s; KV is in tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from tracelab.errors import ConfigError, InputFileError
from tracelab.ingest.timebase import covered_windows
from tracelab.labels.axes import UNKNOWN, get_axis
from tracelab.lookup import lookup
from tracelab.plan.pooled import compute_pooled
from tracelab.plan.slo import Slo, slo_for
from tracelab.plan.windows import quantile_from_counts, window_rates
from tracelab.scale.sketch import DEFAULT_ALPHA, bucket_value
from tracelab.streaming import collect_all

BY_CHOICES = ("labels", "cluster")
# The label axes a class is cut by (the mode also picks the class's SLO).
MODE, CONTEXT, PHASE = (get_axis(name).column for name in ("mode", "context", "phase"))
REQUIRED = ("request_id", "arrival_ts", "model_id", "prefill_tokens", "decode_tokens", MODE)
KEYS = {
    "labels": ("model_id", MODE, CONTEXT, PHASE),
    "cluster": ("model_id", MODE, "cluster"),
}
# The columns ``class_id`` joins, in order (nulls read "unknown").
CLASS_PARTS = {
    "labels": (PHASE, MODE, CONTEXT, "model_id"),
    "cluster": ("cluster_name", MODE, "model_id"),
}
# TPOT assumed to hold a request's KV in memory when neither its SLO nor its log gives one:
# the interactive default (tracelab/data/slo.toml).
FALLBACK_TPOT_S = 0.04
# Token columns the ledger charges, summed per request as integers (see plan/ledger.py).
LEDGER_TOKENS = ("prefill_tokens", "decode_tokens", "cache_hit_tokens")
# log γ of the context sketch's 1% buckets (``tracelab.scale.sketch``): γ = (1 + α) / (1 − α).
LOG_GAMMA = math.log((1 + DEFAULT_ALPHA) / (1 - DEFAULT_ALPHA))
# The context sketch's bucket for a length of 0 (the sketch's sign-0 bucket).
ZERO_BUCKET = -(2**31)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Demand:
    """What the fleet must serve.

    ``classes``: one row per class — ``class_id``, the key columns, ``requests``,
    ``prefill_tokens``/``decode_tokens`` (totals after cache credit), the planned
    ``prefill_tokens_per_s``/``decode_tokens_per_s`` (percentile or mean, × growth), the
    ``mean_*``, ``peak_*`` and ``own_pct_*`` rates (the class's own percentile, which the plan
    does not add up: see ``plan/pooled.py``), ``context_tokens`` (the class's representative prompt,
    at ``percentile``) and ``kv_tokens`` (concurrent KV tokens at ``percentile``).
    ``requests``: the per-request frame with ``class_id`` and ``plan_*`` token columns.
    ``model_mapping``: requests per (logged ``model``, ``model_id``), None without a
    ``model`` column. ``totals``: per class, ``requests``, the float sums
    ``plan_prefill_tokens``/``plan_decode_tokens`` and the integer token totals the ledger
    reports (``prefill_tokens``, ``decode_tokens``, ``cache_hit_tokens``). ``class_keys``:
    the distinct tuples of the columns each ``class_id`` joins (``CLASS_PARTS``), so the
    ledger can find a class's rows by their hash.
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
    class_keys: pl.DataFrame | None = None
    models: pl.DataFrame | None = None
    # Per class and busy window: its ``p``/``d`` tokens (the hours commitments buy burst in).
    window_tokens: pl.DataFrame | None = None


def _class_id(by: str) -> pl.Expr:
    return pl.concat_str(
        [pl.col(p).cast(pl.String).fill_null(UNKNOWN) for p in CLASS_PARTS[by]], separator=" "
    ).alias("class_id")


def class_id_expr(by: str) -> pl.Expr:
    """The plan's ``class_id`` of each labelled request (``CLASS_PARTS[by]`` joined by spaces,
    nulls read "unknown"): the one expression the plan, its ledger and the replay group by."""
    return _class_id(by)


def _check_columns(names: Sequence[str], by: str) -> None:
    if by not in BY_CHOICES:
        msg = f"by {by!r} is not a class grouping; use one of {', '.join(BY_CHOICES)}"
        raise ConfigError(msg, param="by")
    needed = [*REQUIRED, *KEYS[by][2:]] + (["cluster_name"] if by == "cluster" else [])
    missing = [c for c in needed if c not in names]
    if missing:
        msg = (
            f"labelled frame lacks {', '.join(missing)}; run it through tracelab.labels."
            "label_trace first (tracelab label)"
        )
        raise InputFileError(msg)


def _plan_tokens(names: Sequence[str]) -> dict[str, pl.Expr]:
    """The plan's token columns (see ``scan_plan_requests``) from the labelled columns."""
    hits = pl.col("cache_hit_tokens") if "cache_hit_tokens" in names else pl.lit(0)
    cached = pl.col("cached_input_tokens") if "cached_input_tokens" in names else pl.lit(0)
    context = pl.col("context_tokens") if "context_tokens" in names else pl.col("prefill_tokens")
    prefill = pl.col("prefill_tokens").cast(pl.Float64).fill_null(0.0).clip(0.0)
    credit = pl.min_horizontal(hits.cast(pl.Float64).fill_null(0.0).clip(0.0), prefill)
    return {
        "plan_prefill_tokens": prefill - credit,
        "plan_decode_tokens": pl.col("decode_tokens").cast(pl.Float64).fill_null(0.0).clip(0.0),
        "plan_cache_hit_tokens": cached.cast(pl.Float64).fill_null(0.0).clip(0.0) + credit,
        "plan_context_tokens": context.cast(pl.Float64).fill_null(0.0).clip(0.0),
    }


def scan_plan_requests(labeled: pl.LazyFrame, by: str = "labels") -> pl.LazyFrame:
    """The labelled frame with ``class_id`` and the token columns the plan charges.

    ``plan_prefill_tokens`` = prefill_tokens minus the simulated ``cache_hit_tokens``
    (optional column; null or absent = no extra credit), floored at 0;
    ``plan_cache_hit_tokens`` = prompt tokens that never needed prefill (the log's
    ``cached_input_tokens`` plus the credit applied).
    """
    names = labeled.collect_schema().names()
    _check_columns(names, by)
    tokens = _plan_tokens(names)
    return labeled.with_columns(_class_id(by), *[e.alias(n) for n, e in tokens.items()])


def class_columns(by: str, names: Sequence[str]) -> list[str]:
    """The labelled columns that make a class (its id's parts and KEYS) and the logged
    ``model``: the grouping of the demand's passes."""
    columns = list(dict.fromkeys([*KEYS[by], *CLASS_PARTS[by]]))
    return columns + (["model"] if "model" in names else [])


def key_hash(columns: Sequence[str]) -> pl.Expr:
    """One UInt64 per tuple of ``columns`` (xor of per-column hashes, seeded by position).

    Grouping 10M rows by one integer instead of five strings halves the demand pass; the
    tuples behind the hashes come from the (small) context pass, where a collision would
    show as two tuples with one hash, and then the strings are grouped instead."""
    out = pl.col(columns[0]).hash(seed=0)
    for i, column in enumerate(columns[1:], start=1):
        out = out.xor(pl.col(column).hash(seed=i))
    return out.alias("_key")


def _context_counts(labeled: pl.LazyFrame, columns: Sequence[str],
                    context: pl.Expr) -> pl.LazyFrame:
    """[columns…, bucket, count]: requests per class tuple and context length, lengths (≥ 0)
    rounded to their 1% log bucket (``tracelab.scale.sketch``'s rule; ZERO_BUCKET for 0,
    null for a null or NaN length), so the groups stay a few thousand per class however
    many requests or distinct lengths the trace has (exact lengths made ~2M groups at 100M
    requests); quantiles read from it are within 1%."""
    bucket = pl.when(context == 0).then(pl.lit(ZERO_BUCKET, pl.Int32)).otherwise(
        (context.log() / LOG_GAMMA).ceil().cast(pl.Int32, strict=False))
    return labeled.with_columns(bucket.alias("bucket")).group_by(*columns, "bucket").agg(
        pl.len().alias("count"))


def _per_window(labeled: pl.LazyFrame, group: Sequence[pl.Expr], window: pl.Expr,
                tokens: dict[str, pl.Expr]) -> pl.LazyFrame:
    """Sums per (class tuple, window): requests, plan tokens (float and the ledger's integer
    totals) and context × decode tokens (the KV hold, before its per-mode TPOT)."""
    # ``with_columns``, not ``select``: measured on 10M rows, the same query peaks at 0.28
    # instead of 0.51 GiB (polars 2.1's streaming engine).
    return labeled.with_columns(
        *group, window.alias("window"), *[e.alias(n) for n, e in tokens.items()]
    ).group_by(*[g.meta.output_name() for g in group], "window").agg(
        pl.len().alias("requests"),
        pl.col("plan_prefill_tokens").sum().alias("p"),
        pl.col("plan_decode_tokens").sum().alias("d"),
        pl.col("plan_cache_hit_tokens").sum().alias("h"),
        (pl.col("plan_context_tokens") * pl.col("plan_decode_tokens")).sum().alias("cd"),
        *[pl.col(f"plan_{c}").cast(pl.Int64).sum().alias(c) for c in LEDGER_TOKENS],
    )


def _tally(labeled: pl.LazyFrame, by: str, names: Sequence[str],
           window_s: float) -> tuple[pl.DataFrame, pl.DataFrame, Any, Any]:
    """(sums per class tuple and window with ``class_id``, context counts per class tuple
    with ``class_id``, first arrival, last arrival): two streaming passes (the first with
    the arrival bounds alongside), each bounded in memory by its groups, never by rows. The
    context pass names every class tuple, so the window pass groups by their hash and a
    collision cannot go unseen."""
    columns = class_columns(by, names)
    tokens = _plan_tokens(names)
    sketch, bounds = collect_all([
        _context_counts(labeled, columns, tokens["plan_context_tokens"]),
        labeled.select(pl.col("arrival_ts").min().alias("first"),
                       pl.col("arrival_ts").max().alias("last")),
    ])
    first, last = bounds["first"][0], bounds["last"][0]
    if first is None:
        msg = "the trace has no requests with an arrival time; nothing to plan"
        raise InputFileError(msg)
    window = ((pl.col("arrival_ts") - pl.lit(first)).dt.total_microseconds() / 1e6 // window_s
              ).cast(pl.Int64)
    tuples = sketch.select(columns).unique().with_columns(key_hash(columns), _class_id(by))
    windows = None
    if tuples["_key"].n_unique() == tuples.height:
        windows = _per_window(labeled, [key_hash(columns)], window, tokens).collect(
            engine="streaming").join(tuples, on="_key", how="left").drop("_key")
    if windows is None or windows["class_id"].null_count():
        # Two class tuples share a hash (or a hash names no tuple): group the columns.
        windows = _per_window(labeled, [pl.col(c) for c in columns], window, tokens).collect(
            engine="streaming").with_columns(_class_id(by))
    # A canonical row order (the streaming engine's is not), so every float sum after this
    # adds in the same order run after run.
    windows = windows.sort(["class_id", "window", *columns], nulls_last=True)
    return windows, sketch.with_columns(_class_id(by)), first, last


def _coverage(observed: Sequence[tuple[int, int]], first: datetime, last: datetime,
              window_s: float) -> tuple[int, float]:
    """(windows, span_s) of the plan: the windows from ``first`` that a stretch of
    ``observed`` (clipped to first..last arrival) touches, and the seconds they cover; with
    no stretches, every window from the first arrival to the last and their span (one
    window when the arrivals coincide)."""
    raw_s = (last - first).total_seconds()
    epoch = EPOCH if first.tzinfo is not None else EPOCH.replace(tzinfo=None)
    lo_us, hi_us = (first - epoch) // MICROSECOND, (last - epoch) // MICROSECOND
    pieces = [(max(a, lo_us), min(b, hi_us)) for a, b in observed if b >= lo_us and a <= hi_us]
    if not pieces:
        return int(raw_s // window_s) + 1, raw_s if raw_s > 0 else window_s
    covered_s = sum(b - a for a, b in pieces) / 1e6
    return (covered_windows(sorted(pieces), window_s * 1e6, lo_us),
            covered_s if covered_s > 0 else window_s)


def compute_demand(
    labeled: pl.LazyFrame,
    by: str = "labels",
    window_s: float = 60.0,
    percentile: float = 95.0,
    growth: float = 1.0,
    slos: dict[str, Slo] | None = None,
    observed: Sequence[tuple[int, int]] = (),
) -> Demand:
    """Planned token rates per class (tokens/s) from a labelled request frame.
    ``observed``: the stretches of the time axis the input files cover (µs since the epoch,
    ``tracelab.ingest.TimeBases.spans``); only their windows count, idle or busy, so logs
    years apart are not planned as years of idle time (default: first to last arrival)."""
    if window_s <= 0 or not 0 <= percentile <= 100 or growth <= 0:
        msg = (
            f"window {window_s} s, percentile {percentile}, growth {growth}: need window > 0, "
            "0 <= percentile <= 100 and growth > 0"
        )
        raise ConfigError(msg, param="window_s")
    requests = scan_plan_requests(labeled, by)
    names = labeled.collect_schema().names()
    keys = list(KEYS[by])
    per_window, sketch, first, last = _tally(labeled, by, names, window_s)
    windows, span_s = _coverage(observed, first, last, window_s)
    q = percentile / 100.0
    # The KV a request holds: context × decode tokens × its mode's TPOT (the mode is one
    # column of the class tuple, so the TPOT multiplies each tuple's sum).
    hold_tpot = lookup(MODE, [(m, slo.tpot_s or FALLBACK_TPOT_S)
                              for m, slo in sorted((slos or {}).items())],
                       pl.Float64, FALLBACK_TPOT_S)
    per_window = per_window.with_columns((pl.col("cd") * hold_tpot).alias("kv"))
    zero = pl.col("bucket") == ZERO_BUCKET
    contexts = sketch.filter(pl.col("bucket").is_not_null()).group_by("class_id", "bucket").agg(
        pl.col("count").sum()
    ).select(
        "class_id",
        bucket_value(pl.when(zero).then(0).otherwise(pl.col("bucket")),
                     pl.when(zero).then(0).otherwise(1), DEFAULT_ALPHA).alias("plan_context_tokens"),
        pl.col("count").alias("n"),
    )
    mapping_frame = (
        per_window.group_by("model", "model_id").agg(pl.col("requests").sum())
        .sort("model", "model_id", nulls_last=True)
        if "model" in names else None
    )
    order = ["class_id", "window", *(["model"] if "model" in names else []), *keys]
    per_class = (
        per_window.sort(order, nulls_last=True).group_by("class_id").agg(
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
    tokens = per_window.group_by("class_id", "window").agg(pl.col("p", "d", "kv").sum()).sort(
        "class_id", "window")
    per_window = tokens.with_columns(pl.col("p", "d", "kv") / window_s)
    grid = window_rates(per_window, "class_id", windows, q).rename({
        "pct_p": "pct_prefill", "pct_d": "pct_decode", "peak_p": "peak_prefill_tokens_per_s",
        "peak_d": "peak_decode_tokens_per_s", "pct_kv": "kv_tokens"}).drop("peak_kv")
    smooth_modes = [m for m, s in (slos or {}).items() if s.deadline_s >= window_s]
    smooth = pl.col(MODE).is_in(smooth_modes)
    pooled, models = compute_pooled(tokens, per_class, windows, window_s, q, span_s,
                                    smooth_modes, MODE)
    classes = (
        per_class.join(grid, on="class_id", how="left")
        .join(pooled, on="class_id", how="left")
        .with_columns(
            (pl.col("prefill_tokens") / span_s).alias("mean_prefill_tokens_per_s"),
            (pl.col("decode_tokens") / span_s).alias("mean_decode_tokens_per_s"),
        )
        .with_columns(
            (pl.when(smooth).then(pl.col(f"mean_{phase}_tokens_per_s"))
             .otherwise(pl.col(f"pooled_{phase}_tokens_per_s")) * growth
             ).alias(f"{phase}_tokens_per_s")
            for phase in ("prefill", "decode")
        )
        .rename({"pct_prefill": "own_pct_prefill_tokens_per_s",
                 "pct_decode": "own_pct_decode_tokens_per_s"})
        .drop("pooled_prefill_tokens_per_s", "pooled_decode_tokens_per_s")
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
        class_keys=sketch.select("class_id", *CLASS_PARTS[by]).unique(),
        models=models,
        window_tokens=tokens.select("class_id", "window", "p", "d"),
    )


def slo_of_class(slos: dict[str, Slo], row: dict[str, object]) -> Slo:
    """The SLO that applies to a class row of ``Demand.classes``."""
    mode = row.get(MODE)
    return slo_for(slos, mode if isinstance(mode, str) else None)
