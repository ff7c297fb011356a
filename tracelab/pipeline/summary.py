"""The summary stage: every stage's result and what was assumed, as the summary dict.

Facts only: the assumptions name options by their library names and files by their names,
never by a front end's flags (the report renders them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tracelab.pipeline.stages import CacheCredit, Features, Settings
from tracelab.report.summary_types import AssumptionsSection, Summary

if TYPE_CHECKING:
    from tracelab.ingest import Trace
    from tracelab.plan import Plan

# The notes' wording when no fleet could be planned (the CLI adds the flags to pass).
NO_MODEL_NOTE = ("no request names a model the registry knows, so no fleet was planned; "
                 "map the logged names to registry ids or assume one model (e.g. llama-3.1-8b)")
NO_TIME_NOTE = ("no request has an arrival time, so no fleet was planned (a plan sizes for "
                "arrival rates); labels, lengths and device-time are reported")


def notes(found: Features, trace: Trace | None = None) -> list[str]:
    """What the reader must know about the numbers (how the trace was read; no plan; work
    estimated)."""
    from tracelab.ingest.reader import trace_notes

    out = [] if trace is None else trace_notes(trace)
    if not found.modelled:
        out.append(NO_MODEL_NOTE)
    elif not found.timed:
        out.append(NO_TIME_NOTE)
    if found.assumed_work:
        out.append(f"{found.assumed_work} requests had no known model: their work was "
                   "estimated with the reference model (see model mapping)")
    return out


def assumptions(settings: Settings, credit: CacheCredit, plan: Plan | None, cluster_k: int,
                found: Features, trace: Trace | None = None) -> AssumptionsSection:
    """The summary's ``assumptions``: prices, SLOs, efficiencies and every option's value."""
    from tracelab.report.stages import summarize_efficiencies, summarize_prices, summarize_slos

    options = settings.options
    price_ids = ([p["device_id"] for p in plan.assumptions.get("prices", [])] if plan
                 else [d.id for d in settings.catalog.plannable()])
    mapping = dict(options.model_map)
    return {
        "prices": summarize_prices(settings.catalog, price_ids),
        "slos": summarize_slos(settings.slos),
        "slo_source": "tracelab/data/slo.toml defaults" + (
            f", overridden by {' '.join(options.slos)}" if options.slos else ""),
        "efficiencies": summarize_efficiencies(settings.profile),
        "model_mapping": [],  # filled from the summary's models (``finish``)
        "defaults": {
            "window_s": options.window_s,
            "percentile": options.percentile,
            "growth": options.growth,
            "k": cluster_k,
            "k_given": options.k is not None,
            "random_state": options.random_state,
            "cache_capacity_blocks": credit.capacity_blocks,
            "cache_capacity": credit.capacity_how,
            "model_map": ", ".join(f"{a}={b}" for a, b in sorted(mapping.items())) or "none",
            "assume_model": options.assume_model or "none",
            "label_config": (options.config.name + " (given)" if options.config
                             else "labels.toml (packaged)"),
            "catalog": (options.catalog.name + " (given)" if options.catalog
                        else "catalog.toml (packaged)"),
            "reference_device": plan.settings.get("reference_device") if plan else None,
            "precision": plan.settings.get("precision") if plan else None,
            "only": ", ".join(options.only or []) or "all priced devices",
            "exclude": ", ".join(options.exclude or []) or "none",
        },
        "notes": notes(found, trace),
    }


def summarize(aggregates: Mapping[str, object], *, trace: Trace, settings: Settings,
              credit: CacheCredit, found: Features, plan: Plan | None, cluster_k: int,
              elapsed_s: float) -> Summary:
    """The summary (``schemas/summary.schema.json``, typed ``report.summary_types.Summary``)
    from the stages' results."""
    from tracelab import __version__
    from tracelab.ingest.timebase import describe
    from tracelab.report.stages import summarize_cache, summarize_input, summarize_plan
    from tracelab.report.summary import finalize_summary

    summary = finalize_summary(
        aggregates,
        inputs=summarize_input(trace),
        time_note=describe(trace.time_bases),
        spans=trace.time_bases.spans,
        plan=summarize_plan(plan) if plan is not None else None,
        cache={**summarize_cache(credit.reuse, credit.capacity_blocks, credit.hit_tokens),
               "estimate": credit.estimate, "credit": credit.capacity_how,
               "credit_bound": None if credit.bound is None else credit.bound.to_dict()},
        assumptions=assumptions(settings, credit, plan, cluster_k, found, trace),
        generated_at=datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        elapsed_s=elapsed_s,
        version=__version__,
    )
    summary["assumptions"]["model_mapping"] = summary["models"]
    return summary
