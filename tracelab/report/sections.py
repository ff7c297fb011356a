"""The report's content as plain blocks (paragraphs, tables, figures), built from a summary.

One document model, three renderers (``markdown``, ``html``, ``terminal``), so every output
says the same thing. Nothing here formats for a medium; ``fmt`` makes the numbers readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracelab.report import fmt
from tracelab.report.summary_types import JSONValue, Summary


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


def _number(value: JSONValue) -> float | None:
    """A free-form JSON leaf as a number (None when it is not one)."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def glance(s: Summary) -> Section:
    """The workload at a glance: size, span, tokens, lengths, arrivals."""
    w, t, a, inp = s["workload"], s["time"], s["arrivals"], s["input"]
    tok = w["tokens"]
    lengths = w["lengths"]
    span = fmt.seconds(t["span_s"])
    when = "relative time" if t["time_base"] == "relative" else f"from {t['start'] or '—'}"
    span_text = f"{span}, {when}" if t["start"] is not None else "— (no arrival times)"
    status = ", ".join(f"{k} {fmt.num(v)}" for k, v in w["status"].items())
    note = t.get("note")
    rows: list[list[str]] = [
        ["input", ", ".join(inp["files"]) or "—"],
        ["rows read / accepted / rejected",
         " / ".join(fmt.num(n) for n in
                    (inp["rows_read"], inp["rows_accepted"], inp["rows_rejected"]))],
        ["requests", f"{fmt.num(w['requests'])} ({status})"],
        ["span", span_text],
        *([["time bases", note]] if note else []),
        ["tokens in / out", f"{fmt.num(tok['input_tokens'])} / {fmt.num(tok['output_tokens'])}"],
        ["cached input tokens", fmt.num(tok.get("cached_input_tokens"))],
        ["prefill share of device-time", fmt.pct(w["prefill_work_share"])],
    ]
    for column in ("input_tokens", "output_tokens"):
        info = lengths.get(column)
        if info and info["count"]:
            rows.append([f"{column.replace('_', ' ')} p50 / p90 / p99",
                         " / ".join(fmt.num(None if q is None else round(q))
                                    for q in (info["p50"], info["p90"], info["p99"]))])
    rows.append(["arrivals (mean / p95 / max)",
                 " / ".join(f"{fmt.num(rate)}/s" for rate in
                            (a["requests_per_s_mean"], a["requests_per_s_p95"],
                             a["requests_per_s_max"]))])
    rows.append(["burstiness (inter-arrival CV / index of dispersion)",
                 f"{fmt.num(a['interarrival_cv'])} / {fmt.num(a['index_of_dispersion'])}"])
    return Section("Workload at a glance",
                   [_table(["", ""], rows), Figure("lengths"), Figure("arrivals")])


def labels(s: Summary) -> Section:
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


