"""The plan's fast paths give the slow paths' answers: linking rows in the MILP, the plan and
its baselines solved together on threads, pruned disaggregated routes, hashed class keys in
the demand and ledger passes (and their fallbacks), and a shared quiet stdout."""

from __future__ import annotations

import os
import threading

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plan_fakes import FakeDevice, FakePerf, labeled_frame, two_devices
from polars.testing import assert_frame_equal

from tracelab.plan import compute_demand, demand, ledger, milp, routes
from tracelab.plan.ledger import compute_ledger, compute_ledger_groups
from tracelab.plan.routes import MAX_DISAGG_ROUTES, ClassSpec, Link, Route, compute_routes
from tracelab.plan.slo import Slo
from tracelab.scale.sketch import bucket_value, compute_bucket_counts

SLO = Slo(mode="interactive", ttft_s=2.0, tpot_s=0.04)


def _route(class_id: str, prefill: tuple[str, float, float], decode: tuple[str, float, float],
           ) -> Route:
    """A route by hand: (device, load, $/h per replica) for each phase, separate pools."""
    (p_dev, p_load, p_usd), (d_dev, d_load, d_usd) = prefill, decode
    return Route(class_id, "m", (p_dev, "m", 1, "prefill"), (d_dev, "m", 1, "decode"),
                 p_load, d_load, 1.0, 1.0, p_usd, d_usd, 1.0, 0, 0.0, 0.0, 0.1, 0.01, 1)


def test_a_pool_that_serves_a_class_has_a_replica():
    # The prefill load (1e-9 replicas) is below HiGHS's feasibility tolerance: without the
    # linking rows the class rode on zero prefill replicas for $10/h.
    plan = milp.solve({"c": [_route("c", ("a", 1e-9, 1.0), ("b", 0.5, 10.0))]})
    assert plan is not None
    assert plan.replicas == {("a", "m", 1, "prefill"): 1, ("b", "m", 1, "decode"): 1}
    assert plan.usd_per_hour == pytest.approx(11.0)


def test_linking_rows_keep_the_optimum():
    # Two classes share a cheap decode pool; a pool a chosen route names is bought even
    # when the class puts no load on it (plan.json's routes name only pools of the fleet).
    # By hand: a prefill 1 ($1) + y prefill 1 ($5) + b decode ceil(0.6 + 0.3) = 1 ($10).
    routes_ = {
        "c1": [_route("c1", ("a", 0.5, 1.0), ("b", 0.6, 10.0)),
               _route("c1", ("a", 0.5, 1.0), ("x", 0.6, 30.0))],
        "c2": [_route("c2", ("y", 0.0, 5.0), ("b", 0.3, 10.0))],
    }
    plan = milp.solve(routes_)
    assert plan is not None
    assert plan.usd_per_hour == pytest.approx(16.0)
    assert plan.replicas[("y", "m", 1, "prefill")] == 1
    assert plan.gap == pytest.approx(0.0, abs=1e-6)


def _three_models() -> dict[str, list[Route]]:
    perf = FakePerf(two_devices().devices)
    perf.models.update({m: perf.models["m8"] for m in ("m70", "m3")})
    specs = [ClassSpec(f"c{i}", m, SLO, 300.0 * (i + 1), 40.0 * (i + 1), 1000, 100.0, 1000.0)
             for i, m in enumerate(["m8", "m8", "m70", "m3"])]
    return compute_routes(perf, specs, [Link("h100-sxm", 50.0), Link("b", 50.0)])


@pytest.mark.parametrize("workers", [1, 2])
def test_programs_solved_together_equal_each_solved_alone(monkeypatch, workers):
    monkeypatch.setattr(milp, "WORKERS", workers)
    every = _three_models()
    singles = milp.baseline_programs(every)
    assert sorted(singles) == ["b", "h100-sxm"]
    together = milp.solve_programs([every, *singles.values()])
    alone = [milp.solve(p) for p in (every, *singles.values())]
    for got, want in zip(together, alone, strict=True):
        assert got is not None
        assert want is not None
        assert got.usd_per_hour == pytest.approx(want.usd_per_hour)
        assert got.replicas == want.replicas
    reference, best = milp.solve_baselines(every, reference="h100-sxm")
    assert reference is not None
    assert best is not None
    assert reference.usd_per_hour == pytest.approx(together[2].usd_per_hour)
    assert best[1].usd_per_hour == min(s.usd_per_hour for s in together[1:] if s)


