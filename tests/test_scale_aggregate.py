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
    # k-means centres differ in the last bits with the threads around the fit: rounded too.
    assert rounded(clusterer.to_json()) == rounded(local_result[1].to_json())


def test_spilled_partitions_equal_labelling_twice(sample_in_row_groups: Path,
                                                  local_result: tuple) -> None:
    """Pass 2 reading the labelled partitions back gives what labelling them again gives."""
    twice, clusterer = run_aggregates(sample_in_row_groups, executor=LocalExecutor(),
                                      target_rows=2_000, settings=SETTINGS, spill=False)
    assert rounded(twice) == rounded(local_result[0])
    assert rounded(clusterer.to_json()) == rounded(local_result[1].to_json())


def test_a_worker_that_cannot_see_the_folder_labels_again(
    sample_in_row_groups: Path, tmp_path: Path
) -> None:
    from tracelab.scale.aggregate import (
        AggregateTask,
        SampleTask,
        compute_partition_aggregates,
        compute_partition_sample,
    )
    from tracelab.scale.partition import plan_partitions

    part = plan_partitions(sample_in_row_groups, target_rows=2_000)[0]
    missing = str(tmp_path / "not-here")
    sample, _ = compute_partition_sample(SampleTask(part, SETTINGS, 500, missing))
    assert not (tmp_path / "not-here").exists()  # never created by a worker
    spilled, _ = compute_partition_sample(SampleTask(part, SETTINGS, 500, str(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labelled-000000.parquet"]
    assert spilled.equals(sample)

    from tracelab.labels import WorkloadClusterer

    clusterer = WorkloadClusterer(k=2, random_state=0).fit(sample)
    here = compute_partition_aggregates(AggregateTask(part, SETTINGS, clusterer, 60, str(tmp_path)))
    there = compute_partition_aggregates(AggregateTask(part, SETTINGS, clusterer, 60, missing))
    assert rounded(here) == rounded(there)
    assert here["totals"]["requests"] == part.n_rows
