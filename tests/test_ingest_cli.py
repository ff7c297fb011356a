"""``tracelab ingest``, ``inspect`` and ``formats``: happy paths, round trips, error paths."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import invoke
from polars.testing import assert_frame_equal

from tracelab.ingest import read_trace

MOONCAKE = (
    '{"timestamp": 0, "input_length": 1000, "output_length": 10, "hash_ids": [0, 1]}\n'
    '{"timestamp": 1500, "input_length": 600, "output_length": 5, "hash_ids": [0, 2]}\n'
    '{"timestamp": 2000, "input_length": -1, "output_length": 5, "hash_ids": [3]}\n'
)


def _assert_error(result, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error:"), result.stderr
    assert text in lines[0]


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_ingest_round_trip(runner, tmp_path: Path, suffix: str) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "m.jsonl"
    source.write_text(MOONCAKE)
    out = tmp_path / f"out{suffix}"
    result = invoke(runner, ["ingest", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "3 rows read = 2 accepted + 1 rejected" in result.stderr
    assert (tmp_path / f"out.rejected{suffix}").exists()
    again = read_trace(out)
    assert again.formats == {str(out): "canonical"}
    first = read_trace(source).frame.collect().drop("source_format", "source_file")
    second = again.frame.collect().drop("source_format", "source_file")
    assert_frame_equal(first, second)


def test_ingest_json_summary_and_no_rejects_file(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "t.csv"
    source.write_text("input_tokens,output_tokens\n1,2\n")
    out = tmp_path / "o.parquet"
    result = invoke(runner, ["ingest", str(source), "-o", str(out), "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert (summary["rows_read"], summary["rows_rejected"]) == (1, 0)
    assert not (tmp_path / "o.rejected.parquet").exists()


def test_ingest_strict_writes_nothing(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "m.jsonl"
    source.write_text(MOONCAKE)
    out = tmp_path / "o.parquet"
    _assert_error(invoke(runner, ["ingest", str(source), "-o", str(out), "--strict"]), "rejected")
    assert not out.exists()


def test_ingest_bad_file(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "bad.jsonl"
    source.write_text('{"timestamp": 0\n')
    out = tmp_path / "o.parquet"
    _assert_error(invoke(runner, ["ingest", str(source), "-o", str(out)]), "line 1: malformed JSON")
    assert not out.exists()
    _assert_error(invoke(runner, ["ingest", str(source), "-o", str(tmp_path / "o.xlsx")]), ".xlsx")


def test_inspect_json(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "m.jsonl"
    source.write_text(MOONCAKE)
    result = invoke(runner, ["inspect", str(source), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"] == {str(source): "mooncake"}
    assert summary["rows"] == {"read": 3, "accepted": 2, "rejected": 1}
    assert summary["time"]["time_base"] == "relative"
    assert summary["time"]["span_s"] == 1.5
    assert summary["coverage"]["prefix_hash_blocks"] == 1.0
    assert summary["coverage"]["model"] == 0.0
    assert summary["totals"]["input_tokens"] == 1600
    assert summary["totals"]["cached_input_tokens"] is None
    assert summary["quantiles"]["input_tokens"]["p50"] == 800.0
    assert summary["quantiles"]["ttft_s"]["p50"] is None


def test_inspect_table(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "m.jsonl"
    source.write_text(MOONCAKE)
    result = invoke(runner, ["inspect", str(source)])
    assert result.exit_code == 0, result.stderr
    assert "mooncake" in result.stdout
    assert "prefix_hash_blocks" in result.stdout


def test_inspect_unknown_format(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "x.csv"
    source.write_text("a,b\n1,2\n")
    _assert_error(invoke(runner, ["inspect", str(source)]), "pass --format")


def test_inspect_empty_jsonl_says_it_is_empty(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "x.jsonl"
    source.write_text("\n\n")
    _assert_error(invoke(runner, ["inspect", str(source)]), "x.jsonl: the file holds no records")


def test_formats(runner) -> None:  # type: ignore[no-untyped-def]
    result = invoke(runner, ["formats", "--json"])
    assert result.exit_code == 0
    names = [row["name"] for row in json.loads(result.stdout)]
    assert names[0] == "canonical"
    assert "otel" in names
    assert "mooncake" in names
    table = invoke(runner, ["formats"])
    assert table.exit_code == 0
    assert "anthropic-batch" in table.stdout


def test_formats_bad_option(runner) -> None:  # type: ignore[no-untyped-def]
    result = invoke(runner, ["inspect", "--format", "nope", "x.csv"])
    assert result.exit_code == 2
    assert result.stdout == ""


def test_frame_is_lazy_for_parquet(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pl.DataFrame({"input_tokens": [1, 2], "output_tokens": [3, 4]}).write_parquet(path)
    from tracelab.ingest import scan_trace

    plan = scan_trace(path).explain()
    assert "Parquet SCAN" in plan or "PARQUET" in plan.upper()
