"""Scale benchmark: `tracelab report` end to end and per stage, the streaming profile, and the
same per-request features + per-minute group-by in plain polars, pandas and DuckDB SQL.

    python benchmarks/bench_scale.py --sizes 1m,10m [--skip report] [--json out.json]

Traces come from tracelab's synthetic generator (``write_large_trace``, seed 0, 500 req/s)
under ``benchmarks/data/`` (gitignored), made once. Every measurement runs in its own
Python process, so its peak RSS (``ru_maxrss``) is its own; a watchdog kills a run whose
resident memory passes ``--rss-limit-gib`` (default 12) and records that instead of a time.
pandas and duckdb are bench-only dependencies (the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SIZES = {"1m": 1_000_000, "10m": 10_000_000, "100m": 100_000_000}
BYTES_PER_ROW = 33  # measured: the 10M synthetic trace is 314 MB of zstd Parquet
KINDS = ("report", "aggregates", "profile", "profile-dask", "polars", "duckdb", "pandas")

# The comparison query, one definition per engine. Features: prefill_tokens (input minus
# cached, all input when cached is null), context_tokens, cached_share, prefill_decode_ratio
# (tracelab.features.tokens); group by (epoch-aligned minute, model).
DUCKDB_SQL = """
SELECT (epoch_us(arrival_ts) // 60000000) * 60000000 AS window_start_us, model,
       count(*) AS requests,
       sum(input_tokens) AS input_tokens,
       sum(cached_input_tokens) AS cached_input_tokens,
       sum(output_tokens) AS output_tokens,
       sum(prefill_tokens) AS prefill_tokens,
       sum(input_tokens + output_tokens) AS context_tokens,
       avg(CASE WHEN input_tokens > 0 THEN cached_input_tokens / input_tokens END) AS cached_share,
       avg(CASE WHEN output_tokens > 0 THEN prefill_tokens / output_tokens END) AS prefill_decode_ratio,
       sum(ttft_s) AS ttft_s_sum, count(ttft_s) AS ttft_n
FROM (
  SELECT *, CASE WHEN cached_input_tokens IS NULL THEN input_tokens
                 ELSE greatest(input_tokens - cached_input_tokens, 0) END AS prefill_tokens
  FROM read_parquet('{path}')
)
GROUP BY ALL
"""


def _child(kind: str, path: str) -> dict[str, Any]:
    """Run one measurement in this process; return timings (s) and result checks."""
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if kind == "report":
        from contextlib import contextmanager

        import tracelab.commands._pipeline as verbs
        from tracelab.cli import app

        marks: list[tuple[str, float]] = []

        @contextmanager
        def recorded() -> Any:
            def tell(step: str, done: int, total: int) -> None:
                marks.append((step, time.perf_counter()))
                print(f"stage {step} at {marks[-1][1] - started:.1f} s", file=sys.stderr,
                      flush=True)

            yield tell

        verbs.progress_bar = recorded  # type: ignore[assignment]
        with tempfile.TemporaryDirectory() as tmp:
            app(["report", path, "-o", tmp], standalone_mode=False)
            out["summary_requests"] = json.loads((Path(tmp) / "summary.json").read_text()).get(
                "requests", {})
        end = time.perf_counter()
        stages = {"startup+options": marks[0][1] - started if marks else None}
        for (step, t0), (_, t1) in itertools.pairwise(marks):
            stages[step] = t1 - t0
        stages["write report"] = end - marks[-1][1] if marks else None
        out["stages_s"] = stages
    elif kind == "aggregates":
        from tracelab.scale.aggregate import run_aggregates

        aggregates, _ = run_aggregates(path)
        out["requests"] = aggregates["totals"]["requests"]
    elif kind in ("profile", "profile-dask"):
        from tracelab.scale import DaskExecutor, LocalExecutor, run_profile

        executor = DaskExecutor(local_cluster=2) if kind == "profile-dask" else LocalExecutor()
        with executor:
            result = run_profile(path, executor=executor)
        out["requests"] = result["requests"]
        out["partitions"] = result["partitions"]
        out["input_tokens"] = result["totals"]["input_tokens"]
    elif kind == "polars":
        import polars as pl

        from tracelab.features.tokens import compute_token_features
        from tracelab.scale.profile import compute_window_sums

        frame = pl.scan_parquet(path).with_columns(compute_token_features())
        extra = frame.group_by(
            (pl.col("arrival_ts").dt.epoch("us") // 60_000_000).alias("w"), "model"
        ).agg(pl.col("cached_share").mean(), pl.col("prefill_decode_ratio").mean())
        sums, _ = pl.collect_all([compute_window_sums(frame, 60.0), extra], engine="streaming")
        out["requests"] = int(sums["requests"].sum())
        out["input_tokens"] = int(sums["input_tokens"].sum())
    elif kind == "duckdb":
        import duckdb

        relation = duckdb.sql(DUCKDB_SQL.format(path=path))
        names = relation.columns
        rows = relation.fetchall()
        out["requests"] = int(sum(r[names.index("requests")] for r in rows))
        out["input_tokens"] = int(sum(r[names.index("input_tokens")] for r in rows))
    elif kind == "pandas":
        import numpy as np
        import pandas as pd

        cols = ["arrival_ts", "model", "input_tokens", "cached_input_tokens", "output_tokens",
                "ttft_s"]
        df = pd.read_parquet(path, columns=cols)
        inp, cached, outp = df["input_tokens"], df["cached_input_tokens"], df["output_tokens"]
        df["prefill_tokens"] = np.where(cached.isna(), inp, (inp - cached).clip(lower=0))
        df["context_tokens"] = inp + outp
        df["cached_share"] = (cached / inp).where(inp > 0)
        df["prefill_decode_ratio"] = (df["prefill_tokens"] / outp).where(outp > 0)
        epoch_us = df["arrival_ts"].astype("int64") // 1000 if df["arrival_ts"].dt.unit == "ns" \
            else df["arrival_ts"].astype("int64")
        df["window_start_us"] = (epoch_us // 60_000_000) * 60_000_000
        grouped = df.groupby(["window_start_us", "model"], dropna=False).agg(
            requests=("input_tokens", "size"),
            input_tokens=("input_tokens", "sum"),
            cached_input_tokens=("cached_input_tokens", "sum"),
            output_tokens=("output_tokens", "sum"),
            prefill_tokens=("prefill_tokens", "sum"),
            context_tokens=("context_tokens", "sum"),
            cached_share=("cached_share", "mean"),
            prefill_decode_ratio=("prefill_decode_ratio", "mean"),
            ttft_s_sum=("ttft_s", "sum"),
            ttft_n=("ttft_s", "count"),
        )
        out["requests"] = int(grouped["requests"].sum())
        out["input_tokens"] = int(grouped["input_tokens"].sum())
    else:
        msg = f"unknown measurement {kind}"
        raise SystemExit(msg)
    out["child_wall_s"] = time.perf_counter() - started
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def _rss_tree(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def measure(kind: str, path: Path, rss_limit: int, timeout_s: float) -> dict[str, Any]:
    """Run ``kind`` on ``path`` in a fresh process under the watchdog."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result, \
            tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", kind, str(path), result.name],
            stdout=subprocess.DEVNULL, stderr=log, text=True,
        )
        peak_seen, killed = 0, None
        while proc.poll() is None:
            rss = _rss_tree(proc.pid)
            peak_seen = max(peak_seen, rss)
            elapsed = time.perf_counter() - started
            if rss > rss_limit or elapsed > timeout_s:
                killed = (f"killed at {elapsed:.0f} s: RSS {rss / 2**30:.1f} GiB"
                          if rss > rss_limit else f"killed: over {timeout_s:.0f} s")
                proc.kill()
                break
            time.sleep(0.2)
        proc.wait()
        wall = time.perf_counter() - started
        log.seek(0)
        err = log.read().strip().splitlines()
        if killed or proc.returncode != 0:
            stages = [line for line in err if line.startswith("stage ")]
            where = f" during {stages[-1]}" if killed and stages else ""
            return {"kind": kind, "error": (killed + where) if killed else
                    (err[-1] if err else f"exit {proc.returncode}"),
                    "wall_s": wall, "peak_rss_seen_bytes": peak_seen}
        data = json.loads(Path(result.name).read_text())
    return {"kind": kind, "wall_s": wall, "peak_rss_tree_bytes": peak_seen, **data}


