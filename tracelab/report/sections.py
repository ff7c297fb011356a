"""The report's content as plain blocks (paragraphs, tables, figures), built from a summary.

One document model, three renderers (``markdown``, ``html``, ``terminal``), so every output
says the same thing. Nothing here formats for a medium; ``fmt`` makes the numbers readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tracelab.report import fmt


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[int, ...] = ()  # indices of right-aligned columns


@dataclass(frozen=True)
class Figure:
    chart: str  # Chart.name


Block = Para | Table | Figure


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    terminal: bool = True  # shown in the terminal summary


def _table(headers: list[str], rows: list[list[str]], numeric: list[int] | None = None) -> Table:
    return Table(tuple(headers), tuple(tuple(r) for r in rows), tuple(numeric or ()))


def glance(s: Mapping[str, Any]) -> Section:
    """The workload at a glance: size, span, tokens, lengths, arrivals."""
    w, t, a = s["workload"], s["time"], s["arrivals"]
    inp = s.get("input") or {}
    tok = w["tokens"]
    lengths = w["lengths"]
    span = fmt.seconds(t["span_s"])
    when = "relative time" if t["time_base"] == "relative" else f"from {t['start'] or '—'}"
    span_text = f"{span}, {when}" if t["start"] is not None else "— (no arrival times)"
    status = ", ".join(f"{k} {fmt.num(v)}" for k, v in w["status"].items())
    rows = [
        ["input", ", ".join(inp.get("files", [])) or "—"],
        ["rows read / accepted / rejected",
         " / ".join(fmt.num(inp.get(k)) for k in ("rows_read", "rows_accepted", "rows_rejected"))],
        ["requests", f"{fmt.num(w['requests'])} ({status})"],
        ["span", span_text],
        *([["time bases", t["note"]]] if t.get("note") else []),
        ["tokens in / out", f"{fmt.num(tok['input_tokens'])} / {fmt.num(tok['output_tokens'])}"],
        ["cached input tokens", fmt.num(tok.get("cached_input_tokens"))],
        ["prefill share of device-time", fmt.pct(w.get("prefill_work_share"))],
    ]
    for column in ("input_tokens", "output_tokens"):
        info = lengths.get(column)
        if info and info["count"]:
            rows.append([f"{column.replace('_', ' ')} p50 / p90 / p99",
                         " / ".join(fmt.num(round(info[p])) for p in ("p50", "p90", "p99"))])
    rows.append(["arrivals (mean / p95 / max)",
                 " / ".join(f"{fmt.num(a[k])}/s" for k in
                            ("requests_per_s_mean", "requests_per_s_p95", "requests_per_s_max"))])
    rows.append(["burstiness (inter-arrival CV / index of dispersion)",
                 f"{fmt.num(a.get('interarrival_cv'))} / {fmt.num(a.get('index_of_dispersion'))}"])
    return Section("Workload at a glance",
                   [_table(["", ""], rows), Figure("lengths"), Figure("arrivals")])


def labels(s: Mapping[str, Any]) -> Section:
    """Label and cluster shares of requests, tokens and estimated work."""
    rows = [
        [axis.removeprefix("label_"), r["value"], fmt.num(r["requests"]),
         fmt.pct(r["share_requests"]), fmt.pct(r["share_tokens"]), fmt.pct(r["share_work"])]
        for axis, mix in s["labels"].items() for r in mix
    ]
    blocks: list[Block] = [
        _table(["axis", "label", "requests", "% requests", "% tokens", "% work"], rows,
               [2, 3, 4, 5]),
    ]
    if s["clusters"]:
        blocks.append(_table(
            ["cluster", "name", "requests", "% requests", "% tokens", "% work"],
            [["—" if c["cluster"] is None else str(c["cluster"]), c["name"] or "—", fmt.num(c["requests"]), fmt.pct(c["share_requests"]),
              fmt.pct(c["share_tokens"]), fmt.pct(c["share_work"])] for c in s["clusters"]],
            [2, 3, 4, 5],
        ))
    blocks += [Figure("labels"), Figure("label_time")]
    return Section("Labels and clusters", blocks)


def fleet(s: Mapping[str, Any]) -> Section:
    """The recommended fleet, its cost, the baselines and the savings."""
    plan = s.get("plan")
    if not plan:
        why = [n for n in (s.get("assumptions") or {}).get("notes", []) if "planned" in n]
        return Section("Fleet and cost", [Para(
            "No plan was made for this trace" + (f": {why[0]}." if why else "."))])
    lines = [
        f"Recommended fleet: **{fmt.usd(plan['usd_per_hour'])}/hour**, "
        f"{fmt.usd(plan.get('usd_per_mtok'))} per 1M tokens, over "
        f"{fmt.num(plan.get('span_hours'))} h of trace "
        f"(fleet {fmt.usd(plan.get('fleet_usd'))}, idle {fmt.usd(plan.get('idle_usd'))})."
    ]
    fleet_usd, idle_usd = plan.get("fleet_usd") or 0.0, plan.get("idle_usd") or 0.0
    if fleet_usd > 0 and idle_usd / fleet_usd > 0.5:
        lines.append(
            f"{fmt.pct(idle_usd / fleet_usd)} of the fleet's cost is idle capacity: at this "
            "load each model's pools need at least one whole replica (and the plan covers the "
            f"p{fmt.num(plan.get('settings', {}).get('percentile'))} window, not the mean); "
            "more traffic on the same fleet would cost little more."
        )
    gap = (plan.get("settings") or {}).get("optimality_gap") or 0.0
    if gap > 1e-6:
        lines.append(
            f"The optimiser stopped within {fmt.pct(gap)} of the cheapest possible fleet "
            "(its time limit on a large program)."
        )
    savings = plan.get("savings") or {}
    names = {"h100": "everything on H100", "best_single": "the best single device"}
    for key, base in sorted((plan.get("baselines") or {}).items()):
        if not base:
            lines.append(f"Against {names.get(key, key)}: no feasible fleet (cannot serve it).")
            continue
        lines.append(
            f"Against {base.get('label', key)}: {fmt.usd(base.get('usd_per_hour'))}/hour, "
            f"{fmt.usd(base.get('usd_per_mtok'))} per 1M tokens → saves "
            f"{fmt.pct(savings.get(key))}."
        )
    rows = [
        [f["device_id"], f.get("model_id") or "—", f.get("role") or "—", fmt.num(f["replicas"]),
         fmt.num(f["devices"]), fmt.usd(f["usd_per_hour"])]
        for f in plan.get("fleet", [])
    ]
    blocks: list[Block] = [Para(line) for line in lines]
    blocks.append(_table(["device", "model", "role", "replicas", "devices", "$/hour"], rows,
                         [3, 4, 5]))
    blocks += [Figure("fleet_cost"), Figure("token_flow")]
    return Section("Fleet and cost", blocks)


def reasons(s: Mapping[str, Any]) -> Section:
    """The most common routing reasons from the per-request ledger."""
    plan = s.get("plan") or {}
    rows = [[r["reason"], fmt.num(r["requests"]), fmt.usd(r.get("usd"))]
            for r in plan.get("top_reasons", [])]
    if not rows:
        return Section("Top reasons", [Para("No routing reasons (no plan).")])
    return Section("Top reasons", [_table(["reason", "requests", "$"], rows, [1, 2])])


def cache(s: Mapping[str, Any]) -> Section:
    """Prefix-cache reuse: evidence, infinite-cache ratio, the capacity credited to the plan."""
    c = s.get("cache")
    if not c or c.get("evidence") in (None, "none"):
        return Section("Cache reuse", [Para(
            "No reuse evidence in this trace (no prefix blocks, no sessions): no cache curve.")])
    text = (
        f"Evidence: {c['evidence']} ({c.get('method', 'exact')}); "
        f"{fmt.pct(c.get('reuse_ratio_infinite'))} of block references were seen before "
        f"(infinite cache)."
    )
    blocks: list[Block] = [Para(text)]
    if c.get("capacity_blocks") is not None:
        verb = "The plan credits" if s.get("plan") else "With no plan, nothing was credited; for"
        blocks.append(Para(
            f"{verb} an LRU cache of {fmt.num(c['capacity_blocks'])} blocks "
            f"({fmt.num(c.get('capacity_tokens'))} tokens): {fmt.num(c.get('hit_tokens'))} "
            "prompt tokens never needed prefill."))
    for tier in c.get("tiers") or []:
        blocks.append(Para(str(tier.get("recommendation") or tier)))
    blocks.append(Figure("cache_curve"))
    return Section("Cache reuse", blocks)


def assumptions(s: Mapping[str, Any]) -> Section:
    """What was assumed: prices, SLOs, efficiencies, model mapping, defaults, with sources."""
    a = s.get("assumptions") or {}
    blocks: list[Block] = []
    prices = a.get("prices") or []
    if prices:
        blocks.append(Para("Prices (per device-hour):"))
        blocks.append(_table(
            ["device", "$/hour", "source", "as of", "note"],
            [[p["device_id"], fmt.usd(p.get("usd_per_hour")), p.get("source") or "—",
              p.get("as_of") or "—",
              ("given by the user" if p.get("override") else "")
              + ("estimated" if p.get("estimated") else "")]
             for p in prices], [1]))
    slos = a.get("slos") or {}
    if slos:
        blocks.append(Para(f"SLOs ({a.get('slo_source', 'defaults')}):"))
        fields = sorted({k for t in slos.values() for k, v in t.items()
                         if isinstance(v, int | float) and not isinstance(v, bool)})
        blocks.append(_table(
            ["mode", *fields, "source"],
            [[mode, *(fmt.num(t.get(f)) for f in fields), str(t.get("source") or "—")]
             for mode, t in sorted(slos.items())],
            list(range(1, len(fields) + 1))))
        blocks.append(Para("SLO values are seconds; 0 means no target."))
    eff = a.get("efficiencies") or {}
    if eff:
        blocks.append(Para(f"Efficiencies and overheads: {eff.get('source', '—')}."))
        values = eff.get("values") or {}
        if values:
            blocks.append(_table(["parameter", "value"],
                                 [[k, fmt.num(v) if isinstance(v, int | float) else str(v)]
                                  for k, v in sorted(values.items())], [1]))
    mapping = a.get("model_mapping") or []
    if mapping:
        blocks.append(Para("Model mapping (name as logged → registry id, how matched):"))
        blocks.append(_table(["model as logged", "registry id", "how", "requests"],
                             [[m["model"], m.get("model_id") or "—", m.get("match") or "—",
                               fmt.num(m.get("requests"))] for m in mapping], [3]))
    defaults = a.get("defaults") or {}
    if defaults:
        blocks.append(_table(["default", "value"],
                             [[k, str(v)] for k, v in sorted(defaults.items())]))
    for note in a.get("notes") or []:
        blocks.append(Para(str(note)))
    if not blocks:
        blocks.append(Para("Nothing recorded."))
    return Section("What was assumed", blocks, terminal=False)


def build_sections(summary: Mapping[str, Any]) -> list[Section]:
    """Every report section in order."""
    return [glance(summary), labels(summary), fleet(summary), reasons(summary), cache(summary),
            assumptions(summary)]
