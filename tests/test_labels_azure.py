"""Real trace: the two Azure 2023 services (Splitwise, ISCA'24) merged into one trace.

The labels must tell them apart without knowing which file a row came from: most coding
requests prefill-heavy (median 1,469 in / 13 out), most conversation requests not
(1,020 / 129); and the clusters mostly pure by service.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from test_labels_support import calibration_hardware

from tracelab.errors import TracelabError
from tracelab.features import ReferenceHardware, load_reference_hardware
from tracelab.ingest import read_trace
from tracelab.labels import label_trace


def _hardware(shared_dir: Path) -> ReferenceHardware:
    try:
        return load_reference_hardware()
    except TracelabError:  # the performance model is not installed: fit the calibration
        return calibration_hardware(shared_dir)


@pytest.fixture(scope="module")
def azure(request: pytest.FixtureRequest) -> pl.DataFrame:
    shared_dir: Path = request.getfixturevalue("shared_dir")
    folder = shared_dir / "traces" / "azure-2023"
    trace = read_trace([str(folder / "AzureLLMInferenceTrace_code.csv"),
                        str(folder / "AzureLLMInferenceTrace_conv.csv")])
    labeled = label_trace(trace.frame, hardware=_hardware(shared_dir), random_state=0)
    service = pl.col("source_file").str.extract(r"_(code|conv)\.csv$").alias("service")
    return labeled.frame.with_columns(service).collect()


@pytest.fixture(scope="module")
def shared_dir() -> Path:
    from conftest import SHARED_DIR

    if not SHARED_DIR.is_dir():
        pytest.skip("../shared is absent: real-trace tests need the project's shared folder")
    return SHARED_DIR


def confusion(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    return (
        frame.with_columns(pl.col(column).cast(pl.String))
        .pivot(on=column, index="service", values="request_id", aggregate_function="len",
               sort_columns=True)
        .fill_null(0)
        .sort("service")
    )


def test_phase_labels_tell_the_services_apart(azure: pl.DataFrame) -> None:
    table = confusion(azure, "label_phase")
    print("\nservice × label_phase\n", table)
    shares = azure.group_by("service").agg(
        (pl.col("label_phase") == "prefill-heavy").mean().alias("prefill_heavy")
    )
    share = dict(shares.iter_rows())
    assert azure.height == 8_819 + 19_366
    assert share["code"] > 0.6
    assert share["conv"] < 0.2


def test_clusters_are_mostly_pure_by_service(azure: pl.DataFrame) -> None:
    table = confusion(azure, "cluster")
    print("\nservice × cluster\n", table)
    names = azure.select("cluster", "cluster_name").unique().sort("cluster")
    for cluster, name in names.iter_rows():
        print(cluster, name)
    majority = azure.group_by("cluster", "service").len().group_by("cluster").agg(
        pl.col("len").max()
    )
    purity = majority.get_column("len").sum() / azure.height
    print(f"purity {purity:.3f}")
    assert purity > 0.85


def test_unknown_fields_stay_unknown(azure: pl.DataFrame) -> None:
    assert azure.get_column("label_mode").unique().to_list() == ["unknown"]
    assert azure.get_column("label_model").unique().to_list() == ["unknown"]
    assert azure.get_column("turn_index").null_count() == azure.height
    assert azure.get_column("work_model_assumed").all()
