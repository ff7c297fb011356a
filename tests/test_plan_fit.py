"""fit_plan on hand-solvable cases: the optimum, the baselines, the ledger identity."""

from __future__ import annotations

import math

import polars as pl
import pytest
from plan_fakes import FakeDevice, FakePerf, labeled_frame, two_devices, two_requests
from polars.testing import assert_frame_equal

from tracelab.errors import ConfigError, InfeasibleError
from tracelab.plan import fit_plan, load_slos


def _fit(frame=None, perf=None, **kw):
    return fit_plan(frame if frame is not None else two_requests(), perf or two_devices(),
                    window_s=200.0, headroom=kw.pop("headroom", False), **kw)


def test_disaggregated_optimum_by_hand():
    # h100 colocated: 1 + 1 replica-units = 2 x $2 = $4/h; b colocated: 2.5 + 0.1 -> 3 x $1.5
    # = $4.5/h; prefill on h100 (1 replica) + decode on b (0.1 -> 1 replica) = $3.5/h.
    plan = _fit()
    assert plan.usd_per_hour == pytest.approx(3.5)
    expected = pl.DataFrame({
        "device_id": ["b", "h100-sxm"], "model_id": ["m8", "m8"], "replicas": [1, 1],
        "devices": [1, 1], "usd_per_hour": [1.5, 2.0], "role": ["decode", "prefill"],
    })
    assert_frame_equal(plan.fleet.select(expected.columns), expected)
    assert plan.fleet["pool_id"].to_list() == ["b/m8/x1/decode", "h100-sxm/m8/x1/prefill"]
    assert plan.baseline_h100_usd_per_hour == pytest.approx(4.0)
    assert plan.best_single_device_usd_per_hour == pytest.approx(4.0)
    assert plan.baselines["best_single"]["device_id"] == "h100-sxm"
    assert plan.savings()["h100"] == pytest.approx(0.125)


def test_ledger_charges_replica_seconds_and_identity_holds():
    plan = _fit()
    ledger = plan.ledger.collect().sort("request_id")
    # prefill: 50,000 tok / 1000 tok/s x $2/h; decode: 5,000 / 1000 tok/s x $1.5/h.
    assert ledger["prefill_usd"].to_list() == pytest.approx([100 / 3600] * 2)
    assert ledger["decode_usd"].to_list() == pytest.approx([7.5 / 3600] * 2)
    assert ledger["prefill_device"].to_list() == ["h100-sxm"] * 2
    assert ledger["decode_device"].to_list() == ["b"] * 2
    assert plan.span_hours == pytest.approx(100 / 3600)
    assert plan.fleet_usd == pytest.approx(350 / 3600)
    assert plan.idle_usd == pytest.approx(135 / 3600)
    total = math.fsum([*ledger["prefill_usd"], *ledger["decode_usd"], plan.idle_usd])
    assert total == pytest.approx(plan.fleet_usd, rel=1e-12, abs=0)
    assert "disaggregated" in ledger["reason"][0]
    assert "TPOT target" in ledger["reason"][0]


def test_cache_hits_cut_prefill_and_show_on_their_own_line():
    frame = two_requests().with_columns(cache_hit_tokens=pl.lit(25_000))
    plan = _fit(frame)
    assert plan.ledger.collect()["cache_hit_tokens"].to_list() == [25_000, 25_000]
    # P halves to 500 tok/s: b colocated (1.25 + 0.1 -> 2 x $1.5 = $3/h) now wins.
    assert plan.usd_per_hour == pytest.approx(3.0)
    assert plan.ledger.collect()["prefill_usd"].sum() == pytest.approx(2 * 25_000 / 400 * 1.5 / 3600)
    hits = plan.rollup.filter(pl.col("phase") == "cache-hit")
    assert hits["tokens"].to_list() == [50_000]
    assert hits["usd"].to_list() == [0.0]


def test_exclude_and_only_restrict_the_devices():
    assert _fit(exclude=["b"]).usd_per_hour == pytest.approx(4.0)
    only_b = _fit(only=["b"])
    assert only_b.usd_per_hour == pytest.approx(4.5)
    assert only_b.baseline_h100_usd_per_hour == pytest.approx(4.0)  # reference still priced
    with pytest.raises(ConfigError, match="unknown or unpriced device nope"):
        _fit(only=["nope"])


def test_growth_scales_demand_and_cost():
    # x2: h100 prefill 2 replicas ($4) + b decode 0.2 -> 1 ($1.5) = $5.5/h.
    assert _fit(growth=2.0).usd_per_hour == pytest.approx(5.5)


def test_colocation_stretch_can_break_the_tpot_target():
    # No link to move KV over, so the phases must share replicas.
    perf = FakePerf({"h100-sxm": FakeDevice("h100-sxm", 2.0, 1000.0, 0.5,
                                            [(8, 0.03, 100.0), (1, 0.015, 20.0)], stretch=2.0,
                                            link_gbs=None)})
    # 30 ms x 2 = 60 ms misses 40 ms, so decode drops to batch 1 (15 ms x 2 = 30 ms) at
    # 20 tok/s per replica. The replicas time-share the phases (the chunk's time is counted
    # once, in the prefill load): 1 + 100/20 = 6 replicas.
    plan = _fit(perf=perf)
    assert plan.usd_per_hour == pytest.approx(12.0)
    assert plan.routes["tpot_s"].to_list() == pytest.approx([0.03])
    assert plan.routes["colocated"].to_list() == [True]


