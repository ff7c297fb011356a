"""Static charts of a summary, rendered once each as SVG text (matplotlib, Agg backend).

Every chart is drawn from ``summary.json`` alone, so a report can be re-rendered from a
saved summary. The same SVG text is inlined into ``report.html`` and written beside
``report.md``. Output is deterministic: no date metadata, element ids salted by chart name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracelab.labels.axes import timeline_columns
from tracelab.report.flow import draw_flow
from tracelab.report.histogram import BINS_PER_DECADE, ZERO_BUCKET, bucket_edges
from tracelab.report.summary_types import ReplaySection, Summary, TimelineSection

PALETTE = (
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2",
    "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
)
DRAW_MERGE = BINS_PER_DECADE // 10  # draw the length histograms at 10 bars per decade
LENGTH_COLORS = {"input_tokens": "#4c78a8", "output_tokens": "#f58518"}


@dataclass(frozen=True)
class Chart:
    """One rendered chart: a file-safe name, a title, alt text and the SVG document."""

    name: str
    title: str
    alt: str
    svg: str


def _figure(width: float = 7.5, height: float = 3.4) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    return fig


def _to_svg(fig: Any, salt: str) -> str:
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": f"tracelab-{salt}", "svg.fonttype": "none"}):
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    # Drop the XML prolog and DOCTYPE so the same text inlines into HTML.
    text = re.sub(r"^.*?(<svg\b)", r"\1", text, count=1, flags=re.S)
    # The RDF metadata block only names matplotlib; drop it (it carries URLs).
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)


def _log_x(ax: Any) -> None:
    """A log x axis labelled in plain numbers (1,000 rather than 10³): mathtext tick labels
    cost a third of all chart rendering (pyparsing), and token counts read better plain."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    axis = ax.xaxis
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}" if value >= 1
                                           else f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _style(ax: Any) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _coarse(buckets: list[list[int]], merge: int) -> list[tuple[float, float, int]]:
    """Merge ``merge`` adjacent histogram buckets for drawing: (low, high, count) rows."""
    merged: dict[int, int] = {}
    for index, n in buckets:
        key = index if index == ZERO_BUCKET else index // merge
        merged[key] = merged.get(key, 0) + n
    out = []
    for key, n in sorted(merged.items()):
        if key == ZERO_BUCKET:
            out.append((*bucket_edges(ZERO_BUCKET), n))
        else:
            out.append((bucket_edges(key * merge)[0], bucket_edges(key * merge + merge - 1)[1], n))
    return out


def chart_lengths(summary: Summary) -> Chart | None:
    """Input and output length distributions on a log token axis (share of requests per bucket)."""
    lengths = summary["workload"]["lengths"]
    if not any(lengths[c]["count"] for c in LENGTH_COLORS if c in lengths):
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for column, color in LENGTH_COLORS.items():
        info = lengths.get(column)
        if not info or not info["count"]:
            continue
        buckets = _coarse(info["histogram"]["buckets"], DRAW_MERGE)
        lows = [max(low, 0.5) for low, _, _ in buckets]
        widths = [high - low for low, (_, high, _) in zip(lows, buckets, strict=True)]
        shares = [n / info["count"] for _, _, n in buckets]
        label = f"{column.replace('_', ' ')} (p50 {info['p50']:,.0f})"
        ax.bar(lows, shares, width=widths, align="edge", color=color, alpha=0.6, label=label)
    _log_x(ax)
    ax.set_xlabel("tokens per request (log scale)")
    ax.set_ylabel("share of requests")
    ax.legend(frameon=False)
    _style(ax)
    alt = "Histogram of input and output tokens per request on a log scale."
    return Chart("lengths", "Input and output lengths", alt, _to_svg(fig, "lengths"))


def _colors(values: list[str]) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(sorted(values))}


def chart_labels(summary: Summary) -> Chart | None:
    """Share of requests per label value, one 100% bar per label axis (and the clusters)."""
    labels = summary["labels"]
    rows: list[tuple[str, list[tuple[str, float]]]] = [
        (axis.removeprefix("label_"), [(r["value"], r["share_requests"] or 0.0) for r in mix])
        for axis, mix in sorted(labels.items())
    ]
    clusters = summary["clusters"]
    if clusters:
        rows.append(("cluster", [(f"#{c['cluster']}" if c["cluster"] is not None else "none",
                                  c["share_requests"] or 0.0) for c in clusters]))
    if not rows:
        return None
    fig = _figure(height=0.55 * len(rows) + 1.0)
    ax = fig.add_subplot()
    for y, (_axis, parts) in enumerate(reversed(rows)):
        colors = _colors([v for v, _ in parts])
        left = 0.0
        for value, share in parts:
            ax.barh(y, share, left=left, color=colors[value], edgecolor="white", height=0.7)
            if share >= 0.07:
                ax.text(left + share / 2, y, f"{value} {share:.0%}", ha="center", va="center",
                        fontsize=7, color="white")
            left += share
    ax.set_yticks(range(len(rows)), [axis for axis, _ in reversed(rows)])
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of requests")
    _style(ax)
    alt = "Share of requests per value of each label axis and per cluster."
    return Chart("labels", "Label and cluster mix", alt, _to_svg(fig, "labels"))


