"""``tracelab simulate``: replay a trace through a plan's fleet, request by request."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tracelab.commands._boundary import boundary
from tracelab.commands._options import (
    AssumeModel,
    CacheCapacity,
    Catalog,
    Config,
    Format,
    Inputs,
    Json,
    K,
    ModelMap,
    OutputDir,
    Price,
    Profile,
    RandomState,
    Slo,
    Strict,
)
from tracelab.commands._pipeline import open_pipeline, pipeline_options
from tracelab.hardware.profile import MAX_NUM_SEQS

HELP = (
    "Replay every request of the trace through the fleet of a plan (tracelab plan -o DIR): "
    "continuous batching per replica, step times from the performance model; print TTFT, "
    "TPOT and SLO attainment per pool and class; -o DIR writes replay.parquet (per request) "
    "and replay.json."
)

PlanDir = Annotated[Path, typer.Option("--plan", help="Plan folder (or its plan.json).")]
Window = Annotated[
    str, typer.Option("--window", help="all (the whole trace) or busiest-hour.")
]


def simulate(
    inputs: Inputs = None,
    plan: PlanDir = Path("tracelab-plan"),
    fmt: Format = None,
    strict: Strict = False,
    output: OutputDir = None,
    slo: Slo = None,
    window: Window = "all",
    max_num_seqs: Annotated[int, typer.Option("--max-num-seqs", min=1,
                                              help="Running sequences per replica.")] = MAX_NUM_SEQS,
    chunk_tokens: Annotated[int, typer.Option(
        "--chunk-tokens", min=1, help="Prefill tokens a colocated step carries.")] = 512,
    max_num_batched_tokens: Annotated[int, typer.Option(
        "--max-num-batched-tokens", min=2, help="Tokens per step in all.")] = 8192,
    long_prefill_token_threshold: Annotated[int, typer.Option(
        "--long-prefill-token-threshold", min=0,
        help="Prefill tokens one request may take in a step (0: no cap).")] = 0,
    max_num_partial_prefills: Annotated[int, typer.Option(
        "--max-num-partial-prefills", min=0,
        help="Requests prefilling at once per replica (0: no limit).")] = 0,
    max_long_partial_prefills: Annotated[int, typer.Option(
        "--max-long-partial-prefills", min=0,
        help="Prompts above the threshold prefilling at once (0: no limit).")] = 0,
    dispatch: Annotated[str, typer.Option(
        "--dispatch", help="What join-shortest-queue measures a replica's queue in: tokens "
                           "(the KV its requests will hold) or requests (their number).")
    ] = "tokens",
    balance_abs_threshold: Annotated[int, typer.Option(
        "--balance-abs-threshold",
        help="A session's turn leaves its replica for the shortest queue when the busiest "
             "replica holds more than this many requests more than the least busy (and "
             "--balance-rel-threshold times as many); -1: never.")] = 64,
    balance_rel_threshold: Annotated[float, typer.Option(
        "--balance-rel-threshold", min=1.0,
        help="... and more than this many times as many requests.")] = 1.5,
    catalog: Catalog = None,
    price: Price = None,
    profile: Profile = None,
    model_map: ModelMap = None,
    assume_model: AssumeModel = None,
    config: Config = None,
    cache_capacity: CacheCapacity = None,
    k: K = None,
    random_state: RandomState = 0,
    as_json: Json = False,
) -> None:
    """Replay a trace through a plan's fleet."""
    from tracelab.errors import ConfigError
    from tracelab.plan.slo import load_slos
    from tracelab.simulate import SimOptions, write_replay
    from tracelab.simulate.planfile import read_plan

    if window not in ("all", "busiest-hour"):
        msg = f"--window {window!r}: use all or busiest-hour"
        raise ConfigError(msg)
    options = SimOptions(max_num_seqs, chunk_tokens, max_num_batched_tokens,
                         long_prefill_token_threshold=long_prefill_token_threshold,
                         max_num_partial_prefills=max_num_partial_prefills,
                         max_long_partial_prefills=max_long_partial_prefills,
                         dispatch=dispatch, balance_abs_threshold=balance_abs_threshold,
                         balance_rel_threshold=balance_rel_threshold)
    options.check()
    planned = read_plan(plan)
    # The same stages and options as ``tracelab plan`` (cache credit, --config), so the
    # replayed requests carry the prefill tokens the plan was sized for.
    pipe = open_pipeline(inputs, pipeline_options(
        fmt=fmt, strict=strict, config=config, k=k, random_state=random_state,
        model_map=model_map, assume_model=assume_model, catalog=catalog, price=price,
        profile=profile, slo=slo, cache_capacity=cache_capacity, by=planned.by))
    slos = pipe.settings.slos if slo else (planned.slos or load_slos())

    from tracelab.commands._process import stdout_console
    from tracelab.report.replay import replay_tables
    from tracelab.simulate import simulate as replay_trace
    from tracelab.simulate.requests import scan_replay_requests, select_window

    perf = pipe.settings.perf_model()
    labeled = pipe.labeled().frame if planned.by == "cluster" else pipe.features().frame
    requests = select_window(scan_replay_requests(labeled, planned.by).collect(), window)
    result = replay_trace(requests, planned.fleet, perf, slos=slos, options=options,
                          source=str(planned.path))
    if output is not None:
        paths = write_replay(result, output)
        sys.stderr.write(f"wrote {', '.join(p.name for p in paths)} to {output}\n")
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return
    console = stdout_console()
    for table in replay_tables(result):
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("simulate", help=HELP)(boundary(simulate))
