"""The plan at scale: lazy ledger and its groups, exact quantiles from counts, the MILP split
into independent components, and a quiet stdout while HiGHS runs."""

from __future__ import annotations

import math
import os

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plan_fakes import FakeDevice, FakePerf, labeled_frame, two_devices
from polars.testing import assert_frame_equal

from tracelab.plan import compute_demand, fit_plan, milp
from tracelab.plan.demand import quantile_from_counts
from tracelab.plan.ledger import compute_ledger, compute_ledger_groups
from tracelab.plan.routes import ClassSpec, Link, compute_routes
from tracelab.plan.slo import Slo

ROWS = [{"id": f"q{i}", "t": 5 * i, "prefill": 1000 + 10 * i, "decode": 100 + i,
         "cached": i % 3} for i in range(40)]
SUMS = ["requests", "prefill_tokens", "decode_tokens", "cache_hit_tokens", "prefill_usd",
        "decode_usd"]


def _split_table(class_id: str) -> pl.DataFrame:
    return pl.DataFrame({
        "class_id": [class_id, class_id], "lo": [0.0, 0.4], "hi": [0.4, 2.0],
        "prefill_device": ["a", "b"], "decode_device": ["a", "b"],
        "prefill_pool": ["a/m/x1/colocated", "b/m/x1/colocated"],
        "decode_pool": ["a/m/x1/colocated", "b/m/x1/colocated"],
        "prefill_usd_per_token": [1e-6, 2e-6], "decode_usd_per_token": [3e-6, 4e-6],
        "reason": ["to a", "to b"],
    })


def _by_hand(ledger: pl.DataFrame) -> pl.DataFrame:
    return (
        ledger.group_by("class_id", "prefill_device", "decode_device", "reason")
        .agg(pl.len().cast(pl.Int64).alias("requests"),
             *[pl.col(c).sum() for c in SUMS[1:]])
        .sort("class_id", "prefill_device", "decode_device", nulls_last=True)
    )


def test_ledger_groups_are_the_per_request_ledger_summed():
    rows = [*ROWS, {"id": "x", "t": 7, "prefill": 10, "decode": 10, "model_id": None}]
    demand = compute_demand(labeled_frame(rows), window_s=60.0)
    planned = demand.classes.filter(pl.col("model_id").is_not_null())["class_id"][0]
    table = _split_table(planned)
    expected = _by_hand(compute_ledger(demand.requests, table).collect())
    for totals in (demand.totals, None):  # from the demand totals, or one full pass
        got = compute_ledger_groups(demand.requests, table, totals)
        assert got["requests"].sum() == 41
        assert_frame_equal(got.select(expected.columns), expected, check_exact=False, rel_tol=1e-12)
    assert 0 < expected.filter(pl.col("prefill_device") == "a")["requests"].item() < 40


def test_single_route_classes_need_no_second_pass():
    demand = compute_demand(labeled_frame(ROWS), window_s=60.0)
    table = _split_table(demand.classes["class_id"][0]).head(1).with_columns(hi=pl.lit(2.0))
    # Requests that cannot be read: the groups must come from the totals alone.
    broken = demand.requests.select(pl.lit(1).alias("nothing"))
    got = compute_ledger_groups(broken, table, demand.totals)
    expected = _by_hand(compute_ledger(demand.requests, table).collect())
    assert_frame_equal(got.select(expected.columns), expected, check_exact=False, rel_tol=1e-12)


def test_plan_ledger_is_lazy_and_its_groups_give_every_total():
    plan = fit_plan(labeled_frame(ROWS), two_devices(), window_s=60.0)
    assert isinstance(plan.ledger, pl.LazyFrame)
    ledger = plan.ledger.collect()
    assert ledger.columns == ["request_id", "class_id", "prefill_device", "decode_device",
                              "prefill_pool", "decode_pool", "prefill_usd", "decode_usd", "cache_hit_tokens", "prefill_tokens",
                              "decode_tokens", "reason", "replica", "queue_s", "ttft_s",
                              "tpot_s", "e2e_s", "replay_note"]
    assert ledger["replay_note"].unique().to_list() == ["not replayed: the plan was not verified"]
    assert plan.requests == ledger.height == 40
    assert plan.cache_hit_tokens == ledger["cache_hit_tokens"].sum()
    assert plan.tokens == ledger.select(
        pl.sum_horizontal(pl.sum("prefill_tokens", "decode_tokens", "cache_hit_tokens"))).item()
    assert plan.ledger_usd == pytest.approx(
        math.fsum([*ledger["prefill_usd"], *ledger["decode_usd"]]), rel=1e-12)
    assert math.fsum([plan.ledger_usd, plan.idle_usd]) == pytest.approx(plan.fleet_usd, rel=1e-15)


