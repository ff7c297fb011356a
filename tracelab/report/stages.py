"""Summary sections of the other stages' results: the plan, the cache curve, the assumptions.

Each function takes a stage's result object (``tracelab.plan.Plan``,
``tracelab.cache.ReuseResult``, ``tracelab.ingest.Trace``) and returns a small JSON-ready dict
for ``summary.json``; they read attributes only, so the report never re-computes a stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import polars as pl

from tracelab.report.summary_types import (
    Baseline,
    CacheSection,
    CacheTier,
    Efficiencies,
    FleetRow,
    FlowRow,
    InputSection,
    JSONValue,
    PerTokenAlternative,
    PerTokenRow,
    PlanSection,
    PriceRow,
    ReasonRow,
    ReplayHour,
    ReplayPool,
    ReplaySection,
    ScheduleSection,
)

TOP_REASONS = 8
TOP_FLOW_LABELS = 8
USER_PRICE_SOURCE = "price given by the user"


def summarize_input(trace: Any) -> InputSection:
    """File names (not paths: the summary must not depend on where the checkout is), formats,
    row counts and rejected-row reasons."""
    files = [Path(f).name for f in trace.files]
    formats = {Path(k).name: v for k, v in sorted(trace.formats.items())}
    reasons: dict[str, int] = {}
    rejected = trace.rejected
    if rejected.height and "reason" in rejected.columns:
        counts = rejected.group_by("reason").agg(pl.len().alias("n")).sort("reason")
        reasons = dict(zip(counts["reason"].to_list(), counts["n"].to_list(), strict=True))
    return {
        "files": files,
        "formats": formats,
        "rows_read": trace.rows_read,
        "rows_accepted": trace.rows_accepted,
        "rows_rejected": trace.rows_rejected,
        "rejected_reasons": reasons,
    }


def _token_flow(rollup: pl.DataFrame) -> list[FlowRow]:
    """Rollup (class_id × phase × device) with the largest classes kept and the rest 'other'."""
    if rollup.height == 0:
        return []
    top = (
        rollup.group_by("class_id").agg(pl.col("tokens").sum())
        .sort(["tokens", "class_id"], descending=[True, False])
        .head(TOP_FLOW_LABELS)["class_id"].to_list()
    )
    flow = (
        rollup.with_columns(
            pl.when(pl.col("class_id").is_in(top)).then(pl.col("class_id"))
            .otherwise(pl.lit("other")).alias("label"),
            pl.when(pl.col("phase") == "cache-hit").then(pl.lit("cache"))
            .otherwise(pl.col("device")).alias("device"),
        )
        .group_by("label", "phase", "device")
        .agg(pl.col("tokens").sum(), pl.col("usd").sum())
        .sort("label", "phase", "device")
    )
    return cast("list[FlowRow]", flow.to_dicts())


def _top_reasons(groups: pl.DataFrame) -> list[ReasonRow]:
    """The most common routing reasons, from the ledger summed per (class, route)."""
    usd = pl.col("prefill_usd").fill_null(0.0) + pl.col("decode_usd").fill_null(0.0)
    return cast("list[ReasonRow]", (
        groups.group_by("reason")
        .agg(pl.col("requests").sum(), usd.sum().alias("usd"))
        .sort(["requests", "reason"], descending=[True, False])
        .head(TOP_REASONS)
        .to_dicts()
    ))


def summarize_plan(plan: Any) -> PlanSection:
    """The plan's cost, fleet, baselines, savings, token flow and top ledger reasons."""
    mtok = plan.tokens / 1e6 if plan.tokens else 0.0

    def baseline(key: str, label: str) -> Baseline | None:
        base = plan.baselines.get(key)
        if base is None:
            return None
        usd_per_hour = float(base["usd_per_hour"])
        return {
            "device_id": base.get("device_id"),
            "label": label.format(device=base.get("device_id")),
            "usd_per_hour": usd_per_hour,
            "usd_per_mtok": usd_per_hour * plan.span_hours / mtok if mtok else None,
        }

    # Per-token provider pools hold no replicas: they are routes, listed apart.
    per_token = getattr(plan, "per_token", None)
    routes = [] if per_token is None else per_token["pool_id"].to_list()
    fleet = cast("list[FleetRow]", plan.fleet.filter(~pl.col("pool_id").is_in(routes)).sort(
        "device_id", "model_id", "role").to_dicts())
    section: PlanSection = {
        "usd_per_hour": plan.usd_per_hour,
        "usd_per_mtok": plan.usd_per_mtok,
        "span_hours": plan.span_hours,
        "fleet_usd": plan.fleet_usd,
        "ledger_usd": plan.ledger_usd,
        "idle_usd": plan.idle_usd,
        "tokens": plan.tokens,
        "cache_hit_tokens": plan.cache_hit_tokens,
        "baselines": {
            "h100": baseline("h100", "all on {device}"),
            "best_single": baseline("best_single", "best single device ({device})"),
        },
        "savings": plan.savings(),
        "fleet": fleet,
        "token_flow": _token_flow(plan.rollup),
        "top_reasons": _top_reasons(plan.ledger_groups),
        "settings": {k: v for k, v in sorted(plan.settings.items())},
    }
    if plan.replay:
        section["replay"] = summarize_replay(plan.replay)
    if per_token is not None and routes:
        section["per_token"] = cast("list[PerTokenRow]", per_token.to_dicts())
    if alternatives := plan.per_token_alternatives():
        section["per_token_alternatives"] = cast("list[PerTokenAlternative]", alternatives)
    if plan.schedule is not None:
        rows = [] if plan.schedule_table is None else plan.schedule_table.to_dicts()
        section["schedule"] = cast("ScheduleSection", {**plan.schedule, "rows": rows})
    return section


