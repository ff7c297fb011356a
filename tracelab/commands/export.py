"""``tracelab export``: a trace, or one class of it, as a replay file for a benchmarking tool."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import Format, Inputs, OutputFile, Strict, load_inputs
from tracelab.errors import ConfigError, InputFileError

if TYPE_CHECKING:
    import polars as pl

HELP = (
    "Write the trace (or one label or cluster of it) as a replay file: Mooncake JSONL for "
    "Dynamo, AIPerf's mooncake_trace (with sessions) or GuideLLM's trace_synthetic JSONL. "
    "Ids are hashed and prefix blocks renumbered; timestamps keep the trace's gaps."
)
REPLAY = {
    "mooncake": "Dynamo / AIPerf: aiperf profile --input-file {path} "
                "--custom-dataset-type mooncake_trace --fixed-schedule",
    "aiperf": "aiperf profile --input-file {path} --custom-dataset-type mooncake_trace "
              "--fixed-schedule",
    "guidellm": "guidellm run --profile kind=replay --data kind=trace_synthetic,path={path}",
}

To = Annotated[str, typer.Option("--to", help="Target: mooncake, aiperf or guidellm.")]
Label = Annotated[str | None, typer.Option(
    "--label", help="Only requests with this label: AXIS=VALUE, e.g. mode=interactive.")]
Cluster = Annotated[int | None, typer.Option(
    "--cluster", min=0, help="Only requests of this workload cluster (see `tracelab label`).")]
RateScale = Annotated[float, typer.Option(
    "--rate-scale", help="Arrival-rate multiplier: 2 replays the same traffic twice as fast.")]


def _selected(frame: pl.LazyFrame, label: str | None, cluster: int | None) -> pl.LazyFrame:
    """The rows of one label value or cluster (labels computed only when asked for)."""
    if label is None and cluster is None:
        return frame
    if label is not None and cluster is not None:
        msg = "give --label or --cluster, not both"
        raise ConfigError(msg)
    import polars as pl

    from tracelab.labels import get_axis, label_trace

    if cluster is not None:
        return label_trace(frame).frame.filter(pl.col("cluster") == cluster)
    axis_name, sep, value = (label or "").partition("=")
    if not sep:
        msg = f"--label {label!r} is not AXIS=VALUE, e.g. mode=interactive"
        raise ConfigError(msg)
    axis = get_axis(axis_name)
    if value not in axis.values:
        msg = (f"--label {label!r}: {axis.name} takes one of {', '.join(axis.values)} "
               "(see `tracelab label`)")
        raise ConfigError(msg)
    return label_trace(frame).frame.filter(pl.col(axis.column) == value)


@boundary
def export(
    inputs: Inputs = None,
    to: To = "mooncake",
    label: Label = None,
    cluster: Cluster = None,
    rate_scale: RateScale = 1.0,
    output: OutputFile = None,
    fmt: Format = None,
    strict: Strict = False,
) -> None:
    """Export a trace for replay by a benchmarking tool."""
    from tracelab.export import compute_replay, write_replay

    path = output or Path(f"{to}.jsonl")
    trace = load_inputs(inputs, fmt, strict)
    try:
        result = compute_replay(_selected(trace.frame, label, cluster), to, rate_scale)
    except InputFileError as exc:
        if exc.param == "selection" and (label or cluster is not None):
            chosen = f"--label {label}" if label else f"--cluster {cluster}"
            exc.hint = f"{chosen} matches none of the requests; see `tracelab label` for those present"
        raise
    write_replay(result, path)
    left = f" ({result.dropped:,} without an arrival time left out)" if result.dropped else ""
    sys.stderr.write(f"wrote {result.frame.height:,} requests{left} to {path}; replay with: "
                     f"{REPLAY[to].format(path=path)}\n")


def register(app: typer.Typer) -> None:
    app.command("export", help=HELP)(export)
