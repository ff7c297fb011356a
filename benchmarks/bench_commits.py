"""Two commits' ``tracelab report`` on one trace, interleaved in one run, as a ratio.

    python benchmarks/bench_commits.py TRACE OLD_COMMIT [NEW_COMMIT] [--rounds 5]

Each commit's tree is exported (``git archive``) into a temporary folder and run as
``python -m tracelab.cli report TRACE -o DIR`` with ``PYTHONPATH`` pointing at it, in its
own process. Rounds alternate old, new, new, old, ... so a machine whose speed drifts
(a shared VM) slows both runs of a round alike; the result is the median over rounds of
each round's new/old ratio (and, for reference, the ratio of the medians and of the
fastest runs), with each run's wall seconds printed as it ends. NEW_COMMIT defaults to
the working tree. The summaries' top-level sections that differ (wall-clock fields left
out) are listed: none when both commits computed the same report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WALL_CLOCK = ("generated_at", "elapsed_s")


def export(commit: str, into: Path) -> Path:
    """The tree of ``commit`` under ``into`` (its tracked files only)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_report(tree: Path, trace: str, out: Path) -> float:
    """Wall seconds of one ``tracelab report`` of ``tree``'s code."""
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "COLUMNS": "200",
           "NO_COLOR": "1"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from tracelab.cli import main; main()", "report",
                    trace, "-o", str(out)], check=True, env=env, capture_output=True)
    return time.perf_counter() - started


def _summary(folder: Path) -> dict[str, object]:
    data = json.loads((folder / "summary.json").read_text())
    for key in WALL_CLOCK:
        data.pop(key, None)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace")
    parser.add_argument("old")
    parser.add_argument("new", nargs="?", default=None)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-commits-") as tmp:
        base = Path(tmp)
        trees = {"old": export(args.old, base / "old"),
                 "new": export(args.new, base / "new") if args.new else ROOT}
        times: dict[str, list[float]] = {"old": [], "new": []}
        for i in range(args.rounds):
            order = ("old", "new") if i % 2 == 0 else ("new", "old")
            for name in order:
                seconds = run_report(trees[name], args.trace, base / f"out-{name}")
                times[name].append(seconds)
                print(f"round {i + 1} {name}: {seconds:.1f} s", flush=True)
        before, after = _summary(base / "out-old"), _summary(base / "out-new")
        differ = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    ratios = [n / o for n, o in zip(times["new"], times["old"], strict=True)]
    old, new = statistics.median(times["old"]), statistics.median(times["new"])
    print(f"per-round new/old: {', '.join(f'{r:.3f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.3f} over {args.rounds} interleaved rounds")
    print(f"median old {old:.1f} s, new {new:.1f} s (ratio {new / old:.3f}); fastest old "
          f"{min(times['old']):.1f} s, new {min(times['new']):.1f} s "
          f"(ratio {min(times['new']) / min(times['old']):.3f})")
    print(f"summary sections that differ: {', '.join(differ) or 'none'}")


if __name__ == "__main__":
    main()
