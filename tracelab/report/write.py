"""Write a report folder: ``summary.json``, ``report.md`` + ``charts/*.svg``, ``report.html``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
    """Render every output of ``summary`` into ``out_dir`` as one set (``tracelab.outputs``:
    written aside and swapped into place, so a killed run leaves the previous complete set
    or none, and charts of an earlier run do not linger)."""
    from tracelab.outputs import output_folder

    charts = render_charts(summary)
    texts = {
        "summary.json": dump_summary(summary),
        "report.md": render_markdown(summary, charts),
        "report.html": render_html(summary, charts),
        **{f"{CHART_DIR}/{chart.name}.svg": chart.svg for chart in charts},
    }
    needed = sum(len(text.encode("utf-8")) for text in texts.values())
    with output_folder(out_dir, needed_bytes=needed) as stage:
        (stage / CHART_DIR).mkdir()
        for name, text in texts.items():
            (stage / name).write_text(text, encoding="utf-8")
    return ReportFiles(out_dir, out_dir / "summary.json", out_dir / "report.md",
                       out_dir / "report.html",
                       tuple(out_dir / CHART_DIR / f"{c.name}.svg" for c in charts))
