"""Write a report folder: ``summary.json``, ``report.md`` + ``charts/*.svg``, ``report.html``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tracelab.errors import InputFileError
from tracelab.report.charts import render_charts
from tracelab.report.html import render_html
from tracelab.report.markdown import CHART_DIR, render_markdown
from tracelab.report.summary import dump_summary
from tracelab.report.summary_types import Summary


@dataclass(frozen=True)
class ReportFiles:
    """Paths written by :func:`write_report`."""

    directory: Path
    summary: Path
    markdown: Path
    html: Path
    charts: tuple[Path, ...]


def write_report(summary: Summary, out_dir: Path) -> ReportFiles:
    """Render every output of ``summary`` into ``out_dir`` (created if needed)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CHART_DIR).mkdir(exist_ok=True)
    except OSError as exc:
        msg = f"{out_dir}: cannot create the report folder ({exc.strerror}); pass another -o DIR"
        raise InputFileError(msg) from None
    if not out_dir.is_dir():
        msg = f"{out_dir}: exists and is not a folder; pass another -o DIR"
        raise InputFileError(msg)
    charts = render_charts(summary)
    chart_paths = []
    for chart in charts:
        path = out_dir / CHART_DIR / f"{chart.name}.svg"
        path.write_text(chart.svg, encoding="utf-8")
        chart_paths.append(path)
    summary_path = out_dir / "summary.json"
    summary_path.write_text(dump_summary(summary), encoding="utf-8")
    md_path = out_dir / "report.md"
    md_path.write_text(render_markdown(summary, charts), encoding="utf-8")
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(summary, charts), encoding="utf-8")
    return ReportFiles(out_dir, summary_path, md_path, html_path, tuple(chart_paths))
