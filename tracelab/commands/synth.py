"""``tracelab synth``: write a synthetic trace, or regenerate the bundled sample traces."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import OutputFile
from tracelab.errors import ConfigError

HELP = (
    "Write a synthetic trace (chat, code completion, RAG, agentic sessions, batch "
    "summarisation) in any format, or regenerate the bundled samples with --samples DIR."
)


@boundary(files=("output",))
def synth(
    output: OutputFile = None,
    rows: Annotated[int, typer.Option("--rows", "-n", help="Number of requests.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same trace).")] = 0,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Output format: canonical, openai, anthropic, otel, "
            "litellm, aiperf, azure, burstgpt, mooncake.",
        ),
    ] = "canonical",
    span_s: Annotated[float, typer.Option("--span-s", help="Seconds the arrivals cover.")] = 3600.0,
    start: Annotated[
        str, typer.Option("--start", help="First instant (ISO-8601, UTC).")
    ] = "2026-01-05T09:00:00Z",
    mix: Annotated[
        str, typer.Option("--mix", help="Workload mix: default, interactive, agentic, sessions (hour-apart turns over the span; no prefix blocks).")
    ] = "default",
    diurnal: Annotated[
        float, typer.Option("--diurnal", help="Day/night amplitude of the arrival rate, 0-1: "
                            "rate ∝ 1 + A·cos(2π(hour − 15)/24) UTC (0.5: peak 3× trough; "
                            "0.9: 19×; 0: flat). Use --span-s 86400 for a whole day.")
    ] = 0.5,
    chunk_rows: Annotated[
        int,
        typer.Option(
            "--chunk-rows", help="Canonical Parquet above this many rows is streamed in chunks."
        ),
    ] = 1_000_000,
    samples: Annotated[
        Path | None,
        typer.Option("--samples", help="Regenerate the bundled sample traces into this folder."),
    ] = None,
) -> None:
    """Generate a synthetic trace; data goes to the file, a one-line summary to stderr."""
    from tracelab.synth.generate import generate_trace, write_large_trace
    from tracelab.synth.render import RENDERERS, render_trace
    from tracelab.synth.samples import write_samples

    if samples is not None:
        for path, count in write_samples(samples):
            sys.stderr.write(f"wrote {count} rows to {path}\n")
        return
    if output is None:
        msg = "nothing to write; pass -o PATH for one trace or --samples DIR for the bundled set"
        raise ConfigError(msg)
    if fmt not in RENDERERS:
        msg = f"unknown --format {fmt!r}; choose one of {', '.join(RENDERERS)}"
        raise ConfigError(msg)
    if rows < 0:
        msg = f"--rows must be >= 0, got {rows}"
        raise ConfigError(msg)
    if not output.parent.is_dir():
        msg = f"cannot write {output}: folder {output.parent} does not exist; create it first"
        raise ConfigError(msg)
    from tracelab.outputs import output_files

    with output_files(output) as (temp,):
        if fmt == "canonical" and output.suffix != ".jsonl" and rows > chunk_rows:
            count = write_large_trace(
                temp,
                rows,
                seed,
                chunk_rows=chunk_rows,
                start=start,
                requests_per_s=rows / span_s if span_s > 0 else 0.0,
                mix=mix,
                diurnal=diurnal,
            )
        else:
            frame = generate_trace(rows, seed=seed, start=start, span_s=span_s, mix=mix,
                                   diurnal=diurnal)
            count = render_trace(frame, fmt, temp)
    sys.stderr.write(f"wrote {count} rows ({fmt}) to {output}\n")


def register(app: typer.Typer) -> None:
    app.command("synth", help=HELP)(synth)
