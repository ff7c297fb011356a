"""How a step shares its prefill budget (vLLM's scheduler settings): a long prompt capped at
``long_prefill_token_threshold`` leaves room in the same step for a short prompt behind it;
``max_long_partial_prefills`` lets short prompts pass long ones; the bulk advance equals
the step-by-step replay with the cap on."""

from __future__ import annotations

import polars as pl
import pytest
from sim_fixtures import check_little, colocated, perf_model, poisson, requests

from tracelab.errors import ConfigError
from tracelab.simulate import SimOptions, simulate
from tracelab.simulate.steps import StepModel


def _step() -> StepModel:
    return StepModel(perf_model(), "h100-sxm", "llama-3.1-8b", "bf16", 1)


def _ttft(replay, rid: str) -> float:
    return float(replay.requests.filter(pl.col("request_id") == rid)["ttft_s"].item())


def test_without_a_cap_a_short_prompt_waits_for_the_long_prefill_ahead_of_it():
    frame = requests([0.0, 1e-6], [8192, 10], 2)
    replay = simulate(frame, colocated(1), perf_model(), options=SimOptions(chunk_tokens=512))
    # 16 chunks of 512, each attending to the ones before; the short prompt's one piece
    # rides in the 16th step (it is admitted once the long one leaves room).
    step = _step()
    long_s = sum(step.step_s(0, 0, 512, 512 * 512 * k, 512 * k) for k in range(16))
    assert _ttft(replay, "r0000000") == pytest.approx(long_s, rel=1e-9)
    assert _ttft(replay, "r0000001") > long_s - 1e-3
    check_little(replay)


def test_a_long_prompt_capped_at_the_threshold_leaves_room_for_a_short_one():
    frame = requests([0.0, 1e-6], [8192, 10], 2)
    options = SimOptions(chunk_tokens=512, long_prefill_token_threshold=256)
    replay = simulate(frame, colocated(1), perf_model(), options=options)
    step = _step()
    first = step.step_s(0, 0, 256)  # the long prompt alone, 256 tokens
    # then one step with the long prompt's second 256 (after 256) and the short prompt's 10
    second = step.step_s(0, 0, 266, 256 * 256, 256)
    assert _ttft(replay, "r0000001") == pytest.approx(first + second - 1e-6, rel=1e-9)
    assert _ttft(replay, "r0000000") > 32 * first  # 32 capped chunks
    check_little(replay)


def test_short_prompts_pass_long_ones_when_the_long_slots_are_full():
    frame = requests([0.0, 1e-6, 2e-6], [8192, 8192, 10], 2)
    options = SimOptions(chunk_tokens=1024, long_prefill_token_threshold=256,
                         max_long_partial_prefills=1)
    replay = simulate(frame, colocated(1), perf_model(), options=options)
    ttft = {r: _ttft(replay, r) for r in ("r0000000", "r0000001", "r0000002")}
    assert ttft["r0000002"] < 0.1 < ttft["r0000000"] < ttft["r0000001"]
    # the second long prompt starts only when the first has finished its prefill
    start = replay.requests.filter(pl.col("request_id") == "r0000001")["queue_s"].item()
    assert start == pytest.approx(ttft["r0000000"] - 1e-6, rel=1e-6)


@pytest.mark.parametrize("threshold", [128, 700])
def test_the_bulk_advance_equals_the_step_by_step_replay_with_a_cap(threshold):
    arrival = poisson(300, 3.0, seed=7)
    prefill = [(i * 7919) % 6000 + 1 for i in range(300)]
    output = [(i * 104729) % 300 + 1 for i in range(300)]
    frame = requests(arrival, prefill, output)
    base = SimOptions(chunk_tokens=1024, long_prefill_token_threshold=threshold,
                      max_num_partial_prefills=3)
    bulk = simulate(frame, colocated(2), perf_model(), options=base)
    steps = simulate(frame, colocated(2), perf_model(),
                     options=SimOptions(**{**base.__dict__, "max_span_steps": 1}))
    for col in ("ttft_s", "e2e_s", "queue_s"):
        assert bulk.requests[col].to_list() == pytest.approx(steps.requests[col].to_list(),
                                                             rel=1e-9, abs=1e-12)
    check_little(bulk)


def test_a_negative_limit_is_one_line():
    with pytest.raises(ConfigError, match="long_prefill_token_threshold"):
        simulate(requests([0.0], 10, 2), colocated(1), perf_model(),
                 options=SimOptions(long_prefill_token_threshold=-1))