def _times(timeline: TimelineSection) -> list[float]:
    """Bucket starts in minutes since the first bucket."""
    return [i * timeline["bucket_s"] / 60 for i in range(len(timeline["requests"]))]


def _time_label(summary: Summary) -> str:
    start = summary["timeline"]["start"]
    if summary["time"]["time_base"] == "relative" or not start:
        return "minutes since the first request"
    when = datetime.fromisoformat(start.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    return f"minutes since {when}"


def chart_label_time(summary: Summary) -> Chart | None:
    """Label mix over time: stacked requests per bucket by each timeline axis (mode, phase)."""
    timeline = summary["timeline"]
    axes = [a for a in timeline_columns() if a in timeline["series"]]
    if not axes or len(timeline["requests"]) < 2:
        return None
    fig = _figure(height=2.4 * len(axes))
    x = _times(timeline)
    for i, axis in enumerate(axes):
        ax = fig.add_subplot(len(axes), 1, i + 1)
        series = timeline["series"][axis]
        colors = _colors(list(series))
        values = sorted(series)
        ax.stackplot(x, [series[v] for v in values], labels=values,
                     colors=[colors[v] for v in values], step="post")
        ax.set_ylabel(f"requests / {timeline['bucket_s']} s")
        ax.set_title(axis.removeprefix("label_"), fontsize=9, loc="left")
        ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        _style(ax)
    fig.subplots_adjust(hspace=0.5)
    fig.axes[-1].set_xlabel(_time_label(summary))
    names = " and by ".join(axis.removeprefix("label_") for axis in axes)
    alt = f"Requests over time, stacked by {names} label."
    return Chart("label_time", "Label mix over time", alt, _to_svg(fig, "label_time"))


def chart_arrivals(summary: Summary) -> Chart | None:
    """Arrival rate per bucket with its mean and p95 window rate, and burstiness in the title."""
    timeline, arrivals = summary["timeline"], summary["arrivals"]
    if len(timeline["requests"]) < 2:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    rate = [n / timeline["bucket_s"] for n in timeline["requests"]]
    ax.step(_times(timeline), rate, where="post", color=PALETTE[0], label="requests/s")
    for level, style, text in ((arrivals["requests_per_s_mean"], ":", "mean"),
                               (arrivals["requests_per_s_p95"], "--", "p95 window")):
        if level is not None:
            ax.axhline(level, linestyle=style, color="#555555",
                       label=f"{text} {level:.3g}/s ({arrivals['window_s']:g} s windows)")
    cv, iod = arrivals["interarrival_cv"], arrivals["index_of_dispersion"]
    ax.set_title(
        f"inter-arrival CV {cv:.2f} · index of dispersion {iod:.2f} (Poisson: 1, 1)"
        if cv is not None and iod is not None else "burstiness: not enough arrivals",
        fontsize=9, loc="left",
    )
    ax.set_xlabel(_time_label(summary))
    ax.set_ylabel("requests per second")
    ax.legend(frameon=False, fontsize=7)
    _style(ax)
    alt = "Arrival rate over time with its mean and 95th percentile."
    return Chart("arrivals", "Arrival rate and burstiness", alt, _to_svg(fig, "arrivals"))


def chart_token_flow(summary: Summary) -> Chart | None:
    """Where tokens went: label → phase → device, band widths proportional to tokens."""
    plan = summary["plan"]
    flows = plan["token_flow"] if plan else []
    if not flows:
        return None
    fig = _figure(width=8.5, height=5.0)
    ax = fig.add_subplot()
    draw_flow(ax, [(f["label"], f["phase"], f["device"], float(f["tokens"])) for f in flows],
              PALETTE)
    alt = "Flow diagram of tokens from workload label to phase to the device serving it."
    return Chart("token_flow", "Where tokens went", alt, _to_svg(fig, "token_flow"))


def chart_fleet_cost(summary: Summary) -> Chart | None:
    """The recommended fleet's $/hour against the all-H100 and best-single-device baselines."""
    plan = summary["plan"]
    if plan is None:
        return None
    bars = [("recommended mix", plan["usd_per_hour"])]
    for key, base in sorted(plan["baselines"].items()):
        if base:
            bars.append((base["label"] or key, base["usd_per_hour"]))
    fig = _figure(height=0.6 * len(bars) + 1.0)
    ax = fig.add_subplot()
    names = [b[0] for b in reversed(bars)]
    values = [b[1] for b in reversed(bars)]
    colors = [PALETTE[2] if n == "recommended mix" else PALETTE[9] for n in names]
    ax.barh(names, values, color=colors, height=0.6)
    for y, value in enumerate(values):
        ax.text(value, y, f" ${value:,.2f}/h", va="center", fontsize=8)
    ax.set_xlabel("fleet cost, USD per hour")
    ax.set_xlim(0, max(values) * 1.25 if max(values) > 0 else 1)
    _style(ax)
    alt = "Bar chart of the recommended fleet's hourly cost against the baselines."
    return Chart("fleet_cost", "Fleet cost against the baselines", alt, _to_svg(fig, "fleet_cost"))


def chart_cache_curve(summary: Summary) -> Chart | None:
    """LRU prefix-cache hit ratio against capacity (tokens, log scale)."""
    cache = summary["cache"]
    curve = [p for p in (cache["curve"] if cache else []) if p["capacity_blocks"] > 0]
    if cache is None or not curve:
        return None
    use_tokens = all(p.get("capacity_tokens") for p in curve)
    x = [p["capacity_tokens"] if use_tokens else p["capacity_blocks"] for p in curve]
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(x, [p["hit_ratio"] for p in curve], marker="o", markersize=3, color=PALETTE[4])
    infinite = cache["reuse_ratio_infinite"]
    if infinite is not None:
        ax.axhline(infinite, linestyle="--", color="#555555",
                   label=f"infinite cache {infinite:.1%}")
        ax.legend(frameon=False, fontsize=8)
    _log_x(ax)
    ax.set_ylim(0, 1)
    ax.set_xlabel("cache capacity, " + ("tokens" if use_tokens else "blocks") + " (log scale)")
    ax.set_ylabel("hit ratio (block references)")
    _style(ax)
    alt = "Cache hit ratio against cache capacity on a log scale."
    return Chart("cache_curve", "Prefix cache reuse", alt, _to_svg(fig, "cache_curve"))


def _replay(summary: Summary) -> ReplaySection | None:
    plan = summary["plan"]
    return plan.get("replay") if plan else None


def chart_replay_latency(summary: Summary) -> Chart | None:
    """CDF of the replayed TTFT and TPOT per SLO mode (log x), each target as a dashed line
    in the mode's colour (TTFT's budget floor: it also grows with the context)."""
    replay = _replay(summary)
    if not replay or not replay["distributions"]:
        return None
    fig = _figure(width=8.0, height=3.2)
    points = [q / 100.0 for q in replay["cdf_points"]]
    for k, (column, target, title) in enumerate((("cdf_ttft_s", "ttft_target_s", "TTFT"),
                                                 ("cdf_tpot_s", "tpot_target_s", "TPOT"))):
        ax = fig.add_subplot(1, 2, k + 1)
        for i, d in enumerate(replay["distributions"]):
            values = d[column]  # type: ignore[literal-required]
            if not values:
                continue
            color = PALETTE[i % len(PALETTE)]
            ax.plot([max(v, 1e-4) for v in values], points, color=color, linewidth=1.2,
                    label=d["slo_mode"])
            goal = d[target]  # type: ignore[literal-required]
            if goal > 0:
                ax.axvline(goal, color=color, linestyle="--", linewidth=0.9)
        _log_x(ax)
        ax.set_ylim(0, 1)
        ax.set_xlabel(f"{title}, seconds (log scale; dashed: SLO)")
        ax.set_ylabel("share of requests" if k == 0 else "")
        ax.legend(frameon=False, fontsize=7)
        _style(ax)
    alt = "Cumulative distributions of replayed TTFT and TPOT per SLO mode with the targets."
    return Chart("replay_latency", "Replayed TTFT and TPOT against the SLO", alt,
                 _to_svg(fig, "replay_latency"))


def chart_pool_busy(summary: Summary) -> Chart | None:
    """Per pool, the share of replica-time stepping in each bucket of the replayed window."""
    replay = _replay(summary)
    if not replay or not replay["timeline"]:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    pools = sorted({b["pool_id"] for b in replay["timeline"]})
    minutes = replay["bucket_s"] / 60.0
    for i, pool in enumerate(pools):
        rows = [b for b in replay["timeline"] if b["pool_id"] == pool]
        ax.step([b["t_s"] / 60.0 for b in rows], [b["busy"] for b in rows], where="post",
                color=PALETTE[i % len(PALETTE)], linewidth=1.1, label=pool)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(f"minutes into the replayed window ({minutes:g}-minute buckets)")
    ax.set_ylabel("busy share of replicas")
    ax.legend(frameon=False, fontsize=7)
    _style(ax)
    alt = "Busy share of each pool's replicas per bucket of the replayed window."
    return Chart("pool_busy", "Pool utilisation over the replayed window", alt,
                 _to_svg(fig, "pool_busy"))


CHARTS: tuple[Callable[[Summary], Chart | None], ...] = (
    chart_lengths,
    chart_labels,
    chart_label_time,
    chart_arrivals,
    chart_token_flow,
    chart_fleet_cost,
    chart_replay_latency,
    chart_pool_busy,
    chart_cache_curve,
)


def render_charts(summary: Summary) -> list[Chart]:
    """Every chart the summary has data for, in report order."""
    from tracelab.report.schedule import chart_schedule

    return [chart for make in (*CHARTS, chart_schedule) if (chart := make(summary)) is not None]
