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
    load_inputs,
    parse_model_map_option,
)
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
    from rich.table import Table

    console = Console()
    err = Console(stderr=True)
    method = result.method
    if result.sampling_error:
        method += (
            f" (rate {result.sample_rate:g}, max |error| {result.sampling_error['max_abs_error']:.4f} "
            f"on {int(result.sampling_error['subset_references']):,} references)"
        )
    if result.method_how:
        method += f": {result.method_how}"
    err.print(
        f"evidence: {result.evidence}; method: {method}; {result.n_references:,} block reads, "
        f"{result.n_distinct:,} distinct blocks of {result.block_tokens} tokens; "
        f"model {result.model_id} ({result.model_how})"
    )
    table = Table(title=f"LRU hit ratio (infinite cache: {result.reuse_ratio_infinite:.4f})")
    for name in ("capacity_blocks", "capacity_tokens", "capacity_gb", "hit_ratio"):
        table.add_column(name, justify="right")
    for row in result.curve.iter_rows(named=True):
        table.add_row(
            f"{row['capacity_blocks']:,}",
            f"{row['capacity_tokens']:,}",
            f"{row['capacity_bytes'] / 1e9:,.2f}",
            f"{row['hit_ratio']:.4f}",
        )
    console.print(table)
    for row in result.knees.iter_rows(named=True):
        console.print(
            f"{100 * row['fraction']:.0f}% of achievable hits at {row['capacity_blocks']:,} blocks "
            f"({row['capacity_bytes'] / 1e9:,.2f} GB)"
        )
    for advice in result.tiers:
        console.print(advice.sentence())
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
    from tracelab.cache import compute_reuse_curve

    caps = parse_capacities(capacities)
    trace = load_inputs(inputs, fmt, strict)
    result = compute_reuse_curve(
        trace.frame,
        capacities_blocks=caps,
        sample_rate=sample_rate,
        model_map=parse_model_map_option(model_map),
        assume_model=assume_model,
    )
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
