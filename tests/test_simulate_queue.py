"""Queueing in the replay: M/D/1 at batch 1, no wait on an idle fleet, more replicas never
hurt, KV preemption, join-shortest-queue and session affinity, disaggregated routes."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_fixtures import (
    check_little,
    colocated,
    disaggregated,
    perf_model,
    poisson,
    requests,
)

from tracelab.errors import ConfigError
from tracelab.simulate import SimOptions, simulate
from tracelab.simulate.engine import transfer_s
from tracelab.simulate.steps import StepModel


def _service_s(prefill: int) -> float:
    return StepModel(perf_model(), "h100-sxm", "llama-3.1-8b", "bf16", 1).step_s(0, 0, prefill)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_batch_one_with_poisson_arrivals_is_m_d_1(rho):
    # One token out and a prompt of one chunk: every request is one step of fixed length S,
    # and max_num_seqs=1 serves them one at a time: M/D/1, mean wait ρS / (2(1 − ρ)).
    service = _service_s(512)
    arrival = poisson(60_000, rho / service, seed=1)
    replay = simulate(requests(arrival, 512, 1), colocated(1), perf_model(),
                      options=SimOptions(max_num_seqs=1))
    expect = rho * service / (2 * (1 - rho))
    assert replay.requests["queue_s"].mean() == pytest.approx(expect, rel=0.05)
    assert replay.requests["e2e_s"].mean() == pytest.approx(expect + service, rel=0.05)
    check_little(replay)


def test_logs_a_year_apart_keep_the_timeline_to_the_buckets_that_ran():
    """Two bursts a year apart (files with calendar times years apart are one axis): the
    timeline holds the buckets the replica stepped in and one idle bucket after each run,
    not a bucket per minute of the year, and every arrival is counted."""
    year_s = 365 * 86_400.0
    arrival = [*poisson(50, 5.0, seed=3), *(year_s + poisson(50, 5.0, seed=4))]
    replay = simulate(requests(arrival, 500, 20), colocated(1), perf_model())
    t = replay.timeline
    assert t.height < 20
    assert t["arrivals"].sum() == 100
    idle = t.filter(pl.col("busy") == 0)
    assert idle.height == 1
    assert idle["t_s"][0] < year_s
    assert replay.pools["utilisation"][0] > 0


def test_an_over_provisioned_fleet_does_not_queue():
    arrival = poisson(400, 2.0, seed=2)
    replay = simulate(requests(arrival, 800, 50), colocated(16), perf_model())
    assert replay.requests["queue_s"].max() == 0.0
    # each prompt alone on a replica, in 2 chunks, the second attending to the first
    step = StepModel(perf_model(), "h100-sxm", "llama-3.1-8b", "bf16", 1)
    idle = _service_s(512) + step.step_s(0, 0, 288, 288 * 512, 512)
    assert replay.requests["ttft_s"].max() == pytest.approx(idle, rel=1e-9)
    assert replay.attainment() == 1.0
    check_little(replay)


def test_an_undersized_fleet_says_how_far_behind_it_fell():
    arrival = poisson(3000, 60.0, seed=3)  # ~60 req/s of 2000-token prompts: > 1 GPU's prefill
    replay = simulate(requests(arrival, 2000, 20), colocated(1), perf_model())
    s = replay.summary
    assert s["backlog_at_last_arrival"] > 100
    assert s["drain_s"] > 10
    assert s["max_queue_s"] > 10
    assert replay.attainment() < 0.5
    check_little(replay)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), rate=st.floats(5, 80), replicas=st.integers(1, 3),
       prefill=st.integers(50, 3000), output=st.integers(1, 300))
def test_more_replicas_never_lower_attainment(seed, rate, replicas, prefill, output):
    arrival = poisson(150, rate, seed=seed)
    frame = requests(arrival, prefill, output)
    fewer = simulate(frame, colocated(replicas), perf_model())
    more = simulate(frame, colocated(replicas + 1), perf_model())
    check_little(fewer)
    check_little(more)
    assert more.attainment() >= fewer.attainment()


def test_kv_overflow_preempts_and_every_request_still_finishes():
    # 30 long generations at once on a replica that holds ~130K KV tokens: admission waits
    # and decodes preempt (recompute), yet every request ends.
    perf = perf_model()
    cap = perf.kv_capacity_tokens("h100-sxm", "llama-3.1-8b", "bf16", 1)
    per = int(cap // 20)
    replay = simulate(requests([0.0] * 30, per - 2000, 2000), colocated(1), perf)
    assert replay.requests["served"].all()
    assert replay.summary["preemptions"] > 0
    assert replay.pools["loop_preemptions"][0] == replay.summary["preemptions"]
    check_little(replay)


def test_join_shortest_queue_and_session_affinity():
    # Two requests at once go to two replicas; a session's second turn follows its first.
    frame = requests([0.0, 0.0, 5.0], 500, 10, session=["a", "b", "a"])
    replay = simulate(frame, colocated(2), perf_model())
    assert replay.requests["replica"].to_list() == [0, 1, 0]
    plain = simulate(requests([0.0, 0.0, 5.0], 500, 10), colocated(2), perf_model())
    assert plain.requests["replica"].to_list() == [0, 1, 0]  # both idle: the lowest index
    busy = requests([0.0, 0.0, 0.01], 500, 10, session=["a", "b", "b"])
    assert simulate(busy, colocated(2), perf_model()).requests["replica"].to_list() == [0, 1, 1]


def test_a_session_leaves_its_replica_when_the_pool_is_imbalanced():
    # Session "s" starts on replica 0; 40 one-off requests arrive at once and share the
    # pool; 30 more turns of "s" follow while replica 0 is busy. With SGLang's rule at
    # (abs 4, rel 1.5) the turns leave replica 0 once it holds over 4 more requests than
    # replica 1 (and 1.5x); with balancing off they all stay.
    times = [0.0] + [0.001] * 40 + [0.002 + 0.0001 * j for j in range(30)]
    session = ["s"] + [None] * 40 + ["s"] * 30
    frame = requests(times, 2000, 200, session=session)
    perf = perf_model()
    sticky = simulate(frame, colocated(2), perf, options=SimOptions(balance_abs_threshold=-1))
    balanced = simulate(frame, colocated(2), perf,
                        options=SimOptions(balance_abs_threshold=4, balance_rel_threshold=1.5))
    turns = pl.Series(session).eq("s").fill_null(False)
    assert set(sticky.requests.filter(turns)["replica"]) == {0}
    assert set(balanced.requests.filter(turns)["replica"]) == {0, 1}
    held = balanced.requests["replica"].value_counts()["count"]
    assert held.max() - held.min() < \
        sticky.requests["replica"].value_counts()["count"].max() - \
        sticky.requests["replica"].value_counts()["count"].min()
    for replay in (sticky, balanced):
        check_little(replay)
    with pytest.raises(ConfigError, match="balance_rel_threshold"):
        SimOptions(balance_rel_threshold=0.5).check()


def test_the_queue_is_measured_in_tokens_so_a_long_prompt_does_not_hide_its_load():
    # Replica 0 takes a 60K-token prompt, replica 1 two short chats; the next short request
    # waits behind the long prefill if the queue is counted in requests (1 < 2), not in tokens.
    frame = requests([0.0, 0.001, 0.002, 0.003], [60_000, 300, 300, 300], 50)
    perf = perf_model()
    tokens = simulate(frame, colocated(2), perf)
    count = simulate(frame, colocated(2), perf, options=SimOptions(dispatch="requests"))
    assert tokens.requests["replica"].to_list() == [0, 1, 1, 1]
    assert count.requests["replica"].to_list() == [0, 1, 0, 1]
    assert tokens.requests["ttft_s"][2] < count.requests["ttft_s"][2] / 5
    for replay in (tokens, count):
        check_little(replay)
    with pytest.raises(ConfigError, match="dispatch 'random'"):
        SimOptions(dispatch="random").check()


def test_a_disaggregated_request_pays_the_transfer_and_a_decode_step():
    perf = perf_model()
    fleet = disaggregated()
    replay = simulate(requests([1.0], 3000, 3), fleet, perf)
    row = replay.requests.row(0, named=True)
    step = StepModel(perf, "h100-sxm", "llama-3.1-8b", "bf16", 1)
    prefill = step.step_s(0, 0, 3000)  # a prefill pool's chunk is max_num_batched_tokens
    moved = transfer_s(perf, fleet.pools[0], fleet.pools[1]) * 3000
    decode = [step.step_s(1, 3000 + j, 0) for j in range(3)]
    assert row["ttft_s"] == pytest.approx(prefill + moved + decode[0], rel=1e-12)
    assert row["e2e_s"] == pytest.approx(prefill + moved + sum(decode), rel=1e-12)
    assert (row["pool_prefill"], row["pool_decode"]) == (fleet.pools[0].pool_id,
                                                         fleet.pools[1].pool_id)
    check_little(replay)


def test_a_pool_without_replicas_leaves_its_requests_unserved():
    replay = simulate(requests([0.0, 1.0], 100, 5), disaggregated(decode=0), perf_model())
    assert not replay.requests["served"].any()
    assert replay.summary["unserved"] == 2
    assert replay.attainment() == 0.0


def test_results_do_not_depend_on_row_order():
    frame = requests(poisson(300, 20.0, seed=4), 700, 40)
    a = simulate(frame, colocated(2), perf_model()).requests
    b = simulate(frame.reverse(), colocated(2), perf_model()).requests
    assert a.sort("request_id").equals(b.sort("request_id"))


def test_classes_are_split_by_the_hash_of_request_ids():
    from tracelab.simulate import Fleet, PoolSpec, RouteShare

    a = PoolSpec("h100-sxm/llama-3.1-8b/x1/colocated", "h100-sxm", "llama-3.1-8b", 1, 1,
                 "colocated")
    b = PoolSpec("h200/llama-3.1-8b/x1/colocated", "h200", "llama-3.1-8b", 1, 1, "colocated")
    fleet = Fleet((a, b), (RouteShare("c", a.pool_id, a.pool_id, 0.25),
                           RouteShare("c", b.pool_id, b.pool_id, 0.75)))
    replay = simulate(requests(poisson(4000, 50.0, seed=5), 200, 5), fleet, perf_model())
    share = replay.requests.filter(pl.col("pool_prefill") == a.pool_id).height / 4000
    assert share == pytest.approx(0.25, abs=0.03)
    check_little(replay)


def test_interactive_attainment_counts_requests_of_unknown_mode():
    frame = requests([0.0, 1.0], 100, 5, mode="unknown")
    replay = simulate(frame, disaggregated(decode=0), perf_model())
    assert replay.attainment("interactive") == 0.0  # not vacuously met
    assert replay.attainment("batch") == 1.0  # no batch requests: nothing missed


def test_the_timeline_says_how_full_the_replicas_were():
    arrival = poisson(600, 20.0, seed=8)
    replay = simulate(requests(arrival, 600, 100), colocated(1), perf_model())
    pool = replay.pools.row(0, named=True)
    assert 0 < pool["utilisation"] <= 1 + 1e-9
    assert pool["mean_batch"] > 1
    assert 0 < pool["kv_share"] < 1
    t = replay.timeline
    assert t["arrivals"].sum() == 600
    assert t["busy"].max() <= 1 + 1e-9


def test_a_ttft_target_of_0_is_no_target_whatever_its_per_ktoken_allowance():
    from tracelab.plan.slo import Slo

    # One replica, 20 long prompts at once: most wait far past 0.05 s per 1,000 tokens.
    frame = requests([0.0] * 20, 8000, 5)
    grown = {"interactive": Slo(mode="interactive", ttft_s=0.1, ttft_s_per_ktoken=0.05)}
    none = {"interactive": Slo(mode="interactive", ttft_s=0.0, ttft_s_per_ktoken=0.05)}
    perf = perf_model()
    held = simulate(frame, colocated(1), perf, slos=grown).requests
    free = simulate(frame, colocated(1), perf, slos=none).requests
    assert not held["meets_ttft"].all()
    assert free["meets_ttft"].all()
    assert Slo(mode="m", ttft_s=0.0, ttft_s_per_ktoken=0.05).ttft_budget_s(8000) is None
