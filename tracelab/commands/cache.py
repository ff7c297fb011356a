"""``tracelab cache``: prefix/KV reuse curve, hit ratio against capacity, tiered KV advice."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import (
    AssumeModelForKv,
    Format,
    Inputs,
    Json,
    ModelMap,
    Strict,
)
from tracelab.commands._pipeline import open_pipeline, pipeline_options
from tracelab.errors import ConfigError

if TYPE_CHECKING:
    from tracelab.cache import ReuseResult

Capacities = Annotated[
    str | None,
    typer.Option(
        "--capacities",
        help="Cache capacities in blocks to include, comma-separated (e.g. 500,2000).",
    ),
]
SampleRate = Annotated[
    float | None,
    typer.Option(
        "--sample-rate",
        help="SHARDS spatial sampling rate in (0, 1] for large traces; the error is reported.",
    ),
]


def parse_capacities(text: str | None) -> list[int]:
    """``"500,2000"`` → ``[500, 2000]``; ConfigError naming the bad item."""
    if not text:
        return []
    out = []
    for item in text.split(","):
        try:
            value = int(item.strip())
        except ValueError:
            msg = f"--capacities item '{item}' is not an integer; pass block counts like 500,2000"
            raise ConfigError(msg) from None
        out.append(value)
    return out


def _print_table(result: ReuseResult) -> None:
    from rich.console import Console

    from tracelab.commands._process import stdout_console
    from tracelab.report.tables import cache_status, cache_tables

    err = Console(stderr=True)
    for line in cache_status(result):
        err.print(line)
    console = stdout_console()
    for item in cache_tables(result):
        console.print(item)
    err.print(f"recompute cost: {result.prefill_how}")


def cache(
    inputs: Inputs = None,
    fmt: Format = None,
    strict: Strict = False,
    capacities: Capacities = None,
    sample_rate: SampleRate = None,
    model_map: ModelMap = None,
    assume_model: AssumeModelForKv = None,
    json_out: Json = False,
) -> None:
    """Prefix reuse: LRU hit ratio against KV capacity, and which memory tier should hold it."""
    options = pipeline_options(fmt=fmt, strict=strict, model_map=model_map,
                               assume_model=assume_model, capacities=parse_capacities(capacities),
                               sample_rate=sample_rate)
    result = open_pipeline(inputs, options).cache().reuse
    rejected = result.rejected.height
    if rejected:
        sys.stderr.write(f"{rejected} rows rejected for malformed prefix data\n")
    if result.evidence == "none":
        sys.stderr.write(
            "No reuse evidence: the trace has neither prefix_hash_blocks nor session_id; no curve.\n"
        )
    if json_out:
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
    elif result.evidence != "none":
        _print_table(result)


def register(app: typer.Typer) -> None:
    app.command(
        "cache",
        help="Prefix/KV-cache reuse: hit ratio against capacity and tiered KV memory advice.",
    )(boundary(cache))
