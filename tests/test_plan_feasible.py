"""Requests whose TTFT budget is below their own prefill alone on the fastest replica are
named as infeasible by their SLO, with both numbers; the rest are not."""

from __future__ import annotations

import numpy as np
import pytest
from sim_fixtures import DEVICE, MODEL, colocated, perf_model, requests

from tracelab.plan.feasible import (
    explain,
    find_infeasible,
    per_step_tokens,
    unloaded_prefill_many,
    unloaded_prefill_s,
)
from tracelab.plan.slo import load_slos
from tracelab.simulate import SimOptions, simulate
from tracelab.simulate.steps import StepModel


def test_unloaded_prefill_is_its_chunks_alone():
    step = StepModel(perf_model(), DEVICE, MODEL, "bf16", 1)
    # 1200 tokens after 100 cached, 512 a step: 512 after 100, 512 after 612, 176 after 1124
    expect = (step.step_s(0, 0, 512, 512 * 100, 100) + step.step_s(0, 0, 512, 512 * 612, 612)
              + step.step_s(0, 0, 176, 176 * 1124, 1124))
    assert unloaded_prefill_s(step, 1200, 100, 512) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize(("model", "devices", "per_step"),
                         [(MODEL, 1, 512), (MODEL, 1, 8192), ("llama-3.1-70b", 4, 512)])
def test_unloaded_prefill_of_many_prompts_is_the_scalars_exactly(model, devices, per_step):
    step = StepModel(perf_model(), DEVICE, model, "bf16", devices)
    grid = [1, 2, 511, 512, 513, 1024, 1200, 6000, 8191, 8192, 8193, 40_000, 131_072]
    prefill = np.array([p for p in grid for _ in (0, 100, 30_000)], dtype=np.int64)
    cached = np.array([c for _ in grid for c in (0, 100, 30_000)], dtype=np.int64)
    many = unloaded_prefill_many(step, prefill, cached, per_step)
    scalar = [unloaded_prefill_s(step, int(p), int(c), per_step) for p, c in zip(prefill, cached, strict=True)]
    assert many.tolist() == scalar  # the same operations: equal, not approximately


def test_per_step_tokens_follow_the_role_and_the_threshold():
    options = SimOptions(chunk_tokens=512, max_num_batched_tokens=8192)
    assert per_step_tokens("colocated", options) == 512
    assert per_step_tokens("prefill", options) == 8192
    capped = SimOptions(chunk_tokens=512, long_prefill_token_threshold=256)
    assert per_step_tokens("prefill", capped) == 256


def test_a_budget_below_the_prompts_own_prefill_is_infeasible_by_slo():
    slos = load_slos(overrides=["interactive.ttft_s=0.05", "interactive.ttft_s_per_ktoken=0"])
    frame = requests([0.0, 100.0], [6000, 10], 2)
    replay = simulate(frame, colocated(1), perf_model(), slos=slos)
    shapes = {MODEL: [(DEVICE, 1, "colocated")]}
    found = find_infeasible(replay, shapes, perf_model(), slos, ["interactive"], SimOptions())
    assert found["request_id"].to_list() == ["r0000000"]
    row = found.row(0, named=True)
    assert row["ttft_budget_s"] == pytest.approx(0.05)
    step = StepModel(perf_model(), DEVICE, MODEL, "bf16", 1)
    assert row["unloaded_ttft_s"] == pytest.approx(unloaded_prefill_s(step, 6000, 0, 512))
    assert row["unloaded_ttft_s"] > row["ttft_budget_s"]
    assert row["fastest_replica"] == f"{DEVICE}/{MODEL}/x1/colocated"
    assert "1 of 2 requests" in explain(found, 2)
    # a faster shape the plan may buy (8192-token prefill steps on 8 GPUs) brings it in time
    faster = {MODEL: [(DEVICE, 1, "colocated"), (DEVICE, 8, "prefill")]}
    budget = (row["unloaded_ttft_s"] + unloaded_prefill_s(
        StepModel(perf_model(), DEVICE, MODEL, "bf16", 8), 6000, 0, 8192)) / 2
    slack = load_slos(overrides=[f"interactive.ttft_s={budget}",
                                 "interactive.ttft_s_per_ktoken=0"])
    again = simulate(frame, colocated(1), perf_model(), slos=slack)
    assert find_infeasible(again, shapes, perf_model(), slack, ["interactive"],
                           SimOptions()).height == 1
    assert find_infeasible(again, faster, perf_model(), slack, ["interactive"],
                           SimOptions()).height == 0


def test_the_report_says_which_requests_were_left_out():
    from tracelab.report.fmt import infeasible_note

    assert infeasible_note({"infeasible_by_slo": {"requests": 0, "why": "none"}}) == ""
    assert infeasible_note({}) == ""
    note = infeasible_note({"infeasible_by_slo": {"requests": 2, "why": "2 of 9 requests ..."}})
    assert note == " Infeasible by their SLO: 2 of 9 requests ...."
