"""Options shared by the verbs, so every verb spells them (and their units) the same way.

Each option is one ``Annotated`` alias with one help text; a verb sets the default in its
own signature. Where a verb gives an option a different meaning it gets its own alias with
a name saying so (``AssumeModelForKv``, ``OutputFile`` against ``OutputDir``). The parsing
helpers at the bottom turn the raw option values into what the library takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from tracelab.commands._sources import SourceOptions
    from tracelab.ingest import Trace

# ---------------------------------------------------------------- reading a trace
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

# ---------------------------------------------------------------- output
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of tables.")]
OutputFile = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="File to write the result to (format: see the command's help)."
    ),
]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Folder to write the result files into, created if missing "
        "(files: see the command's help).",
    ),
]

# ---------------------------------------------------------------- models
ModelMap = Annotated[
    list[str] | None,
    typer.Option(
        "--model-map", help="Map a logged model name to a registry id: NAME=ID (repeatable)."
    ),
]
AssumeModel = Annotated[
    str | None,
    typer.Option(
        "--assume-model", help="Registry id for requests whose model is unknown or missing."
    ),
]
AssumeModelForKv = Annotated[
    str | None,
    typer.Option(
        "--assume-model",
        help="Registry id whose KV bytes per token turn cache blocks into bytes when no "
        "request's model is known.",
    ),
]

# ---------------------------------------------------------------- labels and clusters
Config = Annotated[
    Path | None,
    typer.Option("--config", help="Label thresholds TOML overriding the bundled labels.toml."),
]
K = Annotated[
    int | None,
    typer.Option(
        "--k", min=1, help="Number of clusters (default: chosen by silhouette, 2..8)."
    ),
]
RandomState = Annotated[
    int, typer.Option("--random-state", help="Seed for sampling and k-means.")
]

# ---------------------------------------------------------------- hardware
Catalog = Annotated[
    Path | None,
    typer.Option(
        "--catalog",
        help="Hardware catalog TOML adding or overriding devices over the bundled one "
        "(see schemas/catalog.schema.json).",
    ),
]
Price = Annotated[
    list[str] | None,
    typer.Option(
        "--price",
        help="Override a device price: ID=USD per device-hour, e.g. h100-sxm=2.10 (repeatable).",
    ),
]
Profile = Annotated[
    Path | None,
    typer.Option("--profile", help="Performance profile TOML (e.g. from `tracelab calibrate`)."),
]
Precision = Annotated[
    str,
    typer.Option("--precision", help="Number format of weights, KV and math: bf16, fp8 or fp4."),
]

# ---------------------------------------------------------------- planning
Slo = Annotated[
    list[str] | None,
    typer.Option(
        "--slo",
        help="Override an SLO: MODE.FIELD=SECONDS, e.g. interactive.tpot_s=0.02 (repeatable).",
    ),
]
Percentile = Annotated[
    float,
    typer.Option("--percentile", help="Plan for this percentile (0-100) of demand windows."),
]
Growth = Annotated[
    float, typer.Option("--growth", help="Demand multiplier, e.g. 2.0 for twice the load.")
]
CacheCapacity = Annotated[int | None, typer.Option(
    "--cache-capacity", help="LRU prefix-cache capacity (blocks) credited to the plan "
    "(default: the smallest reaching 80% of achievable hits).")]
CreditSessionReuse = Annotated[bool, typer.Option(
    "--credit-session-reuse", help="Credit the plan with reuse inferred from sessions alone "
    "(no prefix blocks, no cached-token counts in the log): an estimate, off by default.")]
By = Annotated[str, typer.Option("--by", help="Classes: labels or cluster.")]
MaxDeviceTypes = Annotated[int, typer.Option(
    "--max-device-types", help="Most accelerator types the fleet may mix.")]
MaxPools = Annotated[int | None, typer.Option(
    "--max-pools", help="Most pools in the whole fleet, not per model (a pool: device, model, "
    "replica size, role); default 2 x the models served.")]
Attainment = Annotated[float, typer.Option(
    "--attainment",
    help="Share of latency-bound requests the replay must see meet TTFT and TPOT.")]
Replay = Annotated[bool, typer.Option(
    "--replay/--no-replay",
    help="Verify the fleet by replaying the busiest hour, and repair it.")]
WindowS = Annotated[float, typer.Option("--window-s", help="Demand window length, seconds.")]
Only = Annotated[
    str | None,
    typer.Option("--only", help="Plan only on these catalog devices: ID,ID,... (comma-separated)."),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option("--exclude", help="Leave a catalog device out: ID (repeatable)."),
]


def load_inputs(inputs: list[str] | None, fmt: str | None, strict: bool,
                need_rows: bool = True, source: SourceOptions | None = None) -> Trace:
    """Read the given traces (or the bundled sample when none are given). ``need_rows``:
    a trace whose every row was rejected is an error (the commands that only convert or
    describe a trace pass False). ``source``: how database inputs are read."""
    from tracelab.ingest import read_trace
    from tracelab.ingest.reader import require_accepted

    trace = read_trace(input_paths(inputs, source), format=fmt, strict=strict)
    if need_rows:
        require_accepted(trace)
    print_trace_notes(trace)
    return trace


def print_trace_notes(trace: Trace) -> None:
    """The trace's notes (``tracelab.ingest.reader.trace_notes``) on stderr, one line each."""
    import sys

    from tracelab.ingest.reader import trace_notes

    for note in trace_notes(trace, time_bases=True):
        sys.stderr.write(f"note: {note}\n")


