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
from tracelab.strformat import format_str


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
    return format_str("{}%", (expr * 100).round(0).cast(pl.Int64))


def _pct_lit(value: float) -> str:
    return f"{value * 100:g}%"


def phase_rule(ctx: RuleContext) -> tuple[pl.Expr, pl.Expr]:
    """Where the device-time goes on the reference device, not the raw token ratio."""
    cfg = ctx.config
    share = pl.col("prefill_work_share")
    model = pl.when(pl.col("work_model_assumed")).then(
        format_str("{} assumed", pl.col("work_model_id"))
    ).otherwise(pl.col("work_model_id"))
    evidence = format_str(
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
        pl.when(share >= hi).then(format_str("{} ≥ {} → prefill-heavy", evidence, pl.lit(_pct_lit(hi))))
        .when(share <= lo).then(format_str("{} ≤ {} → decode-heavy", evidence, pl.lit(_pct_lit(lo))))
        .when(share.is_not_null()).then(format_str(
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
            format_str("context {} tokens {} {} → {}", tokens, pl.lit(op), pl.lit(limit), pl.lit(name))
        ).otherwise(reason)
    return label, reason


def _human_session(cfg: LabelConfig) -> tuple[pl.Expr, pl.Expr]:
    """A session whose median think time is human: every turn of it, the first included."""
    median = pl.col("session_think_median_s")
    cond = (pl.col("session_gaps") >= cfg.human_session_min_gaps) & median.is_between(
        cfg.human_think_min_s, cfg.human_think_max_s)
    why = format_str(
        "turn {} of a session whose median think time {} s over {} gap(s) is human ({}–{} s) "
        "→ interactive", pl.col("turn_index"), _num(median),
        pl.col("session_gaps"), pl.lit(f"{cfg.human_think_min_s:g}"),
        pl.lit(f"{cfg.human_think_max_s:g}"))
    return cond, why


def _agentic_session(cfg: LabelConfig) -> tuple[pl.Expr, pl.Expr]:
    """A session of machine-speed gaps whose context keeps growing: an agent or tool loop."""
    median, grew = pl.col("session_think_median_s"), pl.col("session_growing_share")
    cond = ((pl.col("session_gaps") >= cfg.agentic_min_gaps)
            & (median < cfg.human_think_min_s) & (grew >= cfg.agentic_growing_min_share))
    why = format_str(
        "turn {} of a session whose median think time {} s over {} gap(s) is machine speed "
        "(< {} s) and whose context grew after {} of them (≥ {}) → agentic",
        pl.col("turn_index"), _num(median, 2), pl.col("session_gaps"),
        pl.lit(f"{cfg.human_think_min_s:g}"), _pct(grew),
        pl.lit(_pct_lit(cfg.agentic_growing_min_share)))
    return cond, why


def _off_hours_burst(cfg: LabelConfig) -> tuple[pl.Expr, pl.Expr]:
    """A smaller burst, corroborated by the time of day (weak evidence, never alone)."""
    hour, n = pl.col("hour_utc"), pl.col("co_submitted")
    cond = ((n >= cfg.batch_co_submitted_weak_min)
            & hour.is_between(cfg.off_hours_start_utc, cfg.off_hours_end_utc, closed="left"))
    why = format_str(
        "{} non-streaming requests of one tenant in the same second (≥ {}, below {}) at {} h "
        "UTC, in the off-hours {}–{} h (weak evidence, only with the burst) → batch",
        n, pl.lit(cfg.batch_co_submitted_weak_min), pl.lit(cfg.batch_co_submitted_min), hour,
        pl.lit(cfg.off_hours_start_utc), pl.lit(cfg.off_hours_end_utc))
    return cond, why


def mode_rule(ctx: RuleContext) -> tuple[pl.Expr, pl.Expr]:
    """Interactive, agentic or batch from the strongest evidence present; unknown without any.

    In order: a batch endpoint; a session of machine-speed, growing turns (agent loops
    stream too, so this comes before the streaming flag); streaming; a logged TTFT; a
    session with human think times (all its turns); this turn's own human think time; a
    same-second burst of one tenant; a job handed over without arrival times; a smaller
    burst in the off-hours."""
    cfg = ctx.config
    think = pl.col("think_time_s")
    human = (
        (pl.col("turn_index") >= 2)
        & think.is_between(cfg.human_think_min_s, cfg.human_think_max_s)
    )
    fanout = pl.col("co_submitted") >= cfg.batch_co_submitted_min
    submitted = pl.col("submission_requests") >= cfg.batch_submission_min
    agentic, agentic_why = _agentic_session(cfg)
    person, person_why = _human_session(cfg)
    weak, weak_why = _off_hours_burst(cfg)
    rules = (
        (pl.col("is_batch_endpoint"), "batch", pl.lit("endpoint = batch → batch")),
        (agentic, "agentic", agentic_why),
        (pl.col("is_streaming"), "interactive", pl.lit("streamed response → interactive")),
        (pl.col("has_ttft"), "interactive",
         format_str("TTFT logged ({} s) → interactive", _num(pl.col("ttft_s"), 3))),
        (person, "interactive", person_why),
        (human, "interactive", format_str(
            "turn {} of session after {} s think time (human range {}–{} s) → interactive",
            pl.col("turn_index"), _num(think), pl.lit(f"{cfg.human_think_min_s:g}"),
            pl.lit(f"{cfg.human_think_max_s:g}"))),
        (fanout, "batch", format_str(
            "{} non-streaming requests of one tenant in the same second ≥ {} → batch",
            pl.col("co_submitted"), pl.lit(cfg.batch_co_submitted_min))),
        (submitted, "batch", format_str(
            "{} requests of one tenant in this file with no arrival time, not streamed (a job "
            "handed over whole) ≥ {} → batch", pl.col("submission_requests"),
            pl.lit(cfg.batch_submission_min))),
        (weak, "batch", weak_why),
    )
    label: pl.Expr = ctx.label("unknown")
    reason: pl.Expr = pl.lit("no streaming, TTFT, session or batch evidence → unknown")
    for cond, name, why in reversed(rules):
        label = pl.when(cond.fill_null(False)).then(ctx.label(name)).otherwise(label)
        reason = pl.when(cond.fill_null(False)).then(why).otherwise(reason)
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
        .when(active.is_null()).then(format_str(
            "model '{}' not in the registry → unknown", pl.col("model")))
        .when(active <= cfg.small_max_active_params_b).then(format_str(
            "{} B active parameters ({}) ≤ {} B → small", _num(active), pl.col("model_id"),
            pl.lit(limit)))
        .otherwise(format_str(
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
    fit_reason: pl.Expr = format_str(
        "weights + KV {} GB > {} GB usable on the largest edge device → datacenter",
        _num(need_gb), pl.lit(f"{largest:.1f}"))
    for device, mem in reversed(devices):
        usable = float(mem) * cfg.edge_memory_usable_share
        fit_reason = pl.when(need_gb <= usable).then(format_str(
            "small model, short context, interactive; weights + KV {} GB ≤ {} GB usable on {} "
            "→ edge-eligible", _num(need_gb), pl.lit(f"{usable:.1f}"), pl.lit(device),
        )).otherwise(fit_reason)
    fits = need_gb <= largest
    checks = (
        (pl.col("label_model") != "small", format_str("model is {} → datacenter", pl.col("label_model"))),
        (pl.col("label_context") != "short",
         format_str("context is {} → datacenter", pl.col("label_context").fill_null("unknown"))),
        (pl.col("label_mode") != "interactive",
         format_str("use is {}, not interactive → datacenter", pl.col("label_mode"))),
        (pl.lit(not devices), pl.lit("no edge device in the catalog → datacenter")),
        (fits.not_(), fit_reason),
    )
    label: pl.Expr = ctx.label("edge-eligible")
    reason: pl.Expr = fit_reason
    for cond, why in reversed(checks):
        label = pl.when(cond.fill_null(True)).then(ctx.label("datacenter")).otherwise(label)
        reason = pl.when(cond.fill_null(True)).then(why).otherwise(reason)
    return label, reason