def fleet(s: Summary) -> Section:
    """The recommended fleet, its cost, the baselines and the savings."""
    plan = s["plan"]
    if not plan:
        why = [n for n in s["assumptions"]["notes"] if "planned" in n]
        return Section("Fleet and cost", [Para(
            "No plan was made for this trace" + (f": {why[0]}." if why else "."))])
    lines = [
        f"Recommended fleet: **{fmt.usd(plan['usd_per_hour'])}/hour**, "
        f"{fmt.usd(plan['usd_per_mtok'])} per 1M tokens, over "
        f"{fmt.num(plan['span_hours'])} h of trace "
        f"(fleet {fmt.usd(plan['fleet_usd'])}, idle {fmt.usd(plan['idle_usd'])})."
    ]
    fleet_usd, idle_usd = plan["fleet_usd"], plan["idle_usd"]
    settings = plan["settings"]
    replay = plan.get("replay")
    fluid = replay.get("fluid_usd_per_hour") if replay else None
    grown = fluid is not None and plan["usd_per_hour"] > fluid * (1 + 1e-9)
    if grown and fleet_usd > 0 and idle_usd / fleet_usd > 0.5:
        lines.append(
            f"{fmt.pct(idle_usd / fleet_usd)} of the fleet's cost is idle by the ledger, and "
            f"the replay says it is needed: the fleet the program sized "
            f"({fmt.usd(fluid)}/hour) met the SLO for "
            f"{fmt.pct(replay.get('fluid_attained') if replay else None)} of the replayed "
            "requests, so the repair grew it until the replay met the target (requests "
            "queue within the window); the ledger charges only the device-time each "
            "request uses."
        )
    elif fleet_usd > 0 and idle_usd / fleet_usd > 0.5:
        lines.append(
            f"{fmt.pct(idle_usd / fleet_usd)} of the fleet's cost is idle capacity: at this "
            "load each model's pools need at least one whole replica (and the plan covers the "
            f"p{fmt.num(_number(settings.get('percentile')))} window, not the mean); "
            "more traffic on the same fleet would cost little more."
        )
    if note := fmt.per_token_note(plan.get("per_token_alternatives")):
        lines.append(note)
    gap = _number(settings.get("optimality_gap")) or 0.0
    if gap > 1e-6:
        stop = ("its wall-clock safety limit: on a loaded machine the fleet can differ from "
                "run to run" if settings.get("solver_timed_out")
                else "its node limit on a large program: the same fleet every run")
        lines.append(f"The optimiser stopped within {fmt.pct(gap)} of the cheapest possible "
                     f"fleet ({stop}).")
    savings = plan["savings"]
    names = {"h100": "everything on H100", "best_single": "the best single device"}
    for key, base in sorted(plan["baselines"].items()):
        if not base:
            reason = settings.get("reference_infeasible") if key == "h100" else None
            lines.append(f"Against {names.get(key, key)}: no feasible fleet "
                         f"({reason or 'cannot serve it'}).")
            continue
        saving = savings.get(key)
        versus = f"saves {fmt.pct(saving)}" if saving is None or saving >= 0 else (
            f"costs {fmt.num(plan['usd_per_hour'] / base['usd_per_hour'])}x as much")
        sized = " as the program sized it, not replayed" if replay else ""
        lines.append(
            f"Against {base['label']}{sized}: {fmt.usd(base['usd_per_hour'])}/hour, "
            f"{fmt.usd(base['usd_per_mtok'])} per 1M tokens → {versus}"
            + (f" (this plan's own fleet cost {fmt.usd(fluid)}/hour before its replay)."
               if grown and saving is not None and saving < 0 else ".")
        )
    # With commitments each row also says its reserved and burst replicas and price terms.
    terms = bool(plan["fleet"]) and "reserved" in plan["fleet"][0]
    rows = [
        # The pool id (device/model/replica size/role): devices ÷ replicas per replica.
        [f"{f['device_id']}/{f['model_id'] or '—'}/x{f['devices'] // max(f['replicas'], 1)}/"
         f"{f['role'] or '—'}", fmt.num(f["replicas"]), fmt.num(f["devices"]),
         *([fmt.num(f.get("reserved", 0)), fmt.num(f.get("burst", 0)),
            f.get("price_term", "")] if terms else []),
         fmt.usd(f["usd_per_hour"])]
        for f in plan["fleet"]
    ]
    blocks: list[Block] = [Para(line) for line in lines]
    headers = ["pool (device/model/replica size/role)", "replicas", "devices",
               *(["reserved", "burst", "price term"] if terms else []), "$/hour"]
    blocks.append(_table(headers, rows, [1, 2, 3, 4, 5, 7] if terms else [1, 2, 3]))
    per_token = plan.get("per_token") or []
    if per_token:
        blocks.append(Para("Per-token routes (serverless APIs: no replicas, billed for the "
                           "tokens the ledger sent, so no idle $):"))
        blocks.append(_table(
            ["provider route", "requests", "tokens", "$", "$/hour"],
            [[r["pool_id"], fmt.num(r["requests"]),
              fmt.num(r["prefill_tokens"] + r["decode_tokens"] + r["cache_hit_tokens"]),
              fmt.usd(r["usd"]), fmt.usd(r["usd_per_hour"])] for r in per_token],
            [1, 2, 3, 4]))
    blocks += [Figure("fleet_cost"), Figure("token_flow")]
    return Section("Fleet and cost", blocks)


