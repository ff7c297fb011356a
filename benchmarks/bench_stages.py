"""Per-stage wall and CPU seconds of the pipeline on one trace, with the peak RSS so far.

    python benchmarks/bench_stages.py benchmarks/data/trace-10m.parquet [--credit-session-reuse]
        [--no-replay]

Runs ``tracelab.pipeline.run_pipeline`` (no report files written) with a progress callback
that prints, as each stage ends, its wall seconds, the process's CPU seconds over it (both
cores: up to 2x wall) and ``ru_maxrss`` so far. Wrap it in ``/usr/bin/time -v`` for the
peak of the whole process. The "stages" rows of RESULTS.md come from this script. The
plan is replayed and repaired as ``tracelab report`` does by default (``--no-replay``: not;
runs before 2026-12-02 did not replay).
"""

from __future__ import annotations

import resource
import sys
import time


def main(path: str, credit: bool = False, replay: bool = True) -> None:
    from tracelab.pipeline import run_pipeline

    started = time.perf_counter()
    last_wall, last_cpu, last_step = started, time.process_time(), "start"

    def peak_gib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20

    def tell(step: str, done: int, total: int) -> None:
        nonlocal last_wall, last_cpu, last_step
        now, cpu = time.perf_counter(), time.process_time()
        print(f"{last_step:<22} {now - last_wall:6.1f} s  cpu {cpu - last_cpu:6.1f} s  "
              f"peak so far {peak_gib():.2f} GiB", flush=True)
        last_wall, last_cpu, last_step = now, cpu, step

    result = run_pipeline([path], progress=tell, credit_session_reuse=credit,
                          verify=replay)
    gap = result.plan.settings.get("optimality_gap") if result.plan else None
    print(f"total {time.perf_counter() - started:.1f} s  cpu {time.process_time():.1f} s  "
          f"optimality gap {gap}")


if __name__ == "__main__":
    main(sys.argv[1], "--credit-session-reuse" in sys.argv[2:], "--no-replay" not in sys.argv[2:])
