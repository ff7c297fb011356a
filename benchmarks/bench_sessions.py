"""Session-heavy shape: time, CPU and peak memory per pipeline stage at 1M and 10M requests,
beside the default synthetic mix at the same size (the ratio is what to read on a shared
machine), and the 2,000-model-name trace through `tracelab label`.

    python benchmarks/bench_sessions.py --sizes 1m,10m [--credit-session-reuse]

Traces under ``benchmarks/data/`` (gitignored), made once: ``sessions-1m.parquet`` etc. from
``write_large_trace(..., mix="sessions")`` over 24 h (hour-apart turns, 50 tenants, four
models, no prefix blocks, no cached-token counts) and ``trace-10m.parquet`` etc. from the
default mix at 500 req/s. Each run is its own process (``bench_stages.py`` under
``/usr/bin/time``), so its peak RSS is its own: peak memory does not depend on the load,
wall time does, and CPU seconds much less.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
SIZES = {"1m": 1_000_000, "10m": 10_000_000}
DAY_S = 86_400.0


def trace(kind: str, size: str) -> Path:
    """The trace file of ``kind`` (sessions, default) and ``size``, generated once."""
    from tracelab.synth import write_large_trace

    DATA.mkdir(exist_ok=True)
    rows = SIZES[size]
    if kind == "sessions":
        path = DATA / f"sessions-{size}.parquet"
        if not path.exists():
            write_large_trace(path, rows, mix="sessions", requests_per_s=rows / DAY_S)
    else:
        path = DATA / f"trace-{size}.parquet"
        if not path.exists():
            write_large_trace(path, rows)
    return path


def stages(path: Path, credit: bool) -> str:
    """``bench_stages.py`` on ``path`` under ``/usr/bin/time``: its lines and the peak RSS."""
    command = ["/usr/bin/time", "-f", "wall %e s, user %U s, sys %S s, peak RSS %M KB",
               sys.executable, str(HERE / "bench_stages.py"), str(path)]
    if credit:
        command.append("--credit-session-reuse")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    peak = re.search(r"peak RSS (\d+) KB", done.stderr)
    gib = f"{int(peak.group(1)) / 2**20:.2f} GiB" if peak else "?"
    return done.stdout + done.stderr.strip().splitlines()[-1] + f"  ({gib})\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1m,10m")
    parser.add_argument("--credit-session-reuse", action="store_true")
    args = parser.parse_args()
    for size in args.sizes.split(","):
        for kind in ("sessions", "default"):
            print(f"## {kind} {size}", flush=True)
            print(stages(trace(kind, size), args.credit_session_reuse and kind == "sessions"),
                  flush=True)  # fmt: skip
    print("## 2,000 model names, tracelab label (benchmarks/bench_model_names.py)")
    sys.path.insert(0, str(HERE))
    from bench_model_names import label, write_traces

    print(label(write_traces(DATA, 2000)["distinct names"], DATA / "models-out.parquet"))


if __name__ == "__main__":
    main()
