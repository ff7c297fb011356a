"""The issue's fleets, judged as their buyer would: by replay.

Case 1: the bundled sample's llama-3.1-70b requests on H100s. Case 2: the Azure 2023
conversation trace superposed 4x on llama-3.1-8b (skips without ../shared). Case 3: a
200k-request synthetic hour within the operational limits. Each repaired fleet costs at
most 1.15x the cheapest fleet a search by replay finds, and attains the target.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tracelab.plan import fit_plan, load_slos
from tracelab.plan.repair import verify_and_repair
from tracelab.resources import default_sample_trace
from tracelab.simulate.requests import scan_replay_requests

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
AZURE_CONV = SHARED / "traces" / "azure-2023" / "AzureLLMInferenceTrace_conv.csv"


def _labelled(path: Path, assume_model: str | None = None) -> tuple[pl.LazyFrame, object, object]:
    from tracelab.commands._hardware import load_perf_model, read_catalog
    from tracelab.commands._options import load_inputs
    from tracelab.labels import cluster_labeled, load_label_config, materialise_labels

    catalog = read_catalog(None, None)
    config = load_label_config()
    features = materialise_labels(load_inputs([path], None, False), config=config,
                                  model_map=None, assume_model=assume_model)
    labeled = cluster_labeled(features, config=config, model_map=None, assume_model=assume_model)
    return labeled.frame, load_perf_model(catalog, None), catalog


def _window(labeled: pl.LazyFrame) -> pl.DataFrame:
    from tracelab.simulate.requests import busiest_hour

    every = scan_replay_requests(labeled).collect()
    lo, hi = busiest_hour(every)
    window = every if hi - lo < 3600 else every.filter(
        (pl.col("arrival_s") >= lo) & (pl.col("arrival_s") < hi))
    return window.with_columns(pl.col("arrival_s") - lo)


def _cheaper_fleet_meeting(plan, labeled, perf, slos, device: str, target: float) -> str | None:
    """A fleet costing less than the plan ÷ 1.15 that meets ``target`` in the replay, or
    None: every colocated pool of one replica size on ``device`` (every size that holds the
    model), at every replica count below that cost, every class routed to it. Attainment
    as the plan counts it: requests of the modes it holds to a target, less those its
    replay named infeasible by their SLO (no fleet meets them)."""
    from tracelab.simulate import Fleet, PoolSpec, RouteShare, pool_id, simulate

    window = _window(labeled)
    (model,) = set(window["model_id"])
    classes = sorted(set(window["class_id"]))
    price = perf.catalog.get(device).usd_per_hour
    smallest = perf.replica_devices(device, model)
    budget = plan.usd_per_hour / 1.15
    modes = list(plan.replay["modes"])
    excluded = [r["request_id"] for r in plan.replay["infeasible_by_slo"]["rows"]]
    for size in (1, 2, 4, 8):
        if smallest is None or size < smallest:
            continue
        pid = pool_id(device, model, size, "colocated")
        n = 1
        while n * size * price < budget - 1e-9:
            fleet = Fleet((PoolSpec(pid, device, model, size, n, "colocated"),),
                          tuple(RouteShare(c, pid, pid, 1.0) for c in classes))
            replay = simulate(window, fleet, perf, slos=slos)
            held = replay.requests.filter(pl.col("slo_mode").is_in(modes)
                                          & ~pl.col("request_id").is_in(excluded))
            if held["meets_slo"].mean() >= target:
                return f"{n} x {pid}"
            n += 1
    return None


def test_case1_sample_70b_on_h100_is_one_replica_before_the_replay(tmp_path):
    sample = default_sample_trace()
    if not sample.exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    frame = pl.read_parquet(sample).filter(pl.col("model").str.contains("70B"))
    assert frame.height == 1259
    path = tmp_path / "case1.parquet"
    frame.write_parquet(path)
    labeled, perf, catalog = _labelled(path)
    slos = load_slos()
    plan = fit_plan(labeled, perf, slos=slos, only=["h100-sxm"], devices=catalog.plannable())
    assert plan.fleet["replicas"].sum() == 1  # one 8-GPU replica for every class
    repaired = verify_and_repair(plan, scan_replay_requests(labeled), perf, slos)
    assert repaired.replay is not None
    assert repaired.replay["attained"] >= 0.99
    assert repaired.to_json()["replay"]["attainment_target_met"]
    # Every prompt's TTFT budget is above its prefill alone on the fastest replica the plan
    # may buy (the 100K prompts: 6.9 s in 8192-token steps on 8 H100s, budget 7.06 s), so
    # no request is excused as infeasible by its SLO.
    assert repaired.replay["infeasible_by_slo"]["requests"] == 0
    assert repaired.ledger_usd + repaired.idle_usd == pytest.approx(repaired.fleet_usd,
                                                                    rel=1e-12)


def test_case1_repaired_fleet_is_within_115_percent_of_the_cheapest_by_replay(tmp_path):
    sample = default_sample_trace()
    if not sample.exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    path = tmp_path / "case1.parquet"
    pl.read_parquet(sample).filter(pl.col("model").str.contains("70B")).write_parquet(path)
    labeled, perf, catalog = _labelled(path)
    slos = load_slos()
    plan = fit_plan(labeled, perf, slos=slos, only=["h100-sxm"], devices=catalog.plannable())
    repaired = verify_and_repair(plan, scan_replay_requests(labeled), perf, slos)
    assert _cheaper_fleet_meeting(repaired, labeled, perf, slos, "h100-sxm", 0.99) is None


@pytest.mark.skipif(not AZURE_CONV.exists(), reason="../shared/traces is absent")
def test_case2_azure_conversation_4x_on_8b_fits_three_h100s(tmp_path):
    from tracelab.commands._options import load_inputs

    trace = load_inputs([AZURE_CONV], None, False)
    frame = trace.frame.collect()
    copies = [frame.with_columns(
        (pl.col("request_id").cast(pl.String) + f"#{k}").alias("request_id"),
        (pl.col("arrival_ts") + pl.duration(milliseconds=k)).alias("arrival_ts"))
        for k in range(4)]  # four copies of the hour, 1 ms apart: 77,464 requests
    path = tmp_path / "az4.parquet"
    pl.concat(copies).sort("arrival_ts").write_parquet(path)
    labeled, perf, catalog = _labelled(path, assume_model="llama-3.1-8b")
    slos = load_slos()
    plan = fit_plan(labeled, perf, slos=slos, only=["h100-sxm"], devices=catalog.plannable())
    repaired = verify_and_repair(plan, scan_replay_requests(labeled), perf, slos)
    assert repaired.fleet["devices"].sum() <= 3
    assert repaired.replay is not None
    assert repaired.replay["attained"] >= 0.99
    assert _cheaper_fleet_meeting(repaired, labeled, perf, slos, "h100-sxm", 0.99) is None


def test_case3_synthetic_hour_keeps_within_the_limits(tmp_path):
    from tracelab.synth import generate_trace

    path = tmp_path / "synth.parquet"
    generate_trace(200_000).write_parquet(path)
    labeled, perf, catalog = _labelled(path)
    plan = fit_plan(labeled, perf, slos=load_slos(), devices=catalog.plannable())
    doc = plan.to_json()
    types = {p["device_id"] for p in doc["pools"] if p["replicas"] > 0}
    models = {p["model_id"] for p in doc["pools"]}
    assert len(types) <= 3
    assert len(doc["pools"]) <= 2 * len(models) == doc["settings"]["max_pools"]
    assert 0 <= doc["idle_share"] < 1
    assert doc["idle_usd"] == pytest.approx(doc["fleet_usd"] * doc["idle_share"])