def test_separate_replicas_of_one_type_escape_the_stretch():
    # With a link, prefill and decode run on separate replicas of the same device type: no
    # stretch, batch 8 at 30 ms meets 40 ms: prefill load 1 + decode 100/100 = 2 replicas.
    perf = FakePerf({"h100-sxm": FakeDevice("h100-sxm", 2.0, 1000.0, 0.5,
                                            [(8, 0.03, 100.0), (1, 0.015, 20.0)], stretch=2.0)})
    plan = _fit(perf=perf)
    assert plan.usd_per_hour == pytest.approx(4.0)
    assert plan.routes["colocated"].to_list() == [False]
    assert plan.routes["tpot_s"].to_list() == pytest.approx([0.03])


def test_unmeetable_slo_names_class_and_closest_device():
    slos = load_slos(overrides=["interactive.tpot_s=0.001"])
    with pytest.raises(InfeasibleError) as info:
        _fit(slos=slos)
    message = str(info.value)
    assert "prefill-heavy interactive long m8" in message
    assert "closest is b" in message
    assert "\n" not in message


def test_ledger_independent_of_row_order_and_split_is_deterministic():
    rows = [{"id": f"q{i}", "t": i, "prefill": 1000, "decode": 100} for i in range(40)]
    perf = FakePerf({
        "h100-sxm": FakeDevice("h100-sxm", 2.0, 1000.0, 0.5, [(8, 0.02, 100.0)]),
    })
    a = _fit(labeled_frame(rows), perf).ledger.collect().sort("request_id")
    b = _fit(labeled_frame(rows[::-1]), perf).ledger.collect().sort("request_id")
    assert_frame_equal(a, b)


def test_batch_mode_is_planned_at_its_mean_rate_without_latency_targets():
    rows = [
        {"id": "a", "t": 0, "prefill": 150_000, "decode": 10_000, "mode": "batch"},
        {"id": "b", "t": 300, "prefill": 50_000, "decode": 10_000, "mode": "batch"},
    ]
    plan = fit_plan(labeled_frame(rows), two_devices(), window_s=60.0)
    row = plan.classes.row(0, named=True)
    assert row["prefill_tokens_per_s"] == pytest.approx(200_000 / 300)
    assert "no per-token latency target" in plan.ledger.collect()["reason"][0]


def test_unknown_model_is_in_the_ledger_at_zero_cost():
    rows = [
        {"id": "r1", "t": 0, "prefill": 50_000, "decode": 5_000},
        {"id": "r2", "t": 100, "prefill": 50_000, "decode": 5_000},
        {"id": "x", "t": 50, "prefill": 10, "decode": 10, "model_id": None},
    ]
    plan = _fit(labeled_frame(rows))
    unplanned = plan.ledger.filter(pl.col("request_id") == "x").collect()
    assert unplanned["prefill_usd"].to_list() == [0.0]
    assert unplanned["reason"][0].startswith("not planned: the request's model is not in")
    assert "--" not in unplanned["reason"][0]  # a data column carries facts, not flags
    assert plan.usd_per_hour == pytest.approx(3.5)


def test_to_json_validates_against_schema():
    import json

    import jsonschema

    from tracelab.resources import schema_path

    doc = json.loads(json.dumps(_fit().to_json()))
    jsonschema.validate(doc, json.loads(schema_path("plan.schema.json").read_text()))
    assert doc["usd_per_hour"] == pytest.approx(3.5)


def test_split_phases_need_their_own_replicas():
    # Light demand: P = 300 tok/s, D = 30 tok/s on one device type. Colocated: 0.3 + 30/(100/2)
    # = 0.9 -> 1 replica ($2). Split: prefill 0.3 -> 1 replica, decode 0.3 -> 1 replica ($4):
    # the two phases cannot share one replica without paying the colocation stretch.
    frame = labeled_frame([
        {"id": "r1", "t": 0, "prefill": 15_000, "decode": 1_500},
        {"id": "r2", "t": 100, "prefill": 15_000, "decode": 1_500},
    ])
    perf = FakePerf({"h100-sxm": FakeDevice("h100-sxm", 2.0, 1000.0, 0.5,
                                            [(8, 0.015, 100.0)], stretch=2.0)})
    plan = _fit(frame, perf)
    assert plan.usd_per_hour == pytest.approx(2.0)
    assert plan.fleet["role"].to_list() == ["colocated"]
    assert plan.routes["colocated"].to_list() == [True]


def test_usd_per_mtok_counts_the_grown_demand():
    base, grown = _fit(), _fit(growth=2.0)
    # $5.5/h (see test_growth_scales_demand_and_cost) serves twice the trace's tokens.
    assert grown.usd_per_mtok == pytest.approx(
        grown.fleet_usd / (2 * base.tokens / 1e6))
    assert grown.usd_per_mtok < grown.fleet_usd / (base.tokens / 1e6)


def test_a_reference_that_cannot_serve_a_class_names_it():
    # H100's prefill alone (5 s) is over the interactive TTFT: no fleet of H100s alone.
    perf = FakePerf({"h100-sxm": FakeDevice("h100-sxm", 2.0, 1000.0, 5.0, [(8, 0.02, 100.0)]),
                     "b": FakeDevice("b", 1.5, 400.0, 0.5, [(32, 0.01, 1000.0)])})
    plan = fit_plan(two_requests(), perf, window_s=60.0)
    assert plan.baselines["h100"] is None
    why = plan.settings["reference_infeasible"]
    assert why.startswith("class 'prefill-heavy interactive long m8' has no route on h100-sxm")
    assert "TTFT" in why
