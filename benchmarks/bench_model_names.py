"""`tracelab label` on a trace with thousands of distinct model names (issue: fine-tunes,
LoRA adapters, dated snapshots), beside the same rows with their ordinary few names.

    python benchmarks/bench_model_names.py [--rows 2000]

Each run is its own `tracelab label FILE -o OUT` process under ``/usr/bin/time``: wall, user
and system CPU seconds and peak RSS. The target is 2,000 rows with 2,000 names in <= 10 s on
the 2-core reference machine; read the CPU seconds when the machine is shared.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path


def write_traces(folder: Path, rows: int) -> dict[str, Path]:
    """``rows`` synthetic requests twice: one model name each, and the synth's own names."""
    import polars as pl

    from tracelab.synth import generate_trace

    base = generate_trace(rows, seed=1).drop("synth_workload")
    paths = {"distinct names": folder / f"names-{rows}.parquet",
             "synth names": folder / f"synth-{rows}.parquet"}
    base.with_columns(
        (pl.lit("ft:llama-3.1-8b:org:") + pl.int_range(pl.len()).cast(pl.String)).alias("model")
    ).write_parquet(paths["distinct names"])
    base.write_parquet(paths["synth names"])
    return paths


def label(path: Path, out: Path) -> str:
    """One `tracelab label` process: its /usr/bin/time line."""
    tracelab = str(Path(sys.executable).parent / "tracelab")
    command = ["/usr/bin/time", "-f", "wall %e s, user %U s, sys %S s, peak RSS %M KB",
               tracelab, "label", str(path), "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"failed ({done.returncode}): {done.stderr.strip().splitlines()[-2:]}"
    return done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in write_traces(Path(tmp), args.rows).items():
            print(f"{args.rows:,} rows, {name}: {label(path, Path(tmp) / 'out.parquet')}",
                  flush=True)


if __name__ == "__main__":
    main()
