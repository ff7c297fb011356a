"""``tracelab formats``: the log formats ingest understands."""

from __future__ import annotations

import json

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import Json


@boundary
def formats(json_out: Json = False) -> None:
    """List the input formats (use a name with --format)."""
    from rich.table import Table

    from tracelab.commands._process import stdout_console
    from tracelab.ingest import FORMATS

    if json_out:
        rows = [{"name": a.name, "description": a.description} for a in FORMATS.values()]
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("format", "description")
    for adapter in FORMATS.values():
        table.add_row(adapter.name, adapter.description)
    stdout_console().print(table)


def register(app: typer.Typer) -> None:
    app.command("formats", help="List the log formats tracelab can read.")(formats)
