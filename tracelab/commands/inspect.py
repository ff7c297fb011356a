"""``tracelab inspect``: what is in a trace — format, rows, time span, coverage, quantiles."""

from __future__ import annotations

import json
import math
from typing import Any

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import Format, Inputs, Json, Strict, load_inputs


def _fmt(value: Any, unit: str = "") -> str:
    """A number for people: tokens as whole numbers, seconds with three decimals."""
    if value is None:
        return "—"
    if unit == "tokens" and isinstance(value, int | float):
        return f"{round(value):,}"
    if isinstance(value, float):
        text = f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
        return f"{text} {unit}".rstrip()
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _span(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:,.0f} s ({seconds / 3600:.2f} h)"


def _render(summary: dict[str, Any]) -> None:
    from rich.table import Table

    from tracelab.commands._process import stdout_console

    console = stdout_console()
    files = Table("file", "format", title="Inputs")
    for path, fmt in summary["files"].items():
        files.add_row(path, fmt)
    console.print(files)
    rows, time = summary["rows"], summary["time"]
    overview = Table("", "", title="Rows and time", show_header=False)
    overview.add_row("rows read", _fmt(rows["read"]))
    overview.add_row("accepted", _fmt(rows["accepted"]))
    overview.add_row("rejected", _fmt(rows["rejected"]))
    overview.add_row("status", ", ".join(f"{k}={v:,}" for k, v in summary["status"].items()) or "—")
    overview.add_row("time base", _fmt(time["time_base"]))
    if time["time_base"] != "relative":
        overview.add_row("start (UTC)", _fmt(time["start"]))
        overview.add_row("end (UTC)", _fmt(time["end"]))
    overview.add_row("span", _span(time["span_s"]))
    console.print(overview)
    if summary["rejected_reasons"]:
        rejected = Table("field", "reason", "rows", title="Why rows were rejected (top 10)")
        for item in summary["rejected_reasons"]:
            rejected.add_row(item["field"], item["reason"], f"{item['rows']:,}")
        console.print(rejected)
    coverage = Table("field", "coverage", title="Canonical fields present (share non-null)")
    for name, share in summary["coverage"].items():
        coverage.add_row(name, f"{share:.1%}")
    console.print(coverage)
    dist = Table("quantity", "unit", "total", "p50", "p90", "p99", title="Tokens and latency")
    for name, qs in summary["quantiles"].items():
        unit = "s" if name.endswith("_s") else "tokens"
        total = _fmt(summary["totals"].get(name), unit) if unit == "tokens" else ""
        dist.add_row(name, unit, total, *(_fmt(v, unit) for v in qs.values()))
    for name in ("cached_input_tokens", "cache_write_tokens", "reasoning_tokens"):
        dist.add_row(name, "tokens", _fmt(summary["totals"][name], "tokens"), "", "", "")
    console.print(dist)


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities as null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


@boundary
def inspect(
    inputs: Inputs = None,
    fmt: Format = None,
    strict: Strict = False,
    json_out: Json = False,
) -> None:
    """Show the detected format(s), row counts, time span, field coverage and quantiles."""
    from tracelab.ingest.summary import compute_summary

    summary = compute_summary(load_inputs(inputs, fmt, strict, need_rows=False))
    if json_out:
        typer.echo(json.dumps(finite(summary), indent=2, allow_nan=False))
    else:
        _render(summary)


def register(app: typer.Typer) -> None:
    app.command("inspect", help="Describe a trace: formats, rows, time span, coverage, quantiles.")(
        inspect
    )
