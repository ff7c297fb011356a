"""``tracelab synth``: happy paths, error paths, and the bundled samples match what it regenerates."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO_ROOT, invoke
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from tracelab.synth.generate import generate_trace
from tracelab.synth.samples import SAMPLES, write_samples

SAMPLE_DIR = REPO_ROOT / "sample_traces"


def test_synth_writes_a_trace(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    result = invoke(
        runner, ["synth", "-o", str(out), "--rows", "200", "--seed", "4", "--span-s", "300"]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "wrote 200 rows (canonical)" in result.stderr
    got = pl.read_parquet(out)
    want = generate_trace(200, seed=4, span_s=300).drop("source_file", "source_row")
    assert_frame_equal(got, want)


def test_synth_other_format(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    result = invoke(runner, ["synth", "-o", str(out), "-n", "50", "--format", "openai"])
    assert result.exit_code == 0, result.stderr
    lines = out.read_text().splitlines()
    assert 40 < len(lines) <= 50
    assert json.loads(lines[0])["object"] in {"chat.completion", "text_completion"}


def test_synth_streams_large_canonical_parquet(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "big.parquet"
    result = invoke(runner, ["synth", "-o", str(out), "-n", "2500", "--chunk-rows", "1000"])
    assert result.exit_code == 0, result.stderr
    ids = pl.read_parquet(out)["request_id"]
    assert ids.len() == 2500
    assert ids.str.slice(0, 4).unique().sort().to_list() == ["s0c0", "s0c1", "s0c2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "nope"], "Error: unknown --format 'nope'; choose one of canonical, openai"),
        (["--rows", "-1"], "Error: --rows must be >= 0"),
        (["--mix", "nope"], "Error: unknown mix 'nope'"),
        (["--start", "yesterday"], "Error: start 'yesterday' is not an ISO-8601 instant"),
    ],
)
def test_synth_bad_options_exit_2(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "t.parquet"
    result = invoke(runner, ["synth", "-o", str(out), "-n", "10", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert not out.exists()


def test_synth_needs_an_output(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, ["synth"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: nothing to write; pass -o PATH")
    result = invoke(runner, ["synth", "-o", str(tmp_path / "missing" / "t.parquet")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_synth_help_lists_options(runner: CliRunner) -> None:
    result = invoke(runner, ["synth", "--help"])
    assert result.exit_code == 0
    for option in ("--rows", "--seed", "--format", "--span-s", "--samples"):
        assert option in result.stdout


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    result = invoke(CliRunner(), ["synth", "--samples", str(folder)])
    assert result.exit_code == 0, result.stderr
    return folder


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return pl.DataFrame({"row": [json.dumps(r, sort_keys=True) for r in rows]})


@pytest.mark.parametrize("spec", SAMPLES, ids=lambda s: s.file)
def test_bundled_samples_equal_what_synth_regenerates(regenerated: Path, spec) -> None:  # type: ignore[no-untyped-def]
    committed = SAMPLE_DIR / spec.file
    assert committed.is_file(), f"{committed} missing: run `tracelab synth --samples sample_traces`"
    assert_frame_equal(_read(committed), _read(regenerated / spec.file))


def test_bundled_sample_set_is_small_and_complete(regenerated: Path) -> None:
    files = {p.name for p in SAMPLE_DIR.iterdir()}
    assert files == {s.file for s in SAMPLES} | {"README.md"}
    assert (SAMPLE_DIR / "README.md").read_text() == (regenerated / "README.md").read_text()
    assert sum(p.stat().st_size for p in SAMPLE_DIR.iterdir()) < 1.5e6
    sample = pl.read_parquet(SAMPLE_DIR / "sample.canonical.parquet")
    assert sample.height == 5000
    assert set(sample["synth_workload"]) == {"chat", "code", "rag", "agentic", "batch"}


def test_write_samples_returns_rows(tmp_path: Path) -> None:
    written = dict((p.name, n) for p, n in write_samples(tmp_path))
    assert written["sample.canonical.parquet"] == 5000
    assert all(200 <= n <= 500 for name, n in written.items() if name != "sample.canonical.parquet")
