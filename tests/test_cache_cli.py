"""`tracelab cache` happy paths and error paths."""

from __future__ import annotations

import json

import polars as pl
from conftest import invoke

from tracelab.schema import conform


def write_trace(tmp_path, **columns) -> str:
    path = tmp_path / "t.canonical.parquet"
    conform(pl.LazyFrame(columns)).with_columns(
        pl.lit("canonical").alias("source_format"), pl.lit("ok").alias("status")
    ).collect().write_parquet(path)
    return str(path)


def test_cache_json(runner, tmp_path) -> None:
    path = write_trace(
        tmp_path,
        request_id=["a", "b"],
        input_tokens=[20, 20],
        output_tokens=[1, 1],
        source_row=[1, 2],
        prefix_hash_blocks=[[1, 2], [1, 3]],
        prefix_block_tokens=[10, 10],
    )
    result = invoke(runner, ["cache", path, "--capacities", "3", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["reuse_ratio_infinite"] == 0.25
    assert doc["evidence"] == "prefix_blocks"
    assert {p["capacity_blocks"] for p in doc["curve"]} == {1, 2, 3}


def test_cache_table(runner, tmp_path) -> None:
    path = write_trace(
        tmp_path, request_id=["a", "b"], input_tokens=[20, 20], output_tokens=[1, 1],
        source_row=[1, 2], prefix_hash_blocks=[[1, 2], [1, 3]], prefix_block_tokens=[10, 10],
    )  # fmt: skip
    result = invoke(runner, ["cache", path])
    assert result.exit_code == 0, result.stderr
    assert "LRU hit ratio" in result.stdout
    assert "GPU HBM" in result.stdout


def test_cache_no_evidence(runner, tmp_path) -> None:
    path = write_trace(
        tmp_path, request_id=["a"], input_tokens=[5], output_tokens=[1], source_row=[1]
    )
    result = invoke(runner, ["cache", path])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip().startswith("No reuse evidence")
    assert len(result.stderr.strip().splitlines()) == 1


def test_cache_bad_capacities(runner, tmp_path) -> None:
    path = write_trace(
        tmp_path, request_id=["a"], input_tokens=[5], output_tokens=[1], source_row=[1]
    )
    result = invoke(runner, ["cache", path, "--capacities", "5x"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error:")


def test_cache_bad_sample_rate(runner, tmp_path) -> None:
    path = write_trace(
        tmp_path, request_id=["a"], input_tokens=[20], output_tokens=[1], source_row=[1],
        prefix_hash_blocks=[[1]], prefix_block_tokens=[10],
    )  # fmt: skip
    result = invoke(runner, ["cache", path, "--sample-rate", "0"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error:")
