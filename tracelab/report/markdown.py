"""``report.md``: the report as GitHub-flavoured Markdown, charts as SVG files beside it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tracelab.report.charts import Chart
from tracelab.report.sections import Figure, Para, Section, Table, build_sections
from tracelab.report.summary_types import Summary

CHART_DIR = "charts"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    """A pipe table; numeric columns right-aligned."""
    align = ["---:" if i in table.numeric else "---" for i in range(len(table.headers))]
    headers = [h or " " for h in table.headers]
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines)


def render_sections(sections: Sequence[Section], charts: Mapping[str, Chart],
                    chart_dir: str | None = CHART_DIR, level: int = 2) -> str:
    """Markdown for ``sections``; figures link ``chart_dir/<name>.svg`` (None: omit figures)."""
    out: list[str] = []
    for section in sections:
        out.append(f"{'#' * level} {section.title}\n")
        for block in section.blocks:
            if isinstance(block, Para):
                out.append(block.text + "\n")
            elif isinstance(block, Table):
                out.append(markdown_table(block) + "\n")
            elif isinstance(block, Figure) and chart_dir is not None and block.chart in charts:
                chart = charts[block.chart]
                out.append(f"![{chart.alt}]({chart_dir}/{chart.name}.svg)\n")
    return "\n".join(out)


def render_markdown(summary: Summary, charts: Sequence[Chart],
                    chart_dir: str | None = CHART_DIR) -> str:
    """The whole ``report.md``."""
    by_name = {c.name: c for c in charts}
    head = (
        "# tracelab report\n\n"
        f"Input: {', '.join(summary['input']['files']) or '—'} · "
        f"tracelab {summary['tracelab_version']}".rstrip() + "\n\n"
    )
    return head + render_sections(build_sections(summary), by_name, chart_dir)
