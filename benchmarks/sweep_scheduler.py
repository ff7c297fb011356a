"""One replica of one model, every scheduler setting: how close a single replica comes to
the attainment target, and what misses (TTFT or TPOT), across vLLM's scheduler knobs.

    python benchmarks/sweep_scheduler.py [--model llama-3.1-70b] [--device h100-sxm]
                                         [--size 8]

The bundled sample's requests of ``--model`` (the issue's case 1: its 1,259 llama-3.1-70b
requests), labelled as ``tracelab plan`` labels them, replayed through one colocated
replica of ``--size`` devices under each combination of ``chunk_tokens`` (the colocated
step's prefill budget), ``long_prefill_token_threshold``, ``max_long_partial_prefills`` and
``max_num_partial_prefills``. Attainment counts the modes the plan holds to a latency
target (interactive, agentic, unknown), both TTFT and TPOT, as ``tracelab plan`` does.
Prints the best settings first.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import polars as pl

CHUNKS = (512, 1024, 2048, 4096, 8192)
THRESHOLDS = (0, 256, 512, 1024, 2048)
LONG_SLOTS = (0, 1, 2)
PARTIAL = (0, 2, 4)
# How the sample's logs name a model (tests/test_plan_cases.py selects case 1 this way).
MODEL_NAMES = {"llama-3.1-70b": "70B"}


def _requests(model: str) -> pl.DataFrame:
    from tracelab.commands._options import load_inputs
    from tracelab.labels import cluster_labeled, load_label_config, materialise_labels
    from tracelab.resources import default_sample_trace
    from tracelab.simulate.requests import scan_replay_requests

    frame = pl.read_parquet(default_sample_trace())
    frame = frame.filter(pl.col("model").str.contains(MODEL_NAMES.get(model, model)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.parquet"
        frame.write_parquet(path)
        config = load_label_config()
        features = materialise_labels(load_inputs([path], None, False), config=config,
                                      model_map=None, assume_model=None)
        labeled = cluster_labeled(features, config=config, model_map=None, assume_model=None)
        every = scan_replay_requests(labeled.frame).collect()
    every = every.filter(pl.col("model_id") == model)  # labelled alone, as case 1 is
    return every.with_columns(pl.col("arrival_s") - pl.col("arrival_s").min())


def main() -> None:
    from tracelab.commands._hardware import load_perf_model, read_catalog
    from tracelab.plan import load_slos
    from tracelab.simulate import Fleet, PoolSpec, RouteShare, SimOptions, pool_id, simulate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-3.1-70b")
    parser.add_argument("--device", default="h100-sxm")
    parser.add_argument("--size", type=int, default=8)
    args = parser.parse_args()
    perf = load_perf_model(read_catalog(None, None), None)
    slos = load_slos()
    modes = sorted(m for m, s in slos.items() if s.ttft_s > 0 or s.tpot_s > 0)
    window = _requests(args.model)
    pid = pool_id(args.device, args.model, args.size, "colocated")
    fleet = Fleet((PoolSpec(pid, args.device, args.model, args.size, 1, "colocated"),),
                  tuple(RouteShare(c, pid, pid, 1.0) for c in sorted(set(window["class_id"]))))
    rows = []
    for chunk, cap, long_slots, partial in itertools.product(CHUNKS, THRESHOLDS, LONG_SLOTS,
                                                             PARTIAL):
        if (cap and cap >= chunk) or (long_slots and (not cap or 0 < partial <= long_slots)):
            continue  # a cap at or above the budget, or a long-slot limit that cannot bind
        options = SimOptions(chunk_tokens=chunk, long_prefill_token_threshold=cap,
                             max_long_partial_prefills=long_slots,
                             max_num_partial_prefills=partial)
        held = simulate(window, fleet, perf, slos=slos, options=options).requests.filter(
            pl.col("slo_mode").is_in(modes))
        rows.append({"chunk_tokens": chunk, "long_prefill_token_threshold": cap,
                     "max_long_partial_prefills": long_slots,
                     "max_num_partial_prefills": partial, "held": held.height,
                     "missed": int((~held["meets_slo"]).sum()),
                     "attainment": float(held["meets_slo"].mean()),
                     "meets_ttft": float(held["meets_ttft"].mean()),
                     "meets_tpot": float(held["meets_tpot"].mean())})
    table = pl.DataFrame(rows).sort("missed", "chunk_tokens", "long_prefill_token_threshold")
    with pl.Config(tbl_rows=20, tbl_width_chars=200):
        print(f"{window.height:,} {args.model} requests, one {pid} replica, {len(rows)} settings")
        print(table.head(20))


if __name__ == "__main__":
    main()
