"""Time ``fit_plan`` on a large synthetic labelled frame (default 1M requests).

    python benchmarks/bench_plan.py [N] [--seed S]

The frame is built with numpy (one model, random labels and token counts over one day) so
the benchmark measures the plan alone; it prints the time of each stage on stderr-free stdout.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import numpy as np
import polars as pl


def make_frame(n: int, seed: int) -> pl.LazyFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    offsets_us = np.sort(rng.integers(0, 86_400 * 1_000_000, n))
    prefill = rng.lognormal(7.0, 1.0, n).astype(np.int64) + 1
    decode = rng.lognormal(5.0, 1.0, n).astype(np.int64) + 1
    ctx = np.select([prefill < 1024, prefill < 8192, prefill < 32768],
                    ["short", "medium", "long"], "very-long")
    phase = np.where(prefill > 8 * decode, "prefill-heavy",
                     np.where(decode > prefill, "decode-heavy", "balanced"))
    mode = rng.choice(["interactive", "batch"], n, p=[0.8, 0.2])
    return pl.LazyFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "arrival_us": offsets_us,
        "model": "llama-3.1-8b",
        "model_id": "llama-3.1-8b",
        "input_tokens": prefill,
        "cached_input_tokens": np.zeros(n, dtype=np.int64),
        "output_tokens": decode,
        "prefill_tokens": prefill,
        "decode_tokens": decode,
        "context_tokens": prefill,
        "label_phase": phase,
        "label_context": ctx,
        "label_mode": mode,
    }).with_columns(
        (pl.lit(start) + pl.duration(microseconds=pl.col("arrival_us")))
        .cast(pl.Datetime("us", "UTC")).alias("arrival_ts")
    ).drop("arrival_us")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from tracelab.hardware.catalog import load_catalog
    from tracelab.hardware.perf import PerfModel
    from tracelab.plan import fit_plan

    t0 = time.perf_counter()
    frame = make_frame(args.n, args.seed).collect().lazy()
    t1 = time.perf_counter()
    catalog = load_catalog()
    perf = PerfModel(catalog)
    plan = fit_plan(frame, perf, devices=catalog.plannable())
    t2 = time.perf_counter()
    print(f"requests           {args.n:,}")
    print(f"build frame        {t1 - t0:.2f} s")
    print(f"fit_plan           {t2 - t1:.2f} s")
    print(f"classes            {plan.classes.height}")
    print(f"fleet              {plan.fleet.height} pools, ${plan.usd_per_hour:,.2f}/h")
    print(f"baseline h100      {plan.baseline_h100_usd_per_hour}")
    print(f"best single        {plan.baselines['best_single']}")
    print(f"ledger rows        {plan.requests:,}; idle ${plan.idle_usd:,.2f} "
          f"of ${plan.fleet_usd:,.2f}")


if __name__ == "__main__":
    main()
