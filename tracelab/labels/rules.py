"""The axis rules: phase, context, mode, model size and placement, each with its reason.

Every rule is a polars ``when/then`` chain over feature columns; the reason column names the
rule and the values that fired it. Thresholds come from ``LabelConfig``. A label is null when
the features it needs are null (a failed request without token counts). Which axes exist,
their values and their order are ``tracelab.labels.axes``; a rule only builds expressions.
Labels are one polars Enum, ``axes.label_dtype()`` (compared with plain strings, sorted
lexically, one byte per row): every later stage groups by them, an Enum literal costs a
seventh of a per-row string, and a large trace's partitions write them as they are (a
Categorical is re-encoded per batch: with this and the model ids as Enums, a 1M-row
partition sinks in 0.30-0.37 CPU-s instead of 0.36-0.44).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tracelab.labels.config import LabelConfig


@dataclass(frozen=True)
class RuleContext:
    """What a rule reads besides the features: the thresholds, the catalog's edge devices
    ([device, mem_gb]) and the Enum every label value is a literal of
    (``tracelab.labels.axes.label_dtype``)."""

    config: LabelConfig
    edge_devices: pl.DataFrame
    dtype: pl.Enum

    def label(self, value: str | None) -> pl.Expr:
        """A label value: a ``dtype`` literal (what later stages group by), not a per-row
        string."""
        return pl.lit(value, dtype=self.dtype)


def _num(expr: pl.Expr, digits: int = 1) -> pl.Expr:
    return expr.round(digits).cast(pl.String)


def _pct(expr: pl.Expr) -> pl.Expr:
    return pl.format("{}%", (expr * 100).round(0).cast(pl.Int64))


def _pct_lit(value: float) -> str:
    return f"{value * 100:g}%"


def phase_rule(ctx: RuleContext) -> tuple[pl.Expr, pl.Expr]:
    """Where the device-time goes on the reference device, not the raw token ratio."""
    cfg = ctx.config
    share = pl.col("prefill_work_share")
    model = pl.when(pl.col("work_model_assumed")).then(
        pl.format("{} assumed", pl.col("work_model_id"))
    ).otherwise(pl.col("work_model_id"))
    evidence = pl.format(
        "prefill {} of device-time ({} ms vs {} ms on {}, {})",
        _pct(share), _num(pl.col("prefill_device_s") * 1000), _num(pl.col("decode_device_s") * 1000),
        pl.col("work_device"), model,
    )
    hi, lo = cfg.prefill_heavy_min_share, cfg.decode_heavy_max_share
    label = (
        pl.when(share >= hi).then(ctx.label("prefill-heavy"))
        .when(share <= lo).then(ctx.label("decode-heavy"))
        .when(share.is_not_null()).then(ctx.label("balanced"))
    )
    reason = (
        pl.when(share >= hi).then(pl.format("{} ≥ {} → prefill-heavy", evidence, pl.lit(_pct_lit(hi))))
        .when(share <= lo).then(pl.format("{} ≤ {} → decode-heavy", evidence, pl.lit(_pct_lit(lo))))
        .when(share.is_not_null()).then(pl.format(
            "{} between {} and {} → balanced", evidence, pl.lit(_pct_lit(lo)), pl.lit(_pct_lit(hi))))
        .otherwise(pl.lit("token counts missing → no phase"))
    )
    return label, reason


def context_rule(ctx: RuleContext) -> tuple[pl.Expr, pl.Expr]:
    """By context_tokens = input + output."""
    cfg, tokens = ctx.config, pl.col("context_tokens")
    bands = (
        ("short", "≤", cfg.short_max_tokens, tokens <= cfg.short_max_tokens),
        ("medium", "≤", cfg.medium_max_tokens, tokens <= cfg.medium_max_tokens),
        ("long", "≤", cfg.long_max_tokens, tokens <= cfg.long_max_tokens),
        ("very-long", ">", cfg.long_max_tokens, tokens > cfg.long_max_tokens),
    )
    label: pl.Expr = ctx.label(None)
    reason: pl.Expr = pl.lit("token counts missing → no context label")
    for name, op, limit, cond in reversed(bands):
        label = pl.when(cond).then(ctx.label(name)).otherwise(label)
        reason = pl.when(cond).then(
            pl.format("context {} tokens {} {} → {}", tokens, pl.lit(op), pl.lit(limit), pl.lit(name))
        ).otherwise(reason)
    return label, reason


def mode_rule(ctx: RuleContext) -> tuple[pl.Expr, pl.Expr]:
    """Interactive vs batch from the strongest evidence present; unknown without any."""
    cfg = ctx.config
    think = pl.col("think_time_s")
    human = (
        (pl.col("turn_index") >= 2)
        & think.is_between(cfg.human_think_min_s, cfg.human_think_max_s)
    )
    fanout = pl.col("co_submitted") >= cfg.batch_co_submitted_min
    rules = (
        (pl.col("is_batch_endpoint").fill_null(False), "batch", pl.lit("endpoint = batch → batch")),
        (pl.col("is_streaming").fill_null(False), "interactive",
         pl.lit("streamed response → interactive")),
        (pl.col("has_ttft").fill_null(False), "interactive",
         pl.format("TTFT logged ({} s) → interactive", _num(pl.col("ttft_s"), 3))),
        (human.fill_null(False), "interactive", pl.format(
            "turn {} of session after {} s think time (human range {}–{} s) → interactive",
            pl.col("turn_index"), _num(think), pl.lit(f"{cfg.human_think_min_s:g}"),
            pl.lit(f"{cfg.human_think_max_s:g}"))),
        (fanout.fill_null(False), "batch", pl.format(
            "{} non-streaming requests of one tenant in the same second ≥ {} → batch",
            pl.col("co_submitted"), pl.lit(cfg.batch_co_submitted_min))),
    )
    label: pl.Expr = ctx.label("unknown")
    reason: pl.Expr = pl.lit("no streaming, TTFT, session or batch evidence → unknown")
    for cond, name, why in reversed(rules):
        label = pl.when(cond).then(ctx.label(name)).otherwise(label)
        reason = pl.when(cond).then(why).otherwise(reason)
    return label, reason


def model_rule(ctx: RuleContext) -> tuple[pl.Expr, pl.Expr]:
    """Small (≤ the 8B class of active parameters) vs large; unknown without registry facts."""
    cfg = ctx.config
    active = pl.col("active_params_b")
    limit = f"{cfg.small_max_active_params_b:g}"
    label = (
        pl.when(active.is_null()).then(ctx.label("unknown"))
        .when(active <= cfg.small_max_active_params_b).then(ctx.label("small"))
        .otherwise(ctx.label("large"))
    )
    reason = (
        pl.when(active.is_null() & pl.col("model").is_null()).then(
            pl.lit("model not logged → unknown"))
        .when(active.is_null()).then(pl.format(
            "model '{}' not in the registry → unknown", pl.col("model")))
        .when(active <= cfg.small_max_active_params_b).then(pl.format(
            "{} B active parameters ({}) ≤ {} B → small", _num(active), pl.col("model_id"),
            pl.lit(limit)))
        .otherwise(pl.format(
            "{} B active parameters ({}) > {} B → large", _num(active), pl.col("model_id"),
            pl.lit(limit)))
    )
    return label, reason


def placement_rule(ctx: RuleContext) -> tuple[pl.Expr, pl.Expr]:
    """Edge-eligible needs a small model, a short context, interactive use and a memory fit:
    weights + KV of the context ≤ usable memory (``edge_memory_usable_share`` of mem_gb) of
    an edge device in the catalog; the reason names the smallest device that fits. Must run
    after the other labels exist."""
    cfg = ctx.config
    devices = ctx.edge_devices.sort(["mem_gb", "device"]).rows()
    need_gb = (pl.col("weight_bytes") + pl.col("kv_bytes")) / 1e9
    largest = max((float(mem) for _, mem in devices), default=0.0) * cfg.edge_memory_usable_share
    fit_reason: pl.Expr = pl.format(
        "weights + KV {} GB > {} GB usable on the largest edge device → datacenter",
        _num(need_gb), pl.lit(f"{largest:.1f}"))
    for device, mem in reversed(devices):
        usable = float(mem) * cfg.edge_memory_usable_share
        fit_reason = pl.when(need_gb <= usable).then(pl.format(
            "small model, short context, interactive; weights + KV {} GB ≤ {} GB usable on {} "
            "→ edge-eligible", _num(need_gb), pl.lit(f"{usable:.1f}"), pl.lit(device),
        )).otherwise(fit_reason)
    fits = need_gb <= largest
    checks = (
        (pl.col("label_model") != "small", pl.format("model is {} → datacenter", pl.col("label_model"))),
        (pl.col("label_context") != "short",
         pl.format("context is {} → datacenter", pl.col("label_context").fill_null("unknown"))),
        (pl.col("label_mode") != "interactive",
         pl.format("use is {}, not interactive → datacenter", pl.col("label_mode"))),
        (pl.lit(not devices), pl.lit("no edge device in the catalog → datacenter")),
        (fits.not_(), fit_reason),
    )
    label: pl.Expr = ctx.label("edge-eligible")
    reason: pl.Expr = fit_reason
    for cond, why in reversed(checks):
        label = pl.when(cond.fill_null(True)).then(ctx.label("datacenter")).otherwise(label)
        reason = pl.when(cond.fill_null(True)).then(why).otherwise(reason)
    return label, reason
