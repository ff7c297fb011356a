"""Reports for people and CI: terminal, Markdown, self-contained HTML with charts, JSON, diffs.

```python
from tracelab.pipeline import run_pipeline
from tracelab.report import write_report
result = run_pipeline(["trace.parquet"])
write_report(result.summary, Path("tracelab-report"))   # report.md, charts/, report.html, summary.json
```

``aggregate`` computes small mergeable aggregates of a labeled frame (per partition if need
be); ``summary`` turns them into ``summary.json``; ``charts``/``markdown``/``html``/``terminal``
render a summary; ``diff``/``gates`` compare two summaries for ``tracelab diff``.
"""

from __future__ import annotations

from tracelab.report.aggregate import compute_aggregates, merge_aggregates
from tracelab.report.charts import Chart, render_charts
from tracelab.report.diff import compute_shifts, resolve_metric
from tracelab.report.gates import evaluate_gates, parse_gate
from tracelab.report.html import render_html
from tracelab.report.markdown import render_markdown
from tracelab.report.summary import (
    drop_wall_clock,
    dump_summary,
    finalize_summary,
    read_summary,
    validate_summary,
)
from tracelab.report.write import ReportFiles, write_report

__all__ = [
    "Chart",
    "ReportFiles",
    "compute_aggregates",
    "compute_shifts",
    "drop_wall_clock",
    "dump_summary",
    "evaluate_gates",
    "finalize_summary",
    "merge_aggregates",
    "parse_gate",
    "read_summary",
    "render_charts",
    "render_html",
    "render_markdown",
    "resolve_metric",
    "validate_summary",
    "write_report",
]
