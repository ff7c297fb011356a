"""The replay's step times are the performance model's: per step, per bulk span, end to end
through a replica, and against the measured H100 colocation rows."""

from __future__ import annotations

import math

import polars as pl
import pytest
from sim_fixtures import DEVICE, MODEL, check_little, colocated, perf_model, requests

from tracelab.hardware import roofline as rf
from tracelab.simulate import SimOptions, simulate
from tracelab.simulate.steps import StepModel


def _forward(n: int, ctx: float, p: int, devices: int = 1, device: str = DEVICE,
             model: str = MODEL) -> float:
    perf = perf_model()
    dev = perf.catalog.get(device)
    eff = perf.profile.for_device(device, dev.tier)
    return rf.forward_s(dev, perf.model(model), eff, "bf16", devices, decode_batch=n,
                        decode_ctx=ctx, prefill_batch=1 if p else 0, prefill_len=p)


@pytest.mark.parametrize(("device", "model", "devices"),
                         [(DEVICE, MODEL, 1), (DEVICE, "llama-3.1-70b", 4),
                          ("mi300x", "llama-3.1-70b", 2)])
def test_step_time_equals_forward_s(device, model, devices):
    step = StepModel(perf_model(), device, model, "bf16", devices)
    for n in (0, 1, 7, 64, 256):
        for ctx in (0, 100, 4096, 32768):
            for p in (0, 1, 300, 512, 8192):
                if n == 0 and p == 0:
                    continue
                expect = _forward(n, ctx, p, devices, device, model)
                assert step.step_s(n, n * ctx, p) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize(("n", "ctx", "p", "k"),
                         [(1, 0, 0, 1), (16, 2048, 512, 40), (256, 100, 0, 5000),
                          (64, 10, 2048, 3000), (200, 0, 8000, 20000)])
@pytest.mark.parametrize("prefix", [0, 700])
def test_span_is_the_exact_sum_of_its_steps(n, ctx, p, k, prefix):
    step = StepModel(perf_model(), DEVICE, MODEL, "bf16", 1)
    total = n * ctx
    by_step = math.fsum(
        step.step_s(n, total + n * j, p, p * (prefix + p * j), (prefix + p * j) if p else 0)
        for j in range(k))
    assert step.span_s(n, total, p, k, prefix) == pytest.approx(by_step, rel=1e-9)


