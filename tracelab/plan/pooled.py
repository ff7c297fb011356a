"""Planned rates that do not add peaks: a model's classes share its pools, so they are sized
by the percentile of the model's windowed total, split among the classes by their shares.

The sum of per-class percentiles over-counts whenever classes peak at different moments (on
the Azure 2023 conversation trace: 13.3K prefill tok/s against 10.8K for the p95 of the
whole; mean 6.3K). Per model, the windowed totals of its latency-bound classes (the modes
planned at a percentile) give one percentile ``R_m`` per phase; a class is planned at
``share_c × max(R_m, mean_m)`` with ``share_c`` its share of the model's tokens of that
phase over the trace. Any set of the model's classes then sums to its share of the model's
percentile: exactly the pool's own percentile when the class mix is stationary, and the
replay (``plan/repair.py``) checks the fleet where it is not. The alternative, a pool
constraint per window for the busiest windows, multiplies the MILP's rows by the windows
kept and still misses the percentile (a percentile of a sum is not linear in the routes).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tracelab.plan.windows import window_rates


def compute_pooled(per_window: pl.DataFrame, per_class: pl.DataFrame, windows: int,
                   window_s: float, q: float, span_s: float,
                   smooth_modes: Sequence[str],
                   mode: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(per class: ``class_id``, ``pooled_prefill_tokens_per_s``, ``pooled_decode_tokens_per_s``;
    per model: ``model_id`` and its windowed-total ``pct_*``/``peak_*``/``mean_*`` rates).

    ``per_window``: [class_id, window, p, d] tokens of busy windows (integer-valued, so
    their sums are exact in any order; divided by ``window_s`` after); ``per_class``:
    [class_id, model_id, ``mode`` (the mode column), prefill_tokens, decode_tokens].
    Smooth-mode classes
    (deadline ≥ window) are left out of the totals (null pooled rates): they are planned at
    their mean."""
    bound = per_class.filter(~pl.col(mode).is_in(list(smooth_modes)).fill_null(False))
    keyed = per_window.join(bound.select("class_id", "model_id"), on="class_id")
    totals = keyed.group_by("model_id", "window").agg(pl.col("p", "d").sum() / window_s)
    models = window_rates(totals.with_columns(pl.col("model_id").fill_null("")), "model_id",
                          windows, q, ("p", "d"))
    sums = bound.group_by("model_id").agg(pl.col("prefill_tokens", "decode_tokens").sum())
    models = models.join(sums.with_columns(pl.col("model_id").fill_null("")), on="model_id",
                         how="left").with_columns(
        (pl.col("prefill_tokens") / span_s).alias("mean_p"),
        (pl.col("decode_tokens") / span_s).alias("mean_d"),
    )
    share = {v: pl.col(f"{col}_tokens") / pl.col(f"{col}_tokens_model")
             for v, col in (("p", "prefill"), ("d", "decode"))}
    classes = bound.with_columns(pl.col("model_id").fill_null("").alias("_m")).join(
        models.rename({"prefill_tokens": "prefill_tokens_model",
                       "decode_tokens": "decode_tokens_model"}),
        left_on="_m", right_on="model_id", how="left",
    ).select(
        "class_id",
        *[(pl.when(pl.col(f"{col}_tokens_model") > 0).then(share[v]).otherwise(0.0)
           * pl.max_horizontal(f"pct_{v}", f"mean_{v}")).alias(f"pooled_{col}_tokens_per_s")
          for v, col in (("p", "prefill"), ("d", "decode"))],
    )
    out = models.rename({"pct_p": "pct_prefill_tokens_per_s", "pct_d": "pct_decode_tokens_per_s",
                         "peak_p": "peak_prefill_tokens_per_s",
                         "peak_d": "peak_decode_tokens_per_s",
                         "mean_p": "mean_prefill_tokens_per_s",
                         "mean_d": "mean_decode_tokens_per_s"}).drop(
        "prefill_tokens", "decode_tokens").sort("model_id")
    return classes, out
