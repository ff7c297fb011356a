"""Replay speed and memory: requests/s and peak RSS of ``tracelab.simulate.simulate``.

    python benchmarks/bench_simulate.py [--requests N] [--shape synth|azure|both]

Two trace shapes, each about N requests (default 1M) in one hour:
- ``synth``: ``tracelab synth``'s default mix (5 models, sessions, long agentic prompts);
- ``azure``: the Azure 2023 conversation trace (../shared/traces/azure-2023, CC-BY-4.0,
  Splitwise ISCA'24) superposed (``tracelab.simulate.requests.superpose``) to N requests,
  served by llama-3.1-8b.
Each model gets one colocated H100 pool sized by a fluid estimate to ~70% busy (the
benchmark times the replay, not the plan). Prints wall and CPU seconds of ``simulate``
(input built beforehand), requests/s and the process's peak RSS. The machine may be shared:
CPU seconds are the figure to compare; wall time is what the replay took under that load.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEVICE = "h100-sxm"
TARGET_BUSY = 0.7


def _canonical_requests(trace: pl.DataFrame, model_id: pl.Expr) -> pl.DataFrame:
    start = trace["arrival_ts"].min()
    names = trace.columns
    session = pl.col("session_id") if "session_id" in names else pl.lit(None, pl.String)
    cached = pl.col("cached_input_tokens").fill_null(0) if "cached_input_tokens" in names \
        else pl.lit(0)
    return trace.select(
        pl.col("request_id").cast(pl.String),
        ((pl.col("arrival_ts") - pl.lit(start)).dt.total_microseconds() / 1e6).alias("arrival_s"),
        model_id.alias("class_id"), model_id.alias("model_id"),
        (pl.col("input_tokens") - cached).clip(0).alias("prefill_tokens"),
        pl.col("input_tokens").alias("context_tokens"),
        pl.col("output_tokens").fill_null(0),
        session.cast(pl.String).alias("session_id"),
        pl.lit("interactive").alias("label_mode"),
    ).drop_nulls(["arrival_s", "model_id"])


def synth_requests(n: int) -> pl.DataFrame:
    from tracelab.hardware.registry import match_model
    from tracelab.synth.generate import generate_trace

    trace = generate_trace(n, seed=0)
    ids = {m: match_model(m)[0] for m in trace["model"].unique().to_list()}
    model = pl.col("model").replace_strict(ids, return_dtype=pl.String)
    return _canonical_requests(trace, model)


def azure_requests(n: int) -> pl.DataFrame:
    from tracelab.ingest import read_trace
    from tracelab.simulate.requests import superpose

    path = SHARED / "traces/azure-2023/AzureLLMInferenceTrace_conv.csv"
    if not path.exists():
        sys.exit(f"{path} is absent: the azure shape needs the project's shared folder")
    trace = read_trace([str(path)]).frame.collect()
    base = _canonical_requests(trace, pl.lit("llama-3.1-8b"))
    return superpose(base, max(1, round(n / base.height)))


def sized_fleet(requests: pl.DataFrame, perf):
    """One colocated H100 pool per model, replicas from a fluid estimate of busy time."""
    from tracelab.simulate import Fleet, PoolSpec, RouteShare, pool_id
    from tracelab.simulate.steps import StepModel

    span = float(requests["arrival_s"].max() or 1.0)
    pools, routes = [], []
    for model in sorted(requests["model_id"].unique().to_list()):
        size = perf.replica_devices(DEVICE, model) or 8
        step = StepModel(perf, DEVICE, model, "bf16", size)
        rows = requests.filter(pl.col("model_id") == model)
        p, c = pl.col("prefill_tokens").cast(pl.Float64), pl.col("context_tokens").cast(pl.Float64)
        # prefill: GEMM time per token at a 512-token chunk, plus the causal attention of
        # the new tokens over the whole prompt; decode: a token at batch 64, mean context
        work = rows.select(
            (p * step.step_s(0, 0, 512) / 512 + step.fs / 2 * (c.pow(2) - (c - p).pow(2))).sum(),
            pl.col("output_tokens").sum(), c.mean()).row(0)
        busy = work[0] + work[1] * step.step_s(64, 64 * work[2], 0) / 64
        replicas = max(1, math.ceil(busy / span / TARGET_BUSY))
        pid = pool_id(DEVICE, model, size, "colocated")
        pools.append(PoolSpec(pid, DEVICE, model, size, replicas, "colocated"))
        routes.append(RouteShare(model, pid, pid, 1.0))
    return Fleet(tuple(pools), tuple(routes))


def _rss_gib() -> float:
    """This process's resident memory now (Linux /proc), GiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**30


def run(shape: str, n: int) -> None:
    from tracelab.hardware.catalog import load_catalog
    from tracelab.hardware.perf import PerfModel
    from tracelab.simulate import simulate

    perf = PerfModel(load_catalog())
    requests = synth_requests(n) if shape == "synth" else azure_requests(n)
    fleet = sized_fleet(requests, perf)
    before_gib = _rss_gib()
    wall, cpu = time.perf_counter(), time.process_time()
    replay = simulate(requests, fleet, perf)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    replicas = sum(p.replicas for p in fleet.pools)
    print(f"{shape}: {replay.requests.height:,} requests, {len(fleet.pools)} pools, "
          f"{replicas} replicas | simulate {wall:.1f} s wall, {cpu:.1f} s CPU | "
          f"{replay.requests.height / wall:,.0f} req/s wall, "
          f"{replay.requests.height / cpu:,.0f} req/s CPU | peak RSS {rss_gib:.2f} GiB "
          f"({before_gib:.2f} GiB held before the replay: the input) | "
          f"attainment {replay.attainment(None):.4f}, p99 TTFT "
          f"{replay.requests['ttft_s'].quantile(0.99):.3f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--shape", choices=("synth", "azure", "both"), default="both")
    args = parser.parse_args()
    for shape in ("synth", "azure") if args.shape == "both" else (args.shape,):
        run(shape, args.requests)


if __name__ == "__main__":
    main()