def replay(s: Summary) -> Section | None:
    """The fleet replayed: what was replayed, TTFT/TPOT per SLO mode against the targets,
    utilisation per pool over time, and what the simulator leaves out. None without a plan."""
    plan = s["plan"]
    if not plan:
        return None
    r = plan.get("replay")
    if not r:
        return Section("Replay of the fleet", [Para(
            "The fleet was not replayed (the verify stage was off): its latencies are the "
            "planner's fluid estimates only.")])
    w = r["window"]
    whole = w["name"] == "whole trace"
    where = "" if whole else (f", {fmt.seconds(w['start_s'])} to {fmt.seconds(w['end_s'])} "
                              "after the trace's first arrival")
    blocks: list[Block] = [Para(
        f"Replayed the **{w['name']}**{where} ({fmt.replayed_requests(r)}) through the "
        f"recommended fleet, request by request: {fmt.pct(r['attained'], 2)} of "
        f"{'/'.join(r['modes']) or 'latency-bound'} requests meet both TTFT and TPOT "
        f"(target {fmt.pct(r['target'])})." + (f" {r['verdict']}." if r["verdict"] else "")
        + fmt.infeasible_note(r) + fmt.hour_note(r))]
    rows = [[d["slo_mode"], fmt.num(d["requests"]),
             fmt.seconds(d["ttft_target_s"]) if d["ttft_target_s"] else "—",
             " / ".join(fmt.seconds(d[k]) for k in ("p50_ttft_s", "p90_ttft_s", "p99_ttft_s")),
             fmt.pct(d["meets_ttft"], 2),
             fmt.seconds(d["tpot_target_s"]) if d["tpot_target_s"] else "—",
             " / ".join(fmt.seconds(d[k]) for k in ("p50_tpot_s", "p90_tpot_s", "p99_tpot_s")),
             fmt.pct(d["meets_tpot"], 2), fmt.pct(d["attainment"], 2)]
            for d in r["distributions"]]
    blocks.append(_table(["SLO mode", "requests", "TTFT target", "TTFT p50 / p90 / p99",
                          "meets TTFT", "TPOT target", "TPOT p50 / p90 / p99", "meets TPOT",
                          "meets SLO"], rows, [1, 2, 3, 4, 5, 6, 7, 8]))
    blocks.append(Para("TTFT targets grow with the prompt where the SLO says so (per 1,000 "
                       "context tokens); the target shown is the floor."))
    blocks.append(Figure("replay_latency"))
    blocks.append(_table(
        ["pool", "replicas", "busy", "requests", "p99 TTFT", "p99 TPOT", "meets SLO"],
        [[p["pool_id"], fmt.num(p["replicas"]), fmt.pct(p["utilisation"]),
          fmt.num(p["requests"]), fmt.seconds(p["p99_ttft_s"]), fmt.seconds(p["p99_tpot_s"]),
          fmt.pct(p["attainment"], 2)] for p in r["pools"]], [1, 2, 3, 4, 5, 6]))
    blocks.append(Figure("pool_busy"))
    blocks.append(Para("The simulator does not model: " + "; ".join(r["not_modelled"]) + "."))
    return Section("Replay of the fleet", blocks)


def reasons(s: Summary) -> Section:
    """The most common routing reasons from the per-request ledger."""
    plan = s["plan"]
    rows = [[r["reason"], fmt.num(r["requests"]), fmt.usd(r["usd"])]
            for r in (plan["top_reasons"] if plan else [])]
    if not rows:
        return Section("Top reasons", [Para("No routing reasons (no plan).")])
    return Section("Top reasons", [_table(["reason", "requests", "$"], rows, [1, 2])])


