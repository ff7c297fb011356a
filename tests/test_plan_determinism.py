"""The same trace gives the same plan.json and ledger.parquet, byte for byte: run after run,
and two runs at once (the solver's work is bounded by nodes, never by the clock)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tracelab.resources import default_sample_trace


def _digest(folder: Path) -> tuple[str, str]:
    return tuple(hashlib.sha256((folder / n).read_bytes()).hexdigest()  # type: ignore[return-value]
                 for n in ("plan.json", "ledger.parquet"))


def _command(trace: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", "from tracelab.cli import main; main()", "plan", str(trace),
            "-o", str(out)]


def test_repeated_and_concurrent_plans_are_byte_identical(tmp_path):
    sample = default_sample_trace()
    if not sample.exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    # Two models with several classes each: tied optima between replica sizes and pools.
    trace = tmp_path / "two_models.parquet"
    pl.read_parquet(sample).filter(pl.col("model").str.contains("8B|70B")).write_parquet(trace)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    first = tmp_path / "first"
    subprocess.run(_command(trace, first), check=True, capture_output=True, env=env, timeout=600)
    both = [subprocess.Popen(_command(trace, tmp_path / f"run{i}"), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in (1, 2)]
    for proc in both:
        assert proc.wait(timeout=600) == 0, proc.stderr.read() if proc.stderr else ""
    digests = {_digest(first), _digest(tmp_path / "run1"), _digest(tmp_path / "run2")}
    assert len(digests) == 1
