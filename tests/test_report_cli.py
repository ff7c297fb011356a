"""``tracelab report`` as a user runs it, and the golden summary.json of a small trace.

Regenerate the golden file after an intended change with
``TRACELAB_UPDATE_GOLDEN=1 pytest tests/test_report_cli.py``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import invoke

from tracelab.report.summary import drop_wall_clock, validate_summary
from tracelab.schema import conform

GOLDEN = Path(__file__).parent / "golden" / "summary.json"
UPDATE_ENV = "TRACELAB_UPDATE_GOLDEN"


def write_small_trace(path: Path, n: int = 240, seed: int = 3, models: bool = True) -> Path:
    """A deterministic canonical trace: chat (8B, streaming, sessions with growing prefix
    blocks) and code completion (70B, long prompts, short outputs) over 20 minutes."""
    rng = np.random.default_rng(seed)
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    offsets = np.sort(rng.uniform(0, 1200, n))
    code = rng.random(n) < 0.4
    input_tokens = np.where(code, rng.lognormal(np.log(1500), 0.5, n),
                            rng.lognormal(np.log(600), 0.6, n)).astype(int) + 1
    output_tokens = np.where(code, rng.lognormal(np.log(13), 0.4, n),
                             rng.lognormal(np.log(180), 0.5, n)).astype(int) + 1
    session = rng.integers(0, 12, n)
    turn: dict[int, int] = {}
    blocks = []
    for i in range(n):  # test fixture: per-session block lists that grow turn by turn
        s = int(session[i])
        turn[s] = turn.get(s, 0) + 1
        k = min(int(input_tokens[i]) // 512, turn[s] + 1)
        blocks.append(None if code[i] else [1000 * s + j for j in range(k)])
    frame = pl.LazyFrame({
        "request_id": [f"r{i:04d}" for i in range(n)],
        "arrival_ts": [t0 + timedelta(seconds=float(o)) for o in offsets],
        "time_base": ["absolute"] * n,
        "model": np.where(code, "meta-llama/Llama-3.1-70B-Instruct",
                          "meta-llama/Llama-3.1-8B-Instruct").tolist() if models else [None] * n,
        "input_tokens": input_tokens.tolist(),
        "output_tokens": output_tokens.tolist(),
        "is_streaming": (~code).tolist(),
        "ttft_s": np.round(0.05 + input_tokens / 20000, 4).tolist(),
        "session_id": [None if c else f"s{s}" for c, s in zip(code, session, strict=True)],
        "prefix_hash_blocks": pl.Series(blocks, dtype=pl.List(pl.UInt64)),
        "prefix_block_tokens": [None if c else 512 for c in code],
        "endpoint": np.where(code, "text_completion", "chat").tolist(),
        "status": ["ok"] * n,
        "source_format": ["canonical"] * n,
    })
    conform(frame).collect().write_parquet(path)
    return path


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    """One `tracelab report` run on the small trace, shared by the tests below."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("report")
    trace = write_small_trace(root / "small.parquet")
    out = root / "out"
    result = invoke(CliRunner(), ["report", str(trace), "-o", str(out)])
    return result, out


def test_report_happy_path(report_run):
    result, out = report_run
    assert result.exit_code == 0, result.output
    assert "Workload at a glance" in result.stdout
    assert "Fleet and cost" in result.stdout
    assert "wrote report.md" in result.stderr
    for name in ("report.md", "report.html", "summary.json"):
        assert (out / name).is_file()
    charts = sorted(p.name for p in (out / "charts").iterdir())
    assert "lengths.svg" in charts
    assert "cache_curve.svg" in charts
    md = (out / "report.md").read_text()
    for chart in charts:
        assert f"(charts/{chart})" in md


def test_summary_matches_schema_and_counts(report_run):
    _, out = report_run
    summary = json.loads((out / "summary.json").read_text())
    validate_summary(summary)
    assert summary["workload"]["requests"] == 240
    assert summary["input"] == {
        "files": ["small.parquet"], "formats": {"small.parquet": "canonical"},
        "rows_read": 240, "rows_accepted": 240, "rows_rejected": 0, "rejected_reasons": {}}
    assert summary["cache"]["evidence"] == "prefix_blocks"
    assert summary["plan"]["usd_per_hour"] > 0
    mapping = {m["model"]: m["model_id"] for m in summary["assumptions"]["model_mapping"]}
    assert mapping["meta-llama/Llama-3.1-8B-Instruct"] == "llama-3.1-8b"
    assert summary["assumptions"]["prices"], "prices with sources are listed"
    assert all(p["source"] for p in summary["assumptions"]["prices"])


def test_summary_matches_golden(report_run):
    _, out = report_run
    got = drop_wall_clock(json.loads((out / "summary.json").read_text()))
    if os.environ.get(UPDATE_ENV):
        GOLDEN.write_text(json.dumps(got, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    if not GOLDEN.is_file():
        pytest.fail(f"{GOLDEN} is missing; run with {UPDATE_ENV}=1 to create it")
    expected = json.loads(GOLDEN.read_text())
    changed = sorted(k for k in set(got) | set(expected) if got.get(k) != expected.get(k))
    assert not changed, (
        f"summary.json sections {changed} differ from {GOLDEN.name}; if the change is "
        f"intended (a stage changed), rerun with {UPDATE_ENV}=1"
    )


def test_report_json_prints_only_json(runner, tmp_path):
    trace = write_small_trace(tmp_path / "t.parquet", n=120, seed=5)
    result = invoke(runner, ["report", str(trace), "-o", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "tracelab-summary"
    assert data["workload"]["requests"] == 120


@pytest.mark.parametrize(("args", "needle"), [
    (["--price", "h100-sxm=cheap"], "--price"),
    (["--slo", "interactive.nonsense=1"], "nonsense"),
    (["--model-map", "no-equals-sign"], "--model-map"),
])
def test_bad_options_exit_2(runner, tmp_path, args, needle):
    trace = write_small_trace(tmp_path / "t.parquet", n=20)
    result = invoke(runner, ["report", str(trace), "-o", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_missing_input_exits_2(runner, tmp_path):
    result = invoke(runner, ["report", str(tmp_path / "nope.parquet"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_trace_without_models_reports_without_a_plan(runner, tmp_path):
    trace = write_small_trace(tmp_path / "anon.parquet", n=60, models=False)
    result = invoke(runner, ["report", str(trace), "-o", str(tmp_path / "o"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["plan"] is None
    assert data["workload"]["tokens"]["cached_input_tokens"] is None  # unknown, not 0
    # The summary states the fact; the advice in flags is the CLI's, on stderr.
    assert any("no fleet was planned" in note for note in data["assumptions"]["notes"])
    assert not any("--" in note for note in data["assumptions"]["notes"])
    assert "--assume-model" in result.stderr
    assert any(note.startswith("60 requests had no known model")
               for note in data["assumptions"]["notes"])
    md = (tmp_path / "o" / "report.md").read_text()
    assert "No plan was made for this trace: no request names a model" in md


def test_diff_of_two_traces_runs_the_pipeline_on_each(runner, tmp_path):
    base = write_small_trace(tmp_path / "base.parquet", n=80, seed=1)
    current = write_small_trace(tmp_path / "current.parquet", n=160, seed=1)
    result = invoke(runner, ["diff", str(base), str(current), "--markdown",
                             "--fail-on", "requests<-10%"])
    assert result.exit_code == 0, result.output
    assert "| requests | 80 | 160 | +80 (+100.0%) |" in result.stdout
