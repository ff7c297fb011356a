"""Bad inputs a new user meets: each is one line on stderr and exit 2, or a counted
rejection with its reason, never a traceback (README: "Exit codes", "Bad rows are not bad
files")."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest

from tests.conftest import REPO_ROOT, invoke
from tracelab.ingest import read_trace


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


# -- times -------------------------------------------------------------------------------

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize("values", [
    ["1767603600", "1767603601"],                    # seconds
    ["1767603600000", "1767603601000"],              # milliseconds
    ["1767603600000000", "1767603601000000"],        # microseconds
    ["1767603600000000000", "1767603601000000000"],  # nanoseconds
    ["1767603600.0", "1767603601.0"],                # seconds as floats
])
def test_epoch_numbers_in_csv_are_read_by_their_size(tmp_path, values):
    path = tmp_path / "epoch.csv"
    path.write_text("arrival_ts,input_tokens,output_tokens\n"
                    + "".join(f"{v},10,2\n" for v in values))
    trace = read_trace(path)
    assert trace.rows_rejected == 0
    assert trace.frame.collect()["arrival_ts"].to_list() == [
        T0, datetime(2026, 1, 5, 9, 0, 1, tzinfo=UTC)]


def test_epoch_integers_in_parquet_and_jsonl(tmp_path):
    pl.DataFrame({"arrival_ts": [1767603600000000], "input_tokens": [1],
                  "output_tokens": [1]}).write_parquet(tmp_path / "t.parquet")
    (tmp_path / "t.jsonl").write_text(
        '{"arrival_ts": 1767603600, "input_tokens": 1, "output_tokens": 1}\n')
    for name in ("t.parquet", "t.jsonl"):
        frame = read_trace(tmp_path / name).frame.collect()
        assert frame["arrival_ts"].to_list() == [T0]
        assert frame["time_base"].to_list() == ["absolute"]


def test_all_rows_rejected_names_the_real_problem(runner, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("arrival_ts,input_tokens,output_tokens\nyesterday,10,2\nsoon,1,1\n")
    line = _one_line_error(invoke(runner, ["label", str(path)]),
                           "all 2 rows were rejected", "arrival_ts time does not parse",
                           "row 1: 'yesterday'")
    assert "token" not in line


# -- rows --------------------------------------------------------------------------------

def test_trailing_blank_lines_are_not_rows(runner, tmp_path):
    text = (REPO_ROOT / "sample_traces" / "sample.azure.csv").read_text().rstrip("\n")
    path = tmp_path / "blank.csv"
    path.write_text(text + "\n\n\n")
    rows = text.count("\n")  # data rows: lines after the header
    trace = read_trace(path)
    assert (trace.rows_read, trace.rows_rejected) == (rows, 0)
    assert invoke(runner, ["inspect", str(path), "--strict", "--json"]).exit_code == 0


def test_nan_and_infinite_latencies_are_rejected_for_what_they_are(runner, tmp_path):
    path = tmp_path / "lat.csv"
    path.write_text("request_id,input_tokens,output_tokens,ttft_s,e2e_latency_s\n"
                    "a,1,1,nan,1\nb,1,1,0.1,inf\nc,1,1,0.1,0.5\n")
    trace = read_trace(path)
    assert trace.rows_accepted == 1
    assert sorted(trace.rejected.select("field", "reason").rows()) == [
        ("e2e_latency_s", "latency is not finite (NaN or infinity)"),
        ("ttft_s", "latency is not finite (NaN or infinity)"),
    ]
    result = invoke(runner, ["inspect", str(path), "--json"])
    assert result.exit_code == 0
    json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


def test_duplicate_request_ids_are_counted_and_made_distinct(runner, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("request_id,input_tokens,output_tokens\nr1,1,1\nr2,2,2\nr1,3,3\nr1,4,4\n")
    trace = read_trace(path)
    assert trace.duplicate_ids == 2
    assert trace.frame.collect()["request_id"].to_list() == ["r1", "r2", "r1#2", "r1#3"]
    result = invoke(runner, ["label", str(path)])
    assert result.exit_code == 0
    assert "2 request(s) reuse an earlier request's id" in result.stderr


@pytest.mark.parametrize("rows", [1, 2, 3])
def test_tiny_traces_label_and_plan(runner, tmp_path, rows):
    path = tmp_path / "tiny.csv"
    lines = [f"llama-3.1-8b,{10 ** (i + 1)},{2 + i},2026-01-05T09:00:0{i}Z" for i in range(rows)]
    path.write_text("model,input_tokens,output_tokens,arrival_ts\n" + "\n".join(lines) + "\n")
    for verb in ("label", "plan"):
        result = invoke(runner, [verb, str(path), "--json"])
        assert result.exit_code == 0, result.output


# -- paths -------------------------------------------------------------------------------

def test_report_output_inside_its_input_folder_is_not_read_back(runner, tmp_path):
    (tmp_path / "t.csv").write_text(
        "model,input_tokens,output_tokens,arrival_ts\n"
        "llama-3.1-8b,100,10,2026-01-05T09:00:00Z\nllama-3.1-8b,200,20,2026-01-05T09:00:05Z\n")
    out = tmp_path / "out"
    for _ in range(2):
        result = invoke(runner, ["report", str(tmp_path), "-o", str(out)])
        assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"]["files"] == ["t.csv"]
    assert any("written by tracelab" in n for n in summary["assumptions"]["notes"])


def test_rejected_rows_file_beside_its_output_is_not_an_input(runner, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "t.csv").write_text("input_tokens,output_tokens\n1,1\n-1,1\n")
    assert invoke(runner, ["ingest", str(folder), "-o", str(folder / "t.parquet")]).exit_code == 0
    assert (folder / "t.rejected.parquet").is_file()
    (folder / "t.parquet").unlink()
    result = invoke(runner, ["inspect", str(folder), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rows"]["read"] == 2
    assert "not read as traces" in result.stderr


def test_diff_on_an_empty_or_cut_short_summary(runner, tmp_path):
    empty = tmp_path / "summary.json"
    empty.write_text("")
    _one_line_error(invoke(runner, ["diff", str(empty), str(empty)]), "summary is empty")
    cut = tmp_path / "cut.json"
    cut.write_text('{\n  "arrivals": {\n    "index_of')
    _one_line_error(invoke(runner, ["diff", str(cut), str(cut)]), "truncated?")


def test_unreadable_folder_is_named(runner, tmp_path, monkeypatch):
    """Root ignores permission bits, so the refusal is simulated where listing happens."""
    import os

    (tmp_path / "t.csv").write_text("input_tokens,output_tokens\n1,1\n")

    def refuse(top, onerror=None, **kwargs):
        onerror(PermissionError(13, "Permission denied", str(top)))
        return iter(())

    monkeypatch.setattr(os, "walk", refuse)
    _one_line_error(invoke(runner, ["inspect", str(tmp_path)]), "cannot list the folder",
                    "Permission denied")


def test_a_glob_into_an_unreadable_folder_is_named(runner, tmp_path, monkeypatch):
    """Root ignores permission bits, so the refusal is simulated where the path is checked."""
    from pathlib import Path

    real = Path.exists

    def exists(self):
        if "locked" in str(self):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "exists", exists)
    _one_line_error(invoke(runner, ["inspect", str(tmp_path / "locked" / "*.csv")]),
                    "permission denied", "locked")
