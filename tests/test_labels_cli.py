"""``tracelab label``: happy paths and one-line errors (hardware facts are the test's own)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import invoke
from test_labels_support import HARDWARE, at, frame
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def _hand_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracelab.features

    monkeypatch.setattr(tracelab.features, "load_reference_hardware", lambda: HARDWARE)


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    n = 40
    lf = frame(
        request_id=[f"q{i}" for i in range(n)],
        model=["tiny"] * n,
        is_streaming=[True] * n,
        arrival_ts=[at(i) for i in range(n)],
        input_tokens=[1500 if i % 2 else 300 for i in range(n)],
        output_tokens=[13 if i % 2 else 400 for i in range(n)],
        prefix_hash_blocks=[[1, 2]] * n,
    )
    path = tmp_path / "t.canonical.parquet"
    lf.collect().write_parquet(path)
    return path


def test_label_writes_parquet_and_shows_tables(runner: CliRunner, trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "labeled.parquet"
    model = tmp_path / "model.json"
    result = invoke(runner, ["label", str(trace), "-o", str(out), "--save-model", str(model),
                             "--k", "2"])
    assert result.exit_code == 0, result.stderr
    assert "Workload labels — 40 requests" in result.stdout
    assert "prefill-heavy" in result.stdout
    assert "Clusters (k = 2)" in result.stdout
    assert "wrote 40 labeled rows" in result.stderr
    df = pl.read_parquet(out)
    assert df.height == 40
    assert {"label_phase", "label_phase_reason", "cluster", "cluster_name"} <= set(df.columns)
    assert json.loads(model.read_text())["k"] == 2


def test_label_csv_encodes_lists_and_json_summary(
    runner: CliRunner, trace: Path, tmp_path: Path
) -> None:
    out = tmp_path / "labeled.csv"
    result = invoke(runner, ["label", str(trace), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    phases = {r["label_phase"]: r["request_share"] for r in summary["labels"]["phase"]}
    assert phases == {"prefill-heavy": 0.5, "decode-heavy": 0.5}
    assert pl.read_csv(out).get_column("prefix_hash_blocks").unique().to_list() == ["1 2"]


def test_label_applies_a_saved_model(runner: CliRunner, trace: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.json"
    assert invoke(runner, ["label", str(trace), "--save-model", str(model)]).exit_code == 0
    result = invoke(runner, ["label", str(trace), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["k"] == json.loads(model.read_text())["k"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--config", "{bad_toml}"], "unknown key 'phase.nope'"),
        (["--model", "{bad_model}"], "bad.json: key "),
        (["--model-map", "nonsense"], "--model-map 'nonsense'"),
        (["-o", "{tmp}/x.xlsx"], "unsupported extension"),
    ],
)
def test_label_errors_are_one_line(
    runner: CliRunner, trace: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[phase]\nnope = 1\n")
    bad_model = tmp_path / "bad.json"
    bad_model.write_text('{"format": "tracelab-cluster-model", "version": 1, "k": "x"}')
    filled = [a.format(bad_toml=bad_toml, bad_model=bad_model, tmp=tmp_path) for a in args]
    result = invoke(runner, ["label", str(trace), *filled])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert needle in lines[0]
