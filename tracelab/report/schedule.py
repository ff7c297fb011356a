"""The schedule in the report: one line of what it costs and attains, a table of replicas
per window and pool, and a chart of replicas per pool over the day.

Everything reads the ``schedule`` block (plan.json's, or the summary's with its ``rows``),
so the terminal, Markdown, HTML and a saved summary say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tracelab.report import fmt
from tracelab.report.summary_types import Summary

if TYPE_CHECKING:
    from tracelab.report.charts import Chart
    from tracelab.report.sections import Section


def schedule_line(block: Mapping[str, Any]) -> str:
    """What the schedule costs against the static fleet and what its replay attained,
    lag included, in one sentence (or the reason there is none)."""
    if block.get("note"):
        return f"Schedule: {block['note']}."
    hours = block["window_s"] / 3600
    line = (f"Schedule ({hours:g} h windows, at least {block['floor']} replica per pool): "
            f"{fmt.usd(block['scheduled_usd_per_hour'])}/h on average against "
            f"{fmt.usd(block['static_usd_per_hour'])}/h static, "
            + ("both a reserved base plus burst by the hour " if "reserved" in block
               else "both on demand ")
            + (f"({fmt.pct(block['saving'])} less)" if block["saving"] >= 5e-4 else
               "(no saving: keep the static fleet)"))
    replay = block.get("replay") or {}
    if replay.get("replayed"):
        line += (f"; replayed over the whole trace ({fmt.num(replay['requests'])} requests) "
                 f"with scale-up lag, {fmt.pct(replay['attained'], 2)} meet the SLO (target "
                 f"{fmt.pct(replay['target'])}; the static fleet "
                 f"{fmt.pct(replay['static_attained'], 2)}, missing the target in "
                 f"{replay['static_windows_missed']} (pool, window) pairs; warmed up ahead "
                 f"{fmt.pct(replay['attained_without_lag'], 2)}, for "
                 f"{fmt.usd(block['prewarm_usd_per_hour'])}/h more)")
    elif replay.get("note"):
        line += f"; {replay['note']}"
    leads = block.get("lead_times") or []
    if leads:
        line += "; lead times " + ", ".join(
            f"{fmt.seconds(t['lead_s'])} ({t['pool_id']}: {t['weight_bytes'] / 1e9:.3g} GB at "
            f"{t['load_gbs']:g} GB/s)" for t in leads)
    return line + "."


def _pivot(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers (hour, one column per pool, $) and one row per window of the day."""
    pools = sorted({r["pool_id"] for r in rows})
    hours = sorted({r["hour"] for r in rows})
    cell = {(r["hour"], r["pool_id"]): r for r in rows}
    body = [[f"{h:02d}:00", *[fmt.num(cell[h, p]["replicas"]) if (h, p) in cell else "—"
                              for p in pools],
             fmt.usd(sum(cell[h, p]["usd"] for p in pools if (h, p) in cell))] for h in hours]
    return ["hour (UTC)", *pools, "$ in the window"], body


def schedule_section(s: Summary) -> Section | None:
    """The report's schedule section; None without a plan or a schedule block."""
    from tracelab.report.sections import Figure, Para, Section, _table

    plan = s["plan"]
    block = plan.get("schedule") if plan else None
    if not block:
        return None
    blocks: list[Any] = [Para(schedule_line(block))]
    rows = block.get("rows") or []
    if rows:
        headers, body = _pivot(rows)
        blocks.append(Figure("schedule"))
        blocks.append(_table(headers, body, list(range(1, len(headers)))))
        blocks.append(Para(
            "A replica added at a window's start loads its weights first (lead time: weight "
            "bytes ÷ the slower of local storage and its host links) and serves only then; "
            "one taken away drains what it holds. The replay counts the first. A window's "
            "replicas never exceed the static fleet's; each (pool, window) is held to the "
            "target, or to what the static fleet attains there when that is less."))
    return Section("Schedule over the day", blocks)


def chart_schedule(summary: Summary) -> Chart | None:
    """Replicas per pool over the day, one step line per pool."""
    from tracelab.report.charts import PALETTE, Chart, _figure, _style, _to_svg

    plan = summary["plan"]
    block = plan.get("schedule") if plan else None
    rows = (block.get("rows") if block else None) or []
    if not rows:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    pools = sorted({r["pool_id"] for r in rows})
    for i, pool in enumerate(pools):
        mine = sorted((r["hour"], r["replicas"]) for r in rows if r["pool_id"] == pool)
        hours = [h for h, _ in mine] + [mine[-1][0] + 1]
        counts = [n for _, n in mine] + [mine[-1][1]]
        ax.step(hours, counts, where="post", color=PALETTE[i % len(PALETTE)], linewidth=1.3,
                label=pool)
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_ylim(bottom=0)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("hour of the day (UTC)")
    ax.set_ylabel("replicas")
    ax.legend(frameon=False, fontsize=7)
    _style(ax)
    alt = "Replicas per pool in each hour of the day under the schedule."
    return Chart("schedule", "Replicas per pool over the day", alt, _to_svg(fig, "schedule"))


def schedule_tables(plan: Any) -> list[Any]:
    """The terminal's schedule of a ``tracelab.plan.Plan``: its table with the one-line
    summary as caption, or that line alone when there is nothing to schedule (none without
    a schedule)."""
    from rich.table import Table
    from rich.text import Text

    if plan.schedule is None:
        return []
    rows = [] if plan.schedule_table is None else plan.schedule_table.to_dicts()
    if not rows:
        return [Text(schedule_line(plan.schedule))]
    table = Table(title="Schedule over the day")
    headers, body = _pivot(rows)
    for col in headers:
        table.add_column(col, justify="left" if col == headers[0] else "right")
    for row in body:
        table.add_row(*row)
    table.caption = schedule_line(plan.schedule)
    return [table]
