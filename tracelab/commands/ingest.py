"""``tracelab ingest``: any supported logs → one canonical Parquet/CSV/JSONL file.

Rejected rows go beside the output as ``<out stem>.rejected.<ext>`` (only when there are
any); the summary on stderr shows rows read = accepted + rejected. Nothing is written
when the input is bad or ``--strict`` meets a rejected row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import Format, Inputs, Json, OutputFile, Strict, load_inputs
from tracelab.commands._sources import Query, Since, SourceOptions, Until, Watermark

DEFAULT_OUTPUT = Path("trace.parquet")


@boundary(files=("output",))
def ingest(
    inputs: Inputs = None,
    output: OutputFile = DEFAULT_OUTPUT,
    fmt: Format = None,
    strict: Strict = False,
    json_out: Json = False,
    query: Query = None,
    since: Since = None,
    until: Until = None,
    watermark: Watermark = None,
) -> None:
    """Read trace files and write the canonical request frame."""
    from tracelab.ingest.writer import is_rejected_file, output_kind, rejected_path, write_frame
    from tracelab.outputs import output_files

    output = output or DEFAULT_OUTPUT
    output_kind(output)
    trace = load_inputs(inputs, fmt, strict, need_rows=False,
                        source=SourceOptions(query, since, until, watermark))
    # Large inputs are streamed to the output; small ones are collected (quicker).
    frame = trace.frame if trace.sources else trace.frame.collect()
    rejects_out = rejected_path(output) if trace.rows_rejected else None
    stale = rejected_path(output)
    # An earlier run's rejected rows go when this run rejects none (only a file tracelab
    # wrote: one with the rejected-rows columns).
    remove = [stale] if rejects_out is None and is_rejected_file(stale) else []
    with output_files(*([output] + ([rejects_out] if rejects_out else [])),
                      remove=remove) as temps:
        write_frame(frame, temps[0])
        if rejects_out is not None:
            write_frame(trace.rejected, temps[1])
    summary = {
        "output": str(output),
        "rejected_output": str(rejects_out) if rejects_out else None,
        "formats": trace.formats,
        "rows_read": trace.rows_read,
        "rows_accepted": trace.rows_accepted,
        "rows_rejected": trace.rows_rejected,
    }
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    formats = ", ".join(sorted(set(trace.formats.values())))
    sys.stderr.write(
        f"{len(trace.files)} file(s) [{formats}]: {trace.rows_read:,} rows read = "
        f"{trace.rows_accepted:,} accepted + {trace.rows_rejected:,} rejected → {output}"
        + (f" (rejections in {rejects_out})" if rejects_out else "")
        + "\n"
    )


def register(app: typer.Typer) -> None:
    app.command(
        "ingest",
        help="Convert trace files to the canonical request frame; -o FILE picks the format "
        "by extension: .parquet, .csv or .jsonl.",
    )(ingest)