def ensure_trace(size: str) -> Path:
    path = DATA / f"trace-{size}.parquet"
    if path.exists():
        return path
    need = SIZES[size] * BYTES_PER_ROW * 1.2
    free = shutil.disk_usage(DATA.parent).free
    if free < need:
        msg = f"not enough disk for {size}: need ~{need / 2**30:.1f} GiB, {free / 2**30:.1f} free"
        raise SystemExit(msg)
    from tracelab.synth import write_large_trace

    DATA.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.tmp")
    t0 = time.perf_counter()
    write_large_trace(partial, SIZES[size], seed=0)
    partial.rename(path)
    print(f"generated {path.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


def machine() -> dict[str, Any]:
    import polars as pl

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**30, 1),
            "python": platform.python_version(), "polars": pl.__version__}


def _fmt(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['kind']:8s} FAILED ({row['error']})"
    rss = row["peak_rss_bytes"] / 2**30
    tree = row.get("peak_rss_tree_bytes", 0) / 2**30  # sampled every 0.2 s, workers included
    return (f"{row['kind']:12s} {row['wall_s']:8.2f} s  peak RSS {rss:6.2f} GiB"
            f"  (process tree, sampled: {tree:5.2f} GiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m")
    parser.add_argument("--skip", default="", help="comma list of: " + ", ".join(KINDS))
    parser.add_argument("--rss-limit-gib", type=float, default=12.0)
    parser.add_argument("--timeout-s", type=float, default=1800.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    skip = {s for s in args.skip.split(",") if s}
    results: dict[str, Any] = {"machine": machine(), "runs": {}}
    print(json.dumps(results["machine"]))
    for size in args.sizes.split(","):
        path = ensure_trace(size)
        rows = []
        for kind in KINDS:
            if kind in skip:
                continue
            row = measure(kind, path, int(args.rss_limit_gib * 2**30), args.timeout_s)
            rows.append(row)
            print(f"{size:5s} {_fmt(row)}", flush=True)
            if kind == "report" and "stages_s" in row:
                for stage, secs in row["stages_s"].items():
                    print(f"        {stage:22s} {secs:8.2f} s" if secs is not None else stage)
        times = {r["kind"]: r["wall_s"] for r in rows if "error" not in r}
        if "duckdb" in times:
            ratios = {k: round(v / times["duckdb"], 2) for k, v in times.items()}
            print(f"{size:5s} time / duckdb: {ratios}")
        checks = {r["kind"]: r.get("requests") for r in rows if r.get("requests") is not None}
        print(f"{size:5s} rows seen: {checks}")
        results["runs"][size] = rows
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        Path(sys.argv[4]).write_text(json.dumps(_child(sys.argv[2], sys.argv[3])))
    else:
        main()
