"""The issue's case 2: the Azure 2023 conversation trace (Splitwise, ISCA'24; CC-BY-4.0)
superposed 4× (77,464 requests in an hour) on llama-3.1-8b. Two colocated single-H100
replicas meet TTFT and TPOT for at least 99% of requests; one replica falls behind."""

from __future__ import annotations

import pytest
from sim_fixtures import check_little, colocated, perf_model

from tracelab.simulate import simulate
from tracelab.simulate.requests import scan_replay_requests, superpose


@pytest.fixture(scope="module")
def azure_4x():
    from conftest import SHARED_DIR

    path = SHARED_DIR / "traces/azure-2023/AzureLLMInferenceTrace_conv.csv"
    if not path.exists():
        pytest.skip("../shared is absent: the Azure 2023 trace lives in the shared folder")
    from tracelab.ingest import read_trace
    from tracelab.labels import load_label_config, materialise_labels

    labeled = materialise_labels(read_trace([str(path)]), config=load_label_config(),
                                 assume_model="llama-3.1-8b")
    return superpose(scan_replay_requests(labeled).collect(), 4)


def test_two_h100s_serve_the_azure_conversation_trace_4x(azure_4x):
    assert azure_4x.height == 77_464
    classes = azure_4x["class_id"].unique().to_list()
    two = simulate(azure_4x, colocated(2, classes), perf_model())
    q = two.requests
    assert two.attainment("interactive") >= 0.99
    assert q["ttft_s"].quantile(0.99) < 2.0
    assert q["tpot_s"].quantile(0.99) < 0.04
    check_little(two)
    one = simulate(azure_4x, colocated(1, classes), perf_model())
    assert one.attainment("interactive") < 0.5
    assert one.summary["backlog_at_last_arrival"] > 1000