def test_a_program_with_an_unservable_class_has_no_fleet():
    every = _three_models()
    broken = {**every, "c9": []}
    got = milp.solve_programs([broken, every])
    assert got[0] is None
    assert got[1] is not None


def test_only_the_cheapest_disaggregated_pairs_are_kept():
    # 16 device types: 240 disaggregated pairs per class, of which MAX_DISAGG_ROUTES stay.
    devices = {f"d{i:02d}": FakeDevice(f"d{i:02d}", 1.0 + 0.37 * (i % 7), 300.0 + 97 * i, 0.5,
                                      [(8, 0.01 + 0.001 * (i % 5), 100.0 + 61 * (i % 11))],
                                      stretch=1.3, link_gbs=10.0 + 5 * (i % 3))
               for i in range(16)}
    perf = FakePerf(devices)
    links = [Link(d.id, d.link_gbs) for d in devices.values()]
    spec = ClassSpec("c", "m8", SLO, 900.0, 120.0, 4000, 100.0, 50_000.0)
    kept = [r for r in compute_routes(perf, [spec], links)["c"] if not r.single_type]
    ops = routes._Ops(perf, "bf16")
    budget_s = SLO.ttft_budget_s(spec.context_tokens)
    every = []
    for p in links:
        for d in links:
            moved = routes._transfer_s(spec, p, d)
            if p.device_id == d.device_id or moved is None or moved >= budget_s:
                continue
            pre = ops.get(p.device_id, "m8", "prefill", 4000, ttft=budget_s - moved)
            dec = ops.get(d.device_id, "m8", "decode", 4000, tpot=SLO.tpot_s)
            route = None if pre is None or dec is None else routes._split(
                ops, spec, p, d, pre, dec, moved, budget_s)
            if route is not None:
                every.append(route)
    assert len(every) > MAX_DISAGG_ROUTES
    every.sort(key=lambda r: (r.linear_usd_per_hour, r.key))
    assert sorted(kept, key=lambda r: r.key) == sorted(every[:MAX_DISAGG_ROUTES], key=lambda r: r.key)


ROWS = [
    {"id": f"q{i}", "t": 7 * i, "prefill": 900 + 13 * i, "decode": 50 + i, "cached": i % 4,
     "mode": ["interactive", "batch", "unknown"][i % 3], "phase": ["balanced", "decode-heavy"][i % 2]}
    for i in range(60)
]


def _frame() -> pl.LazyFrame:
    # Two rows without a mode: their class is "… unknown …", the same as mode "unknown".
    return labeled_frame(ROWS).with_columns(
        label_mode=pl.when(pl.col("request_id").is_in(["q2", "q5"])).then(None)
        .otherwise(pl.col("label_mode")))


def _collide(columns):
    return pl.lit(7, pl.UInt64).alias("_key")


def test_hashed_class_keys_equal_grouping_the_strings(monkeypatch):
    fast = compute_demand(_frame(), window_s=60.0)
    unknown = fast.classes.filter(pl.col("class_id").str.contains("unknown"))
    assert unknown["requests"].sum() == 20  # 18 "unknown" + 2 without a mode
    monkeypatch.setattr(demand, "key_hash", _collide)  # every tuple one hash: strings grouped
    slow = compute_demand(_frame(), window_s=60.0)
    assert_frame_equal(fast.classes, slow.classes)
    assert_frame_equal(fast.totals, slow.totals)
    assert_frame_equal(fast.model_mapping, slow.model_mapping)
    assert_frame_equal(fast.class_keys.sort(pl.all()), slow.class_keys.sort(pl.all()))


@pytest.mark.parametrize("collide", [False, True])
def test_ledger_groups_from_class_keys_are_the_ledger_summed(monkeypatch, collide):
    d = compute_demand(_frame(), window_s=60.0)
    ids = d.classes["class_id"].to_list()
    table = pl.DataFrame({
        "class_id": [ids[0], ids[0], *ids[1:]],
        "lo": [0.0, 0.3] + [0.0] * (len(ids) - 1), "hi": [0.3] + [2.0] * len(ids),
        "prefill_device": ["a", "b", *["a"] * (len(ids) - 1)],
        "decode_device": ["a", "b", *["a"] * (len(ids) - 1)],
        "prefill_pool": ["a/m/x1/colocated", "b/m/x1/colocated",
                         *["a/m/x1/colocated"] * (len(ids) - 1)],
        "decode_pool": ["a/m/x1/colocated", "b/m/x1/colocated",
                        *["a/m/x1/colocated"] * (len(ids) - 1)],
        "prefill_usd_per_token": [1e-6, 2e-6, *[3e-6] * (len(ids) - 1)],
        "decode_usd_per_token": [4e-6, 5e-6, *[6e-6] * (len(ids) - 1)],
        "reason": ["a", "b", *["c"] * (len(ids) - 1)],
    })
    if collide:  # two key tuples with one hash: the ledger builds class_id instead
        monkeypatch.setattr(ledger, "key_hash", _collide)
    got = compute_ledger_groups(d.requests, table, d.totals, d.class_keys)
    expected = compute_ledger_groups(d.requests, table)  # every request read, by class_id
    assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-12)
    per_request = compute_ledger(d.requests, table).collect()
    assert got["requests"].sum() == per_request.height == 60
    split = got.filter(pl.col("class_id") == ids[0])
    assert split.height == 2
    assert split["requests"].sum() == d.totals.filter(pl.col("class_id") == ids[0])["requests"].item()