def test_a_span_crossing_the_attention_kink_is_summed_on_both_sides():
    # One decoder at 1M cached tokens (attention reads bound) beside a 256-token chunk whose
    # prefix grows 256 a step: the chunk's attention FLOPs overtake the reads mid-span.
    step = StepModel(perf_model(), DEVICE, MODEL, "bf16", 1)
    n, total, p, k = 1, 1_000_000, 256, 3000

    def one(j: int) -> float:
        return step.step_s(n, total + n * j, p, p * p * j, p * j)

    _, fa, ba = step.parts(n, p)
    u = [fa + step.fs * (total + n * j + p * p * j) for j in (0, k - 1)]
    v = [ba + step.bs * (total + n * j + p * j) for j in (0, k - 1)]
    assert u[0] < v[0]
    assert u[1] > v[1]
    by_step = math.fsum(one(j) for j in range(k))
    naive = k * one(k // 2)
    assert step.span_s(n, total, p, k, 0) == pytest.approx(by_step, rel=1e-12)
    assert naive != pytest.approx(by_step, rel=1e-6)


def test_one_request_on_an_idle_replica_takes_the_model_s_steps():
    # 300 prompt tokens (one chunk), 5 output tokens: the step that finishes the prefill
    # yields token 1, then 4 decode steps at context 300, 301, 302, 303.
    replay = simulate(requests([10.0], 300, 5), colocated(1), perf_model())
    row = replay.requests.row(0, named=True)
    prefill = _forward(0, 0, 300)
    decode = [_forward(1, 300 + j, 0) for j in range(4)]
    assert row["queue_s"] == 0.0
    assert row["ttft_s"] == pytest.approx(prefill, rel=1e-12)
    assert row["e2e_s"] == pytest.approx(prefill + math.fsum(decode), rel=1e-12)
    assert row["tpot_s"] == pytest.approx(math.fsum(decode) / 4, rel=1e-12)
    check_little(replay)


def test_a_long_prompt_is_prefilled_in_chunks_that_attend_to_the_ones_before():
    # 1200 tokens at 512 per step: 512 + 512 + 176, the first token at the third step's end;
    # chunk 2 attends to 512 earlier tokens, chunk 3 to 1024.
    step = StepModel(perf_model(), DEVICE, MODEL, "bf16", 1)
    replay = simulate(requests([0.0], 1200, 1), colocated(1), perf_model())
    expect = (_forward(0, 0, 512) + step.step_s(0, 0, 512, 512 * 512, 512)
              + step.step_s(0, 0, 176, 176 * 1024, 1024))
    assert replay.requests["ttft_s"][0] == pytest.approx(expect, rel=1e-12)
    wide = simulate(requests([0.0], 1200, 1), colocated(1), perf_model(),
                    options=SimOptions(chunk_tokens=2048))
    assert wide.requests["ttft_s"][0] == pytest.approx(_forward(0, 0, 1200), rel=1e-12)


def test_chunked_prefill_adds_up_to_one_whole_prompt_forward():
    # 32K tokens in four 8192-token chunks, all compute-bound: the chunks' attention sums to
    # the whole prompt's causal L², so the replay's TTFT is forward_s(32K) plus the fixed
    # per-step overhead of the three extra steps.
    perf = perf_model()
    dev = perf.catalog.get(DEVICE)
    eff = perf.profile.for_device(DEVICE, dev.tier)
    fixed = eff.t_step_s + perf.model(MODEL).n_layers * eff.t_layer_prefill_s
    options = SimOptions(chunk_tokens=8192, max_num_batched_tokens=8192)
    replay = simulate(requests([0.0], 32768, 1), colocated(1), perf, options=options)
    expect = _forward(0, 0, 32768) + 3 * fixed
    assert replay.requests["ttft_s"][0] == pytest.approx(expect, rel=1e-9)


def test_a_cached_prefix_is_attended_but_not_recomputed():
    # 300 new tokens after 3000 cached ones: one chunk with a 3000-token prefix
    step = StepModel(perf_model(), DEVICE, MODEL, "bf16", 1)
    replay = simulate(requests([0.0], 300, 1, context=[3300]), colocated(1), perf_model())
    expect = step.step_s(0, 0, 300, 300 * 3000, 3000)
    assert replay.requests["ttft_s"][0] == pytest.approx(expect, rel=1e-12)
    assert expect > _forward(0, 0, 300)


def test_decode_with_a_chunk_matches_the_h100_colocation_rows(shared_dir):
    rows = pl.read_csv(shared_dir / "calibration/h100/colocation-llama-8b.csv")
    step = StepModel(perf_model(), DEVICE, MODEL, "bf16", 1)
    for r in rows.iter_rows(named=True):
        n, ctx, p = r["decode_batch"], r["decode_ctx"], r["prefill_chunk"]
        predicted_ms = step.step_s(n, n * ctx, p) * 1000
        assert predicted_ms == pytest.approx(r["step_ms"], rel=0.15), r


@pytest.mark.parametrize(("rate", "replicas", "prefill", "output"),
                         [(30.0, 1, 900, 120), (80.0, 2, 3000, 40), (5.0, 1, 200, 400)])
def test_bulk_advance_equals_step_by_step(rate, replicas, prefill, output):
    # The loop runs many steps at once between events; the same replay one step per
    # iteration gives the same times (float summation aside).
    from sim_fixtures import poisson

    frame = requests(poisson(300, rate, seed=7), prefill, output,
                     context=[prefill + 100 * (i % 3) for i in range(300)])
    bulk = simulate(frame, colocated(replicas), perf_model())
    steps = simulate(frame, colocated(replicas), perf_model(),
                     options=SimOptions(max_span_steps=1))
    for col in ("queue_s", "ttft_s", "e2e_s"):
        assert bulk.requests[col].to_numpy() == pytest.approx(
            steps.requests[col].to_numpy(), rel=1e-9, abs=1e-12)
    assert bulk.requests["replica"].equals(steps.requests["replica"])
