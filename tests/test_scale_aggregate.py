"""Report aggregates per partition, merged: same on the local and Dask executors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tracelab.resources import default_sample_trace
from tracelab.scale import LocalExecutor
from tracelab.scale.aggregate import LabelSettings, run_aggregates

# k fixed: skips the silhouette search, which is the clusterer's cost, not this module's.
SETTINGS = LabelSettings(k=3)


def rounded(value: Any, digits: int = 9) -> Any:
    """Floats to ``digits`` significant digits: polars' threaded float sums vary in the last
    bit from run to run (even two local runs), so exact equality holds after rounding, as in
    summary.json (6 significant digits)."""
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value


@pytest.fixture(scope="module")
def sample_in_row_groups(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "sample.parquet"
    pl.read_parquet(default_sample_trace()).write_parquet(path, row_group_size=2_000)
    return path


@pytest.fixture(scope="module")
def local_result(sample_in_row_groups: Path) -> tuple[dict, object]:
    return run_aggregates(sample_in_row_groups, executor=LocalExecutor(), target_rows=2_000,
                          settings=SETTINGS)


def test_partitioned_totals_are_exact(sample_in_row_groups: Path, local_result: tuple) -> None:
    from tracelab.ingest import scan_trace

    aggregates, clusterer = local_result
    whole = scan_trace(sample_in_row_groups).select(
        pl.len().alias("n"), pl.col("input_tokens").sum(), pl.col("output_tokens").sum()
    ).collect().row(0, named=True)
    totals = aggregates["totals"]
    assert totals["requests"] == whole["n"]
    assert totals["input_tokens"] == whole["input_tokens"]
    assert totals["output_tokens"] == whole["output_tokens"]
    assert sum(v["requests"] for v in aggregates["clusters"].values()) == whole["n"]
    assert clusterer.k_ == 3


def test_dask_equals_local(sample_in_row_groups: Path, local_result: tuple) -> None:
    pytest.importorskip("distributed")
    from tracelab.scale import DaskExecutor

    with DaskExecutor(local_cluster=2, processes=False) as dask:
        remote, clusterer = run_aggregates(sample_in_row_groups, executor=dask, target_rows=2_000,
                                           settings=SETTINGS)
    assert rounded(remote) == rounded(local_result[0])
    assert clusterer.to_json() == local_result[1].to_json()
