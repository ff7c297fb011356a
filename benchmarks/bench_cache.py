"""Benchmark the reuse analysis: 10M block references, exact stack distances vs SHARDS.

Run: ``python benchmarks/bench_cache.py [N_REFERENCES]``. Prints timings and the SHARDS
hit-ratio error against the exact curve. Not a test: timings depend on the machine.

``python benchmarks/bench_cache.py --trace PATH [--sample-rate R] [--old-api] [--scan]``
measures what ``tracelab report`` does on a real trace file: ``compute_reuse_curve`` then the
per-request hits at the 80% knee capacity (``ReuseResult.compute_cache_hits_by_row``, keyed by
row; ``--old-api`` calls the standalone exact ``compute_cache_hits(frame, capacity)`` instead,
which also runs on older versions of tracelab for a before/after comparison). ``--scan``
scans the Parquet file directly instead of ingesting it first (the cache stage alone).
Prints wall and CPU seconds per step and the process's peak RSS (``ru_maxrss``); run one
measurement per process.

The synthetic trace mimics Mooncake's shape: each request reads a shared system-prompt
block, then a Zipf-popular document prefix of a few blocks, then its own fresh blocks.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import polars as pl

from tracelab.cache import compute_reuse_curve, compute_stack_distances
from tracelab.cache.stack import compute_hit_ratios, compute_shards_distances
from tracelab.schema import conform

BLOCK_TOKENS = 512


def synthetic_frame(n_refs: int, seed: int = 0) -> pl.LazyFrame:
    rng = np.random.default_rng(seed)
    n_req = n_refs // 25
    lengths = rng.integers(5, 46, n_req)  # 5..45 blocks, mean 25
    doc = rng.zipf(1.3, n_req) % 50_000
    shared = np.minimum(lengths - 1, rng.integers(1, 12, n_req))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total = int(lengths.sum())
    req = np.repeat(np.arange(n_req), lengths)
    j = np.arange(total) - np.repeat(starts, lengths)
    fresh = np.arange(total, dtype=np.uint64) + np.uint64(1 << 40)
    doc_block = (doc[req].astype(np.uint64) << np.uint64(16)) + j.astype(np.uint64) + np.uint64(1)
    ids = np.where(j == 0, np.uint64(0), np.where(j <= shared[req], doc_block, fresh))
    lists = (
        pl.Series("prefix_hash_blocks", ids)
        .to_frame()
        .with_columns(pl.Series("req", req))
        .group_by("req", maintain_order=True)
        .agg(pl.col("prefix_hash_blocks"))
    )
    return conform(
        lists.lazy().select(
            pl.format("r{}", pl.col("req")).alias("request_id"),
            (pl.col("req") * 10_000).cast(pl.Datetime("us", "UTC")).alias("arrival_ts"),
            (pl.col("prefix_hash_blocks").list.len() * BLOCK_TOKENS).alias("input_tokens"),
            pl.lit(100).alias("output_tokens"),
            "prefix_hash_blocks",
            pl.lit(BLOCK_TOKENS).alias("prefix_block_tokens"),
            pl.lit("synthetic").alias("source_file"),
            (pl.col("req") + 1).cast(pl.Int64()).alias("source_row"),
        )
    )


def measure_trace(path: str, sample_rate: float | None, old_api: bool, scan: bool) -> None:
    """One trace, one process: curve + per-request hits, wall times and peak RSS."""
    import resource

    from tracelab.cache import compute_cache_hits
    from tracelab.ingest import read_trace

    t0 = time.perf_counter()
    trace = None if scan else read_trace([path])
    frame = pl.scan_parquet(path) if trace is None else trace.frame
    t1 = time.perf_counter()
    c1 = time.process_time()
    kwargs = {} if sample_rate is None else {"sample_rate": sample_rate}
    result = compute_reuse_curve(frame, **kwargs)  # type: ignore[arg-type]
    t2 = time.perf_counter()
    knees = result.knees
    capacity = int(knees.filter(pl.col("fraction") == 0.8)["capacity_blocks"].item())
    if old_api:
        hits = compute_cache_hits(frame, capacity).collect()
    else:
        hits = result.compute_cache_hits_by_row(capacity)
    t3 = time.perf_counter()
    cpu = time.process_time() - c1
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    total = int(hits["cache_hit_tokens"].fill_null(0).sum())
    print(
        f"{path}: method {result.method} (rate {result.sample_rate}), "
        f"{result.n_references:,} block reads, {result.n_distinct:,} distinct, "
        f"reuse {result.reuse_ratio_infinite:.6f}; 80% knee {capacity:,} blocks, "
        f"hit tokens {total:,}; error {result.sampling_error}"
    )
    print(
        f"read_trace {t1 - t0:.2f} s, compute_reuse_curve {t2 - t1:.2f} s, "
        f"per-request hits ({'compute_cache_hits(frame)' if old_api else 'by row'}) "
        f"{t3 - t2:.2f} s, cache stage {t3 - t1:.2f} s wall / {cpu:.2f} s CPU, "
        f"total {t3 - t0:.2f} s, peak RSS {rss_gib:.2f} GiB"
    )


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] == "--trace":
        rate = float(args[args.index("--sample-rate") + 1]) if "--sample-rate" in args else None
        measure_trace(args[1], rate, "--old-api" in args, "--scan" in args)
        return
    n = int(args[0]) if args else 10_000_000
    t0 = time.perf_counter()
    frame = synthetic_frame(n).collect().lazy()
    print(f"built synthetic frame: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    t0 = time.perf_counter()
    result = compute_reuse_curve(frame)
    t_curve = time.perf_counter() - t0
    print(
        f"compute_reuse_curve exact, {result.n_references:,} references, "
        f"{result.n_distinct:,} distinct: {t_curve:.1f} s"
    )

    from tracelab.cache import compute_block_references

    ids = compute_block_references(frame).block_ids
    t0 = time.perf_counter()
    exact = compute_stack_distances(ids)
    print(f"compute_stack_distances exact: {time.perf_counter() - t0:.1f} s")
    caps = result.curve["capacity_blocks"].to_numpy()
    exact_curve = compute_hit_ratios(exact, caps)
    for rate in (0.1, 0.01, 0.001):
        t0 = time.perf_counter()
        approx, _ = compute_shards_distances(ids, rate)
        elapsed = time.perf_counter() - t0
        ok = caps >= 1 / rate  # SHARDS resolves capacities of 1/R blocks and more
        est = compute_hit_ratios(approx, caps[ok], expected_total=rate * ids.size)
        err = np.abs(est - exact_curve[ok])
        print(
            f"SHARDS R={rate:g}: {elapsed:.2f} s, {approx.size:,} sampled; "
            f"max |error| {err.max():.4f}, mean |error| {err.mean():.4f} over {int(ok.sum())} capacities >= 1/R"
        )
    t0 = time.perf_counter()
    sampled = compute_reuse_curve(frame, sample_rate=0.01)
    print(
        f"compute_reuse_curve SHARDS R=0.01 (incl. error check on the first 2^19 references): "
        f"{time.perf_counter() - t0:.1f} s, reported error {sampled.sampling_error}"
    )


if __name__ == "__main__":
    main()
