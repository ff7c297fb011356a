"""The terminal summary as rich renderables (the CLI prints them; nothing here prints).

rich is imported inside the functions so the library stays importable without a console.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from tracelab.report.sections import Para, Section, Table, build_sections
from tracelab.report.summary_types import Summary

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def rich_table(table: Table, title: str | None = None) -> Any:
    """A rich Table for a section table (numeric columns right-aligned)."""
    from rich.table import Table as RichTable

    show_header = any(table.headers)
    out = RichTable(title=title, show_header=show_header, title_justify="left", box=None,
                    pad_edge=False)
    for i, header in enumerate(table.headers):
        out.add_column(header, justify="right" if i in table.numeric else "left",
                       overflow="fold")
    for row in table.rows:
        out.add_row(*row)
    return out


def render_terminal(summary: Summary) -> Any:
    """A rich Group of the report's terminal sections, and where to read the assumptions."""
    from rich.console import Group
    from rich.text import Text

    hidden = [s.title for s in build_sections(summary) if not s.terminal]
    tail = Text(f"{', '.join(hidden)} (prices, SLOs, efficiencies, model mapping, with "
                "sources): see report.md or report.html.", style="dim") if hidden else Text("")
    return Group(render_section_list(build_sections(summary)), tail)


def render_section_list(sections: Sequence[Section]) -> Any:
    """A rich Group: each terminal section as a titled block of text and tables."""
    from rich.console import Group
    from rich.markup import escape
    from rich.rule import Rule
    from rich.text import Text

    parts: list[Any] = []
    for section in sections:
        if not section.terminal:
            continue
        parts.append(Rule(section.title, align="left"))
        for block in section.blocks:
            if isinstance(block, Para):
                parts.append(Text.from_markup(_BOLD.sub(r"[bold]\1[/bold]", escape(block.text))))
            elif isinstance(block, Table):
                parts.append(rich_table(block))
        parts.append(Text(""))
    return Group(*parts)
