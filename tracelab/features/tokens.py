"""Token features as polars expressions over canonical columns (units: tokens, fractions)."""

from __future__ import annotations

import polars as pl


def _safe_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """num / den as Float64, null when den is 0 or either side is null."""
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64)).otherwise(None)


def compute_token_features() -> list[pl.Expr]:
    """prefill_tokens, cached_share, decode_tokens, prefill_decode_ratio, context_tokens,
    reasoning_share.

    prefill_tokens is input minus cached tokens; with no cache evidence (cached null) every
    prompt token is computed, so prefill_tokens = input_tokens and cached_share stays null.
    """
    inp = pl.col("input_tokens")
    cached = pl.col("cached_input_tokens")
    out = pl.col("output_tokens")
    prefill = (
        pl.when(cached.is_null()).then(inp).otherwise((inp - cached).clip(lower_bound=0))
    ).cast(pl.Int64)
    return [
        prefill.alias("prefill_tokens"),
        _safe_div(cached, inp).alias("cached_share"),
        out.alias("decode_tokens"),
        _safe_div(prefill, out).alias("prefill_decode_ratio"),
        (inp + out).alias("context_tokens"),
        _safe_div(pl.col("reasoning_tokens"), out).alias("reasoning_share"),
    ]