def input_paths(inputs: list[str] | None, source: SourceOptions | None = None) -> list[str]:
    """The INPUT arguments (databases read into files: ``_sources.resolve``), or the bundled
    sample trace when there are none."""
    from tracelab.commands._sources import resolve
    from tracelab.resources import default_sample_trace

    return resolve(list(inputs), source) if inputs else [str(default_sample_trace())]


def parse_model_map_option(items: list[str] | None) -> dict[str, str] | None:
    """``--model-map NAME=ID`` items → mapping, None when none given (ConfigError if malformed)."""
    from tracelab.hardware.registry import parse_model_map

    return parse_model_map(items or []) or None


def parse_only(text: str | None) -> list[str] | None:
    """``--only a, b,`` → ``["a", "b"]`` (blanks dropped); None when the option is absent."""
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


# Where per-partition work runs (tracelab.scale): in this process as a whole frame
# (inline), partition by partition in this process (local), or on Dask workers (dask).
Executor = Annotated[
    str,
    typer.Option(
        "--executor",
        help="inline (whole frame in this process), local (partition by partition here) or "
        "dask (partitions on Dask workers; same summary as local).",
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786."),
]
LocalCluster = Annotated[
    int | None,
    typer.Option("--local-cluster", min=1, help="Start N Dask workers on 127.0.0.1 to try it."),
]
Commitment = Annotated[str, typer.Option(
    "--commitment", help="Reserved capacity the plan may buy: none (every replica on demand "
    "for the whole span), 1y or 3y (a reserved base at the catalog's committed price plus "
    "replicas bought by the hour where the trace's hours need them).")]
Spot = Annotated[bool, typer.Option(
    "--spot/--no-spot", help="With --commitment, buy the hourly burst replicas at the spot "
    "price where the catalog lists one (preemption is not modelled; the assumptions say so).")]
Schedule = Annotated[str, typer.Option(
    "--schedule",
    help="Also plan replica counts per window of the day from the trace's daily shape, "
    "replayed over the whole trace with scale-up lag: hourly, or none. A trace under 2 hours "
    "has nothing to schedule.")]
ScheduleFloor = Annotated[int, typer.Option(
    "--schedule-floor", help="Fewest replicas a scheduled pool keeps in any window.")]
Providers = Annotated[
    str | None,
    typer.Option(
        "--providers",
        help="Let the plan send classes to per-token APIs: a TOML of providers and (negotiated) "
        "prices over the bundled, sourced table (see schemas/providers.schema.json), or "
        "'bundled' for the bundled table alone.",
    ),
]
