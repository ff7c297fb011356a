"""Options shared by the verbs that read traces, so every verb spells them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tracelab.ingest import Trace

Inputs = Annotated[
    list[str] | None,
    typer.Argument(
        help="Trace files, globs or directories (Parquet, JSONL[.gz], CSV). "
        "None: the bundled sample trace.",
        show_default=False,
    ),
]
Format = Annotated[
    str | None,
    typer.Option("--format", "-f", help="Force the input format (see `tracelab formats`)."),
]
Strict = Annotated[
    bool, typer.Option("--strict", help="Fail (exit 2) if any row is rejected.")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Where to write the result.")
]


def load_inputs(inputs: list[str] | None, fmt: str | None, strict: bool) -> Trace:
    """Read the given traces (or the bundled sample when none are given)."""
    from tracelab.ingest import read_trace
    from tracelab.resources import default_sample_trace

    paths = list(inputs) if inputs else [str(default_sample_trace())]
    return read_trace(paths, format=fmt, strict=strict)
