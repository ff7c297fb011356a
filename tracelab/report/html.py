"""``report.html``: one self-contained page (inline CSS and SVG, no script, no network)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

from tracelab.report.charts import Chart
from tracelab.report.sections import Block, Figure, Para, Section, Table, build_sections
from tracelab.report.summary_types import Summary

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
 max-width:960px;margin:2em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
 margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border-bottom:1px solid #eee;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
figcaption{color:#555;font-size:12px}
nav a{margin-right:1em}.meta{color:#666;font-size:12px}
"""

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _text(text: str) -> str:
    return _BOLD.sub(r"<strong>\1</strong>", html.escape(text))


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = []
    for row in table.rows:
        cells = "".join(
            f'<td class="n">{html.escape(c)}</td>' if i in table.numeric
            else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    head_row = f"<thead><tr>{head}</tr></thead>" if any(table.headers) else ""
    return f"<table>{head_row}<tbody>{''.join(body)}</tbody></table>"


def _figure(chart: Chart) -> str:
    return (
        f'<figure id="chart-{chart.name}" class="chart" role="img" '
        f'aria-label="{html.escape(chart.alt)}">{chart.svg}'
        f"<figcaption>{html.escape(chart.title)}</figcaption></figure>"
    )


def _block(block: Block, charts: Mapping[str, Chart]) -> str:
    if isinstance(block, Para):
        return f"<p>{_text(block.text)}</p>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure) and block.chart in charts:
        return _figure(charts[block.chart])
    return ""


def render_html(summary: Summary, charts: Sequence[Chart]) -> str:
    """The whole ``report.html`` as text."""
    by_name = {c.name: c for c in charts}
    sections: list[Section] = build_sections(summary)
    nav = "".join(f'<a href="#{_slug(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{_slug(s.title)}"><h2>{html.escape(s.title)}</h2>'
        + "".join(_block(b, by_name) for b in s.blocks)
        + "</section>"
        for s in sections
    )
    files = html.escape(", ".join(summary["input"]["files"]) or "—")
    meta = (
        f"Input: {files} · tracelab {html.escape(summary['tracelab_version'])}"
        f" · generated {html.escape(summary['generated_at'] or '—')}"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>tracelab report</title><style>{CSS}</style></head><body>"
        f'<h1>tracelab report</h1><p class="meta">{meta}</p><nav>{nav}</nav>{body}'
        "</body></html>\n"
    )