def summarize_replay(replay: Mapping[str, Any]) -> ReplaySection:
    """The replay's part of the summary, from ``plan.replay`` (``tracelab.plan.repair``'s
    summary of the final fleet's replay): window, attainment, per-mode distributions, per
    pool utilisation and p99s, busy share per pool per bucket, what is not modelled."""
    from tracelab.simulate.distributions import CDF_POINTS, NOT_MODELLED

    pool_keys = ("pool_id", "role", "replicas", "utilisation", "requests", "attainment",
                 "p99_ttft_s", "p99_tpot_s")
    window = replay["window"]
    section: ReplaySection = {
        "window": {"name": str(window["name"]), "start_s": float(window["start_s"]),
                   "end_s": float(window["end_s"]), "requests": int(window["requests"])},
        "target": float(replay["target"]),
        "modes": [str(m) for m in replay["modes"]],
        "attained": float(replay["attained"]),
        "attainment_target_met": bool(replay["attainment_target_met"]),
        "verdict": str(replay.get("verdict") or ""),
        "bucket_s": float(replay.get("options", {}).get("bucket_s", 60.0)),
        "cdf_points": [float(x) for x in CDF_POINTS],
        "distributions": list(replay.get("distributions", [])),
        "pools": [cast("ReplayPool", {k: p.get(k) for k in pool_keys})
                  for p in replay.get("pools", [])],
        "timeline": [{"pool_id": str(b["pool_id"]), "t_s": float(b["t_s"]),
                      "busy": float(b["busy"])} for b in replay.get("timeline", [])],
        "not_modelled": list(replay.get("not_modelled", NOT_MODELLED)),
    }
    if "infeasible_by_slo" in replay:
        section["infeasible_by_slo"] = dict(replay["infeasible_by_slo"])
    if replay.get("hour"):
        section["hour"] = cast("ReplayHour", dict(replay["hour"]))
    first = (replay.get("iterations") or [None])[0]
    if first is not None:  # the repair's first replay is of the fleet the program sized
        section["fluid_usd_per_hour"] = float(first["usd_per_hour"])
        section["fluid_attained"] = float(first["attainment"])
    return section