def cache(s: Summary) -> Section:
    """Prefix-cache reuse: evidence, infinite-cache ratio, the capacity credited to the plan."""
    c = s["cache"]
    if not c or c["evidence"] == "none":
        return Section("Cache reuse", [Para(
            "No reuse evidence in this trace (no prefix blocks, no sessions): no cache curve.")])
    estimate = " — an estimate: no prefix blocks or cached-token counts" if c.get("estimate") else ""
    text = (
        f"Evidence: {c['evidence']}{estimate} ({c['method']}); "
        f"{fmt.pct(c['reuse_ratio_infinite'])} of block references were seen before "
        f"(infinite cache)."
    )
    blocks: list[Block] = [Para(text)]
    if c["capacity_blocks"] is not None:
        verb = "The plan credits" if s["plan"] else "With no plan, nothing was credited; for"
        blocks.append(Para(
            f"{verb} an LRU cache of {fmt.num(c['capacity_blocks'])} blocks "
            f"({fmt.num(c['capacity_tokens'])} tokens): {fmt.num(c['hit_tokens'])} "
            "prompt tokens never needed prefill."))
    if c.get("credit"):
        blocks.append(Para(f"Cache credit: {c['credit']}."))
    for tier in c["tiers"]:
        blocks.append(Para(tier["recommendation"]))
    blocks.append(Figure("cache_curve"))
    return Section("Cache reuse", blocks)


def assumptions(s: Summary) -> Section:
    """What was assumed: prices, SLOs, efficiencies, model mapping, defaults, with sources."""
    a = s["assumptions"]
    blocks: list[Block] = []
    prices = a["prices"]
    if prices:
        blocks.append(Para("Prices (per device-hour):"))
        blocks.append(_table(
            ["device", "$/hour", "source", "as of", "note"],
            [[p["device_id"], fmt.usd(p["usd_per_hour"]), p["source"] or "—",
              p["as_of"] or "—",
              ("given by the user" if p["override"] else "")
              + ("estimated" if p["estimated"] else "")]
             for p in prices], [1]))
    slos = a["slos"]
    if slos:
        blocks.append(Para(f"SLOs ({a.get('slo_source', 'defaults')}):"))
        fields = sorted({k for t in slos.values() for k, v in t.items()
                         if isinstance(v, int | float) and not isinstance(v, bool)})
        blocks.append(_table(
            ["mode", *fields, "source"],
            [[mode, *(fmt.num(_number(t.get(f))) for f in fields), str(t.get("source") or "—")]
             for mode, t in sorted(slos.items())],
            list(range(1, len(fields) + 1))))
        blocks.append(Para("SLO values are seconds; 0 means no target."))
    eff = a["efficiencies"]
    if eff:
        blocks.append(Para(f"Efficiencies and overheads: {eff['source']}."))
        values = eff["values"]
        if values:
            blocks.append(_table(["parameter", "value"],
                                 [[k, str(v) if _number(v) is None else fmt.num(_number(v))]
                                  for k, v in sorted(values.items())], [1]))
    mapping = a["model_mapping"]
    if mapping:
        blocks.append(Para("Model mapping (name as logged → registry id, how matched):"))
        blocks.append(_table(["model as logged", "registry id", "how", "requests"],
                             [[m["model"], m["model_id"] or "—", m["match"] or "—",
                               fmt.num(m["requests"])] for m in mapping], [3]))
    defaults = a["defaults"]
    if defaults:
        blocks.append(_table(["default", "value"],
                             [[k, str(v)] for k, v in sorted(defaults.items())]))
    for note in a["notes"]:
        blocks.append(Para(note))
    if not blocks:
        blocks.append(Para("Nothing recorded."))
    return Section("What was assumed", blocks, terminal=False)


def build_sections(summary: Summary) -> list[Section]:
    """Every report section in order."""
    from tracelab.report.schedule import schedule_section

    extra = [s for s in (replay(summary), schedule_section(summary)) if s is not None]
    return [glance(summary), labels(summary), fleet(summary), *extra, reasons(summary),
            cache(summary), assumptions(summary)]