def test_cli_quiets_native_stdout_of_concurrent_solves(capfd):
    # The library leaves fd 1 alone; the CLI points it away once around the whole library
    # call, solver threads too.
    from tracelab.commands._process import cli_process

    def noisy() -> None:
        os.write(1, b"native noise\n")

    with cli_process():
        threads = [threading.Thread(target=noisy) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        os.write(1, b"outer noise\n")
    os.write(1, b"data\n")
    assert capfd.readouterr().out == "data\n"


def test_baselines_that_cannot_be_best_are_skipped_and_the_best_is_unchanged(monkeypatch):
    devices = {**two_devices().devices,
               "z": FakeDevice("z", 40.0, 1000.0, 0.5, [(8, 0.02, 100.0)])}  # h100 at 20x
    specs = [ClassSpec(f"c{i}", "m8", SLO, 300.0 * (i + 1), 40.0 * (i + 1), 1000, 100.0, 1000.0)
             for i in range(3)]
    every = compute_routes(FakePerf(devices), specs, [Link(d, 50.0) for d in devices])
    _, exhaustive = milp.solve_baselines(every, reference="nowhere")
    solved: list[int] = []
    run = milp.solve_programs

    def counting(programs, limits=None):
        solved.append(len(programs))
        return run(programs, limits)

    monkeypatch.setattr(milp, "solve_programs", counting)
    plan, ref, best = milp.solve_plan(every, "nowhere")
    assert plan is not None
    assert ref is None
    assert best is not None
    assert exhaustive is not None
    assert (best[0], best[1].usd_per_hour) == (exhaustive[0], exhaustive[1].usd_per_hour)
    bounds = {d: milp.fleet_bounds(p) for d, p in milp.baseline_programs(every).items()}
    cutoff = min(upper for _, upper in bounds.values())
    kept = [d for d, (lower, _) in bounds.items() if lower <= cutoff]
    assert sorted(bounds) == ["b", "h100-sxm", "z"]
    assert "z" not in kept  # its lower bound is above another device's rounded-up fleet
    assert solved == [1 + len(kept)]

    # Bounds that promise a free fleet prune every baseline first; nothing found beats their
    # lower bounds, so all are solved after, and the answer is the same.
    real = milp.fleet_bounds
    monkeypatch.setattr(milp, "fleet_bounds", lambda r: (real(r)[0], 0.0))
    solved.clear()
    _, _, again = milp.solve_plan(every, "nowhere")
    assert again is not None
    assert (again[0], again[1].usd_per_hour) == (best[0], best[1].usd_per_hour)
    assert solved == [1, 3]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.just(float("nan")), st.just(0.0),
                          st.floats(1e-3, 1e7)), min_size=1, max_size=40))
def test_context_buckets_are_the_sketch_buckets(lengths):
    frame = pl.LazyFrame({"k": ["a", "b"] * len(lengths), "v": [x for x in lengths for _ in (0, 1)]},
                         schema={"k": pl.String, "v": pl.Float64})
    ours = demand._context_counts(frame, ["k"], pl.col("v")).collect().filter(
        pl.col("bucket").is_not_null())
    zero = pl.col("bucket") == demand.ZERO_BUCKET
    got = ours.select(
        "k", bucket_value(pl.when(zero).then(0).otherwise(pl.col("bucket")),
                          pl.when(zero).then(0).otherwise(1)).alias("v"), pl.col("count"))
    sketch = compute_bucket_counts(frame, "v", by=["k"]).collect().select(
        "k", bucket_value(pl.col("bucket"), pl.col("sign")).alias("v"), pl.col("count"))
    assert_frame_equal(got.sort("k", "v"), sketch.sort("k", "v"), check_dtypes=False)