def summarize_cache(result: Any, capacity_blocks: int | None,
                    hit_tokens: int | None) -> CacheSection:
    """The reuse curve (every grid point), knees, tier advice, and the capacity the plan used."""
    data = result.to_json()
    block_tokens = data.get("block_tokens")
    return {
        "evidence": data["evidence"],
        "method": (data.get("method") or {}).get("name"),
        "sample_rate": (data.get("method") or {}).get("sample_rate"),
        "sampling_error": (data.get("method") or {}).get("error"),
        "block_tokens": block_tokens,
        "n_references": data.get("n_references"),
        "n_distinct": data.get("n_distinct"),
        "reuse_ratio_infinite": data.get("reuse_ratio_infinite"),
        "model": data.get("model"),
        "curve": data.get("curve") or [],
        "knees": data.get("knees") or [],
        "tiers": [_tier(t) for t in data.get("tiers") or []],
        "capacity_blocks": capacity_blocks,
        "capacity_tokens": capacity_blocks * block_tokens
        if capacity_blocks is not None and block_tokens else None,
        "hit_tokens": hit_tokens,
        "rows_rejected": data.get("rows_rejected", 0),
    }


def _tier(t: Mapping[str, Any]) -> CacheTier:
    worth = "worth holding" if t.get("worth_it") else "slower to reload than to recompute"
    text = (
        f"{t.get('name', t.get('tier'))}: blocks {t.get('from_blocks')}–{t.get('to_blocks')} "
        f"({t.get('capacity_gb', 0):.3g} GB) add {100 * (t.get('hit_ratio_added') or 0):.1f} "
        f"points of hit ratio for ${t.get('hold_usd_per_hour', 0):.3g}/h; {worth}."
    )
    return cast("CacheTier", {**t, "recommendation": text})


def summarize_prices(catalog: Any, device_ids: Sequence[str]) -> list[PriceRow]:
    """Price, source, date and estimate flag of each device the plan could use."""
    out: list[PriceRow] = []
    for device_id in sorted(set(device_ids)):
        device = catalog.devices.get(device_id)
        if device is None:
            continue
        out.append({
            "device_id": device_id,
            "usd_per_hour": device.usd_per_hour,
            "source": device.price_source,
            "as_of": device.as_of,
            "estimated": "usd_per_hour" in device.estimated,
            "override": device.price_source == USER_PRICE_SOURCE,
        })
    return out


def summarize_slos(slos: Mapping[str, Any]) -> dict[str, dict[str, JSONValue]]:
    """SLO targets per mode (seconds; 0 = no target) with their source."""
    out = {}
    for mode, slo in sorted(slos.items()):
        data = slo.to_dict() if hasattr(slo, "to_dict") else dict(slo)
        data.pop("mode", None)
        out[mode] = data
    return out


def _short_path(path: str) -> str:
    """A data file's name, marked packaged when it ships with tracelab (no machine paths)."""
    from tracelab.resources import data_path

    if not path:
        return ""
    p = Path(path)
    packaged = p.parent == data_path(p.name).parent
    return f"{p.name} (packaged)" if packaged else p.name


def summarize_efficiencies(profile: Any) -> Efficiencies:
    """The performance profile (``tracelab.hardware.profile.PerfProfile``): where it came from,
    the default efficiencies and overheads, and any per-tier or per-device overrides."""
    from dataclasses import asdict, is_dataclass

    if profile is None:
        return {"source": "performance model defaults", "values": {}}
    defaults = getattr(profile, "defaults", None)
    values: dict[str, Any] = (
        dict(asdict(defaults)) if is_dataclass(defaults) and not isinstance(defaults, type)
        else {}
    )
    for scope in ("tiers", "devices"):
        for name, overrides in sorted((getattr(profile, scope, None) or {}).items()):
            for key, value in sorted(overrides.items()):
                values[f"{scope[:-1]} {name}: {key}"] = value
    provenance = getattr(profile, "provenance", None) or {}
    described = "; ".join(f"{k}: {v}" for k, v in sorted(provenance.items())
                          if isinstance(v, str | int | float))
    source = _short_path(str(getattr(profile, "source", "") or ""))
    return {
        "source": ", ".join(x for x in (source, described) if x) or "performance profile",
        "values": values,
        "provenance": provenance,
    }