def test_summary_reads_only_the_groups():
    from tracelab.report.stages import summarize_plan

    plan = fit_plan(labeled_frame(ROWS), two_devices(), window_s=60.0)
    plan.ledger = pl.LazyFrame()  # a summary that touched per-request rows would fail
    summary = summarize_plan(plan)
    assert sum(r["requests"] for r in summary["top_reasons"]) == 40
    assert summary["cache_hit_tokens"] == sum(r["cached"] for r in ROWS)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=60), st.floats(0.0, 1.0))
def test_quantile_from_counts_is_polars_linear_quantile(values, q):
    frame = pl.DataFrame({"k": ["a"] * len(values), "v": [float(v) for v in values]})
    counts = frame.group_by("k", "v").agg(pl.len().alias("n"))
    got = quantile_from_counts(counts, "k", "v", "n", q)["v"].item()
    assert got == pytest.approx(frame["v"].quantile(q, "linear"), rel=1e-12, abs=1e-12)


def _routes(models: list[str]) -> dict[str, list[milp.Route]]:
    perf = FakePerf(two_devices().devices)
    perf.models.update({m: perf.models["m8"] for m in models})
    slo = Slo(mode="interactive", ttft_s=2.0, tpot_s=0.04)
    specs = [ClassSpec(f"c{i}", m, slo, 300.0 * (i + 1), 40.0 * (i + 1), 1000, 100.0, 1000.0)
             for i, m in enumerate(models)]
    return compute_routes(perf, specs, [Link("h100-sxm", 50.0), Link("b", 50.0)])


def test_models_are_independent_components_and_solve_alone():
    routes = _routes(["m8", "m8", "m70"])
    assert milp.components(routes) == [["c0", "c1"], ["c2"]]
    whole = milp.solve(routes)
    parts = [milp.solve({c: routes[c] for c in g}) for g in milp.components(routes)]
    assert whole is not None
    assert all(p is not None for p in parts)
    assert whole.usd_per_hour == pytest.approx(sum(p.usd_per_hour for p in parts if p))
    assert whole.gap == pytest.approx(0.0, abs=1e-6)  # HiGHS's absolute gap, 1e-6 $/h


def test_rounded_lp_fallback_serves_every_class_and_bounds_the_optimum():
    routes = _routes(["m8", "m8"])
    part = milp._rounded_lp(routes)
    best = milp.solve(routes)
    assert best is not None
    assert part.bound <= best.usd_per_hour * (1 + 1e-6) <= part.objective * (1 + 1e-6)
    for pool, n in part.replicas.items():
        load = sum(r.prefill_load * (r.prefill_pool == pool) + r.decode_load * (r.decode_pool == pool)
                   for chosen in part.fractions.values() for r, _ in chosen)
        assert load <= n


def test_large_path_without_tie_break_gives_the_same_plan(monkeypatch):
    exact = fit_plan(labeled_frame(ROWS), two_devices(), window_s=60.0)
    monkeypatch.setattr(milp, "LARGE_ROUTES", 0)  # every component takes the large path
    large = fit_plan(labeled_frame(ROWS), two_devices(), window_s=60.0)
    assert large.usd_per_hour == pytest.approx(exact.usd_per_hour)
    assert_frame_equal(large.routes, exact.routes)


def test_the_cli_silences_native_stdout_while_the_library_runs(capfd):
    # The solver's stray printf (HiGHS 1.12) goes nowhere under the CLI; the library itself
    # leaves fd 1 alone (tests/test_library_process.py).
    from tracelab.commands._process import cli_process

    with cli_process():
        os.write(1, b"HighsMipSolverData::transformNewIntegerFeasibleSolution\n")
    os.write(1, b"data\n")
    assert capfd.readouterr().out == "data\n"


def test_colocated_only_plan_still_has_groups_per_route():
    perf = FakePerf({"h100-sxm": FakeDevice("h100-sxm", 2.0, 1000.0, 0.5, [(8, 0.02, 100.0)],
                                            link_gbs=None)})
    plan = fit_plan(labeled_frame(ROWS), perf, window_s=60.0)
    assert plan.ledger_groups.height == plan.routes.height
    assert plan.ledger_groups["requests"].sum() == 40
