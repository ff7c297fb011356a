"""Terminal tables of the verbs that print one result (``plan``, ``label``, ``cache``,
``hardware``): rich renderables built from library results, printed by the commands."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tracelab.report.fmt import hour_note, infeasible_note, per_token_note, replayed_requests

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

    from tracelab.cache import ReuseResult
    from tracelab.hardware.catalog import Device


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


# Rows of the ledger roll-up the terminal shows, dearest first; plan.json keeps every one.
ROLLUP_ROWS = 12


def plan_tables(plan: Any) -> list[RenderableType]:
    """Of a ``tracelab.plan.Plan`` (the plan sits above the report's modules, which read
    its result by attribute as ``report.stages`` does): the fleet, the replay, the
    schedule, the baselines (with the span's fleet = ledger + idle identity) and the
    ROLLUP_ROWS dearest rows of the ledger rolled up by label × phase × device."""
    from rich.table import Table

    fleet = Table(title=f"Pools — {_money(plan.usd_per_hour)}/hour, "
                        f"{_money(plan.usd_per_mtok)} per 1M tokens, {plan.idle_share:.0%} idle")
    # With commitments: the reserved and burst replicas of each pool and its price terms.
    terms = ["reserved", "burst", "price term"] if "reserved" in plan.fleet.columns else []
    for col in ("pool", "replicas", "devices", *terms, "$/hour"):
        fleet.add_column(col, justify="left" if col in ("pool", "price term") else "right")
    per_token = getattr(plan, "per_token", None)
    routes = set() if per_token is None else set(per_token["pool_id"])
    for row in plan.fleet.iter_rows(named=True):
        if row["pool_id"] not in routes:  # per-token routes hold no replicas: listed below
            extra = [str(row["reserved"]), str(row["burst"]), row["price_term"]] if terms else []
            fleet.add_row(row["pool_id"], str(row["replicas"]), str(row["devices"]), *extra,
                          _money(row["usd_per_hour"]))
    fleet.caption = per_token_note(plan.per_token_alternatives()) or None
    tables = [fleet]
    if per_token is not None and routes:
        api = Table(title="Per-token routes — billed for the tokens sent, no replicas, no idle")
        for col in ("provider route", "requests", "tokens", "$", "$/hour"):
            api.add_column(col, justify="left" if col == "provider route" else "right")
        for row in per_token.iter_rows(named=True):
            tokens = row["prefill_tokens"] + row["decode_tokens"] + row["cache_hit_tokens"]
            api.add_row(row["pool_id"], f"{row['requests']:,}", f"{tokens:,}",
                        _money(row["usd"]), _money(row["usd_per_hour"]))
        tables.append(api)
    base = Table(title="Against the baselines")
    for col in ("fleet", "$/hour", "saving"):
        base.add_column(col, justify="left" if col == "fleet" else "right")
    base.add_row("this plan", _money(plan.usd_per_hour), "")
    savings = plan.savings()
    for key, label in (("h100", "everything on H100"), ("best_single", "best single device")):
        entry = plan.baselines.get(key)
        name = label if entry is None else f"{label} ({entry['device_id']})"
        saving = savings.get(key)
        base.add_row(name, _money(None if entry is None else entry["usd_per_hour"]),
                     "cannot serve it" if entry is None else f"{saving:.1%}")
    why = plan.settings.get("reference_infeasible")
    base.caption = (
        f"span {plan.span_hours:.2f} h: fleet {_money(plan.fleet_usd)} = ledger "
        f"{_money(plan.ledger_usd)} + idle {_money(plan.idle_usd)}"
        + ("; baselines as the program sized them, not replayed" if plan.replay else "")
        + (f"; no fleet on {plan.settings['reference_device']} alone: {why}" if why else "")
    )
    roll = Table(title="Ledger by label × phase × device")
    for col in ("label", "phase", "device", "tokens", "% tokens", "$", "% $"):
        roll.add_column(col, justify="left" if col in ("label", "phase", "device") else "right")
    rollup = plan.rollup.sort(["usd", "tokens", "class_id", "phase", "device"],
                              descending=[True, True, False, False, False])
    for row in rollup.head(ROLLUP_ROWS).iter_rows(named=True):
        roll.add_row(row["class_id"], row["phase"], row["device"], f"{row['tokens']:,}",
                     f"{row['token_share']:.1%}", f"${row['usd']:,.4f}", f"{row['usd_share']:.1%}")
    if rollup.height > ROLLUP_ROWS:
        shown = rollup.head(ROLLUP_ROWS)
        roll.caption = (f"the {ROLLUP_ROWS} dearest of {rollup.height:,} rows "
                        f"({shown['usd_share'].sum():.1%} of the ledger's $); every row is in "
                        "plan.json's rollup, every request in ledger.parquet (-o DIR)")
    from tracelab.report.schedule import schedule_tables

    return [*tables, *_replay_table(plan.replay), *schedule_tables(plan), base, roll]


def _replay_table(replay: Mapping[str, Any] | None) -> list[Table]:
    """Per pool: the replay's attainment and p99s beside the plan's fluid estimates."""
    from rich.table import Table

    if not replay:
        return []
    window = replay["window"]
    table = Table(title=f"Replay of the {window['name']} ({replayed_requests(replay)}): "
                        f"{replay['attained']:.2%} of {'/'.join(replay['modes'])} requests "
                        f"meet TTFT and TPOT (target {replay['target']:.0%})"
                        + infeasible_note(replay))
    table.add_column("pool", overflow="fold")  # the whole id, folded: it is the key
    for col in ("replicas", "meets SLO", "TTFT p99 / fluid", "TPOT p99 / fluid", "busy"):
        table.add_column(col, justify="right")
    fluid = {f["pool_id"]: f for f in replay["fluid"]}

    def show(v: object, scale: float = 1.0) -> str:
        return "—" if not isinstance(v, float) else f"{v * scale:.3g}"

    def pair(replayed: object, estimated: object, scale: float, unit: str) -> str:
        return f"{show(replayed, scale)} / {show(estimated, scale)} {unit}"

    for p in replay["pools"]:
        f = fluid.get(p["pool_id"], {})
        table.add_row(p["pool_id"], str(p["replicas"]), f"{show(p.get('attainment'), 100)}%",
                      pair(p.get("p99_ttft_s"), f.get("fluid_ttft_s"), 1.0, "s"),
                      pair(p.get("p99_tpot_s"), f.get("fluid_tpot_s"), 1000.0, "ms"),
                      f"{show(p.get('utilisation'), 100)}%")
    hour = hour_note(replay)
    table.caption = (replay["verdict"] or f"{len(replay['iterations'])} replay(s) of repair"
                     ) + ("." + hour if hour else "")
    return [table]


def label_tables(summary: Mapping[str, Any]) -> list[Table]:
    """The label mix per axis and the clusters of ``tracelab.labels.label_trace``'s summary."""
    from rich.table import Table

    labels = Table(title=f"Workload labels — {summary['requests']:,} requests")
    for col in ("axis", "label", "requests", "% requests", "% tokens", "% work"):
        labels.add_column(col, justify="right" if col != "label" and col != "axis" else "left")
    for axis, rows in summary["labels"].items():
        for row in rows:
            labels.add_row(axis, str(row[f"label_{axis}"] or "— (no tokens)"), f"{row['requests']:,}",
                           _pct(row["request_share"]), _pct(row["token_share"]),
                           _pct(row["work_share"]))
    clusters = Table(title=f"Clusters (k = {summary['k']})")
    for col in ("cluster", "name", "requests", "% requests", "% tokens", "% work",
                "median in/out tokens"):
        clusters.add_column(col, justify="left" if col == "name" else "right",
                            no_wrap=col != "name", min_width=40 if col == "name" else None)
    for row in summary["clusters"]:
        prof = row.get("profile") or {}
        medians = (
            f"{prof['median_prefill_tokens']:,.0f} / {prof['median_decode_tokens']:,.0f}"
            if prof.get("median_prefill_tokens") is not None else ""
        )
        missing = row["cluster"] is None
        clusters.add_row("—" if missing else str(row["cluster"]),
                         "unclustered (no token counts)" if missing else str(row["name"]), f"{row['requests']:,}",
                         _pct(row["request_share"]), _pct(row["token_share"]),
                         _pct(row["work_share"]), medians)
    a = summary["assumptions"]
    notes = [f"work estimated on {a['reference_device']}"]
    if a["work_model_assumed_requests"]:
        ref = next((m["work_model_id"] for m in a["models"] if m["work_model_assumed"]), "?")
        notes.append(f"{a['work_model_assumed_requests']:,} requests of unknown model costed as {ref}")
    if a["assume_model"]:
        notes.append(f"assumed model {a['assume_model']}")
    if a["model_map"]:
        notes.append("model map " + " ".join(f"{k}={v}" for k, v in a["model_map"].items()))
    clusters.caption = "; ".join(notes)
    return [labels, clusters]


def cache_status(result: ReuseResult) -> list[str]:
    """What the reuse curve was computed from and how (lines for stderr)."""
    method = result.method
    if result.sampling_error:
        method += (
            f" (rate {result.sample_rate:g}, max |error| {result.sampling_error['max_abs_error']:.4f} "
            f"on {int(result.sampling_error['subset_references']):,} references)"
        )
    if result.method_how:
        method += f": {result.method_how}"
    return [
        f"evidence: {result.evidence}; method: {method}; {result.n_references:,} block reads, "
        f"{result.n_distinct:,} distinct blocks of {result.block_tokens} tokens; "
        f"model {result.model_id} ({result.model_how})",
    ]


def cache_tables(result: ReuseResult) -> list[RenderableType]:
    """The LRU hit-ratio curve, the knees and the memory-tier advice."""
    from rich.table import Table

    table = Table(title=f"LRU hit ratio (infinite cache: {result.reuse_ratio_infinite:.4f})")
    for name in ("capacity_blocks", "capacity_tokens", "capacity_gb", "hit_ratio"):
        table.add_column(name, justify="right")
    for row in result.curve.iter_rows(named=True):
        table.add_row(
            f"{row['capacity_blocks']:,}",
            f"{row['capacity_tokens']:,}",
            f"{row['capacity_bytes'] / 1e9:,.2f}",
            f"{row['hit_ratio']:.4f}",
        )
    out: list[RenderableType] = [table]
    for row in result.knees.iter_rows(named=True):
        out.append(
            f"{100 * row['fraction']:.0f}% of achievable hits at {row['capacity_blocks']:,} blocks "
            f"({row['capacity_bytes'] / 1e9:,.2f} GB)"
        )
    out.extend(advice.sentence() for advice in result.tiers)
    return out


def hardware_tables(devices: Sequence[Device], costs: Mapping[str, tuple[float, float]],
                    model: str | None) -> list[Table]:
    """The catalog: peak rates (``*`` marks an estimated figure), memory, unit and price,
    with ``model`` $ per 1M input and output tokens serving it (``costs``); then each
    price's date and source in full (a table of their own: the source is a sentence)."""
    from rich.table import Table

    table = Table(title="tracelab hardware catalog (dense TFLOP/s; * = estimated figure)")
    for col in ("id", "tier", "bf16", "fp8", "fp4", "memory", "TB/s", "unit", "$/h"):
        table.add_column(col, overflow="fold")
    if model is not None:
        table.add_column(f"$/M in ({model})")
        table.add_column("$/M out")

    def fmt(d: Device, name: str, value: float | None, spec: str = "g") -> str:
        if value is None:
            return "-"
        return f"{value:{spec}}" + ("*" if name in d.estimated else "")

    for d in devices:
        cells = [
            d.id,
            d.tier,
            fmt(d, "bf16_tflops", d.bf16_tflops),
            fmt(d, "fp8_tflops", d.fp8_tflops),
            fmt(d, "fp4_tflops", d.fp4_tflops),
            f"{d.mem_gb:g} GB {d.mem_type}",
            fmt(d, "mem_bw_tbs", d.mem_bw_tbs),
            f"{d.unit} ({d.unit_devices})",
            fmt(d, "usd_per_hour", d.usd_per_hour, ".2f") if d.plannable else "n/a",
        ]
        if model is not None:
            usd_in, usd_out = costs.get(d.id, (math.nan, math.nan))
            cells += [
                f"{usd_in:.3f}" if not math.isnan(usd_in) else "-",
                f"{usd_out:.3f}" if not math.isnan(usd_out) else "-",
            ]
        table.add_row(*cells)
    sources = Table(title="Where each price comes from")
    for col in ("id", "as of", "price source"):
        sources.add_column(col)
    for d in devices:
        sources.add_row(d.id, d.as_of, d.price_source)
    return [table, sources]
