"""Performance model: hand-checked numbers, calibration rows, colocation, SRAM anchors, properties."""

from __future__ import annotations

import dataclasses
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelab.errors import ConfigError
from tracelab.hardware import roofline as rf
from tracelab.hardware.calibrate import SRAM_ANCHORS, fit_profile, read_measurements
from tracelab.hardware.catalog import Catalog, load_catalog
from tracelab.hardware.perf import PerfModel
from tracelab.hardware.profile import load_profile
from tracelab.hardware.registry import load_models

CAT = load_catalog()
PM = PerfModel(CAT)
H100, L8B = "h100-sxm", "llama-3.1-8b"


def test_hand_checked_h100_llama_8b() -> None:
    """Written out: the default profile's terms on the H100 datasheet figures."""
    mfu, mbu, t_lp, t_ld = 0.6437, 0.9054, 3.577e-05, 5.589e-05
    flops_s = 989e12 * mfu  # achieved bf16 FLOP/s
    bytes_s = 3.35e12 * mbu  # achieved bytes/s
    # decode, batch 1, context 1024: weights 8.03e9*2 B, KV read 131072 B x (1024 + 1 new)
    decode = 16.06e9 / bytes_s + 131072 * 1025 / bytes_s + 32 * t_ld
    assert decode == pytest.approx(7.1277e-3, rel=1e-4)
    assert PM.decode_step_s(H100, L8B, 1, 1024) == pytest.approx(decode, rel=1e-9)
    # prefill of one 2048-token prompt: linear 2·N·L, causal attention 2·layers·L²·hidden
    prefill = 2 * 8.03e9 * 2048 / flops_s + 2 * 32 * 2048**2 * 4096 / flops_s + 32 * t_lp
    assert prefill == pytest.approx(54.537e-3, rel=1e-4)
    assert PM.prefill_s(H100, L8B, 1, 2048) == pytest.approx(prefill, rel=1e-9)
    assert PM.replica_devices(H100, L8B) == 1
    assert PM.replica_devices(H100, "llama-3.1-70b") == 4  # 141.2 GB > 0.8 x 2 x 80 GB
    assert PM.replica_devices("rtx-5090", "llama-3.1-70b") is None  # edge: one device only


def test_default_profile_within_15_percent_on_calibration_rows(shared_dir) -> None:
    rows = pl.read_csv(shared_dir / "calibration/h100/llama-8b.csv")
    errs = []
    for r in rows.iter_rows(named=True):
        f = PM.prefill_s if r["phase"] == "prefill" else PM.decode_step_s
        errs.append(abs(f(H100, L8B, r["batch"], r["context"]) * 1e3 / r["ms_measured"] - 1))
    errs.sort()
    median = (errs[7] + errs[8]) / 2
    print(f"median abs error on {len(errs)} H100 rows: {median:.2%}")
    assert median < 0.15
    assert median == pytest.approx(load_profile().provenance["median_abs_err_after"], abs=0.005)


def test_refit_reproduces_the_shipped_profile(shared_dir) -> None:
    measured = read_measurements(shared_dir / "calibration/h100/llama-8b.csv")
    base = load_profile().with_defaults(
        mfu=0.5, mbu=0.6, t_layer_prefill_s=1e-5, t_layer_decode_s=1e-5
    )
    result = fit_profile(measured, CAT, load_models(), base)
    shipped = load_profile().defaults
    assert result.median_abs_err_after < 0.15 < result.median_abs_err_before
    for k in ("mfu", "mbu"):
        assert getattr(result.profile.defaults, k) == pytest.approx(getattr(shipped, k), rel=0.03)


def test_colocation_stretch_matches_measurements(shared_dir) -> None:
    rows = pl.read_csv(shared_dir / "calibration/h100/colocation-llama-8b.csv").filter(
        pl.col("decode_batch") > 0
    )
    for r in rows.iter_rows(named=True):
        got = PM.colocation_stretch(
            H100, L8B, r["decode_batch"], r["decode_ctx"], r["prefill_chunk"]
        )
        assert got == pytest.approx(r["stretch_vs_decode_only"], rel=0.15), r
    # the headline: a 512-token chunk doubles TPOT at batch 16
    assert PM.colocation_stretch(H100, L8B, 16, 2048, 512) == pytest.approx(2.0, rel=0.06)


@pytest.mark.parametrize(("device", "model", "tok_s", "ctx", "source"), SRAM_ANCHORS)
def test_sram_per_user_speed_anchors(
    device: str, model: str, tok_s: float, ctx: int, source: str
) -> None:
    assert 1 / PM.decode_step_s(device, model, 1, ctx) == pytest.approx(tok_s, rel=0.05), source


def test_sram_chips_from_aggregate_sram() -> None:
    assert PM.replica_devices("groq-lpu-v1", L8B) == math.ceil(16.06e9 / 230e6) == 70
    assert PM.replica_devices("cerebras-wse-3", "llama-3.1-70b") == 4
    assert PM.replica_devices("groq-lpu-v1", L8B, kv_tokens=4096) == math.ceil(
        (16.06e9 + 4096 * 131072) / 230e6
    )


def test_the_plan_sizes_decode_at_the_batch_the_replay_admits() -> None:
    """A 3B model on a 192 GB part holds >1,000 sequences of 1K context in KV; vLLM runs
    at most max_num_seqs of them, the replay's engine too, so the plan's decode point stops
    there (at 1,024 the fluid plan gave such a pool a quarter of what its replay needed)."""
    from tracelab.hardware.profile import MAX_NUM_SEQS
    from tracelab.simulate import SimOptions

    assert PM.efficiency("mi300x").max_batch == SimOptions().max_num_seqs == MAX_NUM_SEQS
    assert PM.max_batch("mi300x", "llama-3.2-3b", 1024) == MAX_NUM_SEQS
    op = PM.operating_point("mi300x", "llama-3.2-3b", "decode", 1024)
    assert op is not None
    assert op.batch == MAX_NUM_SEQS
    assert "batch cap" in op.reason


def test_max_batch_and_operating_points() -> None:
    cap = PM.max_batch(H100, L8B, 2048)
    assert cap == int((0.9 * 80e9 - 16.06e9) / 131072 // 2048)
    tight = PM.max_batch(H100, L8B, 2048, tpot_s=0.015)
    assert 0 < tight < cap
    assert (
        PM.decode_step_s(H100, L8B, tight, 2048)
        <= 0.015
        < PM.decode_step_s(H100, L8B, tight + 1, 2048)
    )
    assert PM.max_batch(H100, L8B, 2048, tpot_s=0.001) == 0
    op = PM.operating_point(H100, L8B, "decode", 2048, tpot_s=0.015)
    assert op is not None
    assert op.latency_s <= 0.015
    assert op.usd_per_mtok == pytest.approx(op.devices * 3.78 / (op.tokens_per_s * 3600) * 1e6)
    tp1 = tight / PM.decode_step_s(H100, L8B, tight, 2048)  # tokens/s of one GPU at its best batch
    assert op.usd_per_mtok <= 3.78 / (tp1 * 3600) * 1e6  # TP2 may win: it is chosen only if cheaper
    pre = PM.operating_point(H100, L8B, "prefill", 2048, ttft_s=0.5)
    assert pre is not None
    assert pre.latency_s <= 0.5
    assert PM.operating_point(H100, L8B, "prefill", 32768, ttft_s=0.1) is None
    assert PM.operating_point("a100", L8B, "decode", 1024, precision="fp8") is None
    with pytest.raises(ConfigError, match="no fp8 rate"):
        PM.decode_step_s("a100", L8B, 1, 1024, precision="fp8")


def test_work_coefficients_reproduce_device_seconds() -> None:
    wc = PM.work_coefficients(H100, L8B, decode_batch=32)
    L = 2048
    approx = (
        wc.prefill_s_per_token * L + wc.prefill_s_per_token_sq * L**2 + wc.prefill_s_per_request
    )
    assert approx == pytest.approx(PM.prefill_s(H100, L8B, 1, L), rel=0.02)
    per_token = wc.decode_s_per_token + wc.decode_s_per_token_ctx * 1024
    assert per_token == pytest.approx(PM.decode_step_s(H100, L8B, 32, 1024) / 32, rel=0.02)


# ------------------------------------------------------------------ properties
SIZES = ["llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b"]


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 64),
    context=st.integers(16, 16384),
    extra=st.integers(1, 4096),
    phase=st.sampled_from(["prefill", "decode"]),
)
def test_time_grows_with_tokens_and_context(
    batch: int, context: int, extra: int, phase: str
) -> None:
    f = PM.prefill_s if phase == "prefill" else PM.decode_step_s
    assert f(H100, L8B, batch, context + extra) > f(H100, L8B, batch, context)
    assert f(H100, L8B, batch + 1, context) >= f(H100, L8B, batch, context)


@settings(max_examples=30, deadline=None)
@given(
    batch=st.integers(1, 32),
    context=st.integers(16, 8192),
    phase=st.sampled_from(["prefill", "decode"]),
)
def test_time_grows_with_model_size(batch: int, context: int, phase: str) -> None:
    f = PM.prefill_s if phase == "prefill" else PM.decode_step_s
    times = [f("b200", m, batch, context, devices=1) for m in SIZES[:3]]
    assert times == sorted(times)


@settings(max_examples=30, deadline=None)
@given(
    bw=st.floats(0.5, 10.0),
    more=st.floats(1.0, 3.0),
    batch=st.integers(1, 128),
    context=st.integers(1, 8192),
)
def test_more_bandwidth_never_slows_decode(
    bw: float, more: float, batch: int, context: int
) -> None:
    def model_with(bandwidth: float) -> PerfModel:
        dev = dataclasses.replace(CAT.get(H100), mem_bw_tbs=bandwidth)
        return PerfModel(Catalog({H100: dev}))

    slow = model_with(bw).decode_step_s(H100, L8B, batch, context)
    fast = model_with(bw * more).decode_step_s(H100, L8B, batch, context)
    assert fast <= slow


@settings(max_examples=25, deadline=None)
@given(
    price=st.floats(0.1, 20.0),
    cut=st.floats(0.0, 0.99),
    phase=st.sampled_from(["prefill", "decode"]),
)
def test_lower_price_never_raises_cost_per_token(price: float, cut: float, phase: str) -> None:
    hi = PerfModel(load_catalog(prices={H100: price}))
    lo = PerfModel(load_catalog(prices={H100: price * (1 - cut)}))
    a = hi.operating_point(H100, L8B, phase, 1024, tpot_s=0.05)
    b = lo.operating_point(H100, L8B, phase, 1024, tpot_s=0.05)
    assert a is not None
    assert b is not None
    assert b.usd_per_mtok <= a.usd_per_mtok


# ------------------------------------------------------------------ searches (speed, same answers)
def _bisect_last(ok, cap: int) -> int:
    """The bisection ``max_batch`` used before ``last_within``: the reference answer."""
    if cap < 1 or not ok(1):
        return 0
    lo, hi = 1, cap
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return lo


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.floats(0.0, 5.0), min_size=0, max_size=300),
    start=st.floats(0.0, 5.0),
    limit=st.floats(0.0, 200.0),
)
def test_last_within_is_the_bisection(steps: list[float], start: float, limit: float) -> None:
    values = [start]
    for s in steps:  # non-decreasing, with flat runs (steps of 0) and jumps
        values.append(values[-1] + s)
    cap = len(values) - (1 if not steps else 0)
    seen: list[int] = []

    def value(b: int) -> float:
        seen.append(b)
        return values[b - 1]

    got = rf.last_within(value, limit, cap)
    assert got == _bisect_last(lambda b: values[b - 1] <= limit, cap)
    assert all(1 <= b <= cap for b in seen)


FITS = [(d, m) for d in ("h100-sxm", "b200", "mi300x", "l4", "tpu-v6e", "gb200")
        for m in ("llama-3.2-1b", "llama-3.1-8b", "llama-3.1-70b", "qwen3-30b-a3b")
        if PM.replica_devices(d, m) is not None]


@settings(max_examples=60, deadline=None)
@given(
    pair=st.sampled_from(FITS),
    context=st.integers(1, 100_000),
    tpot=st.floats(1e-3, 0.3),
    double=st.integers(0, 2),
)
def test_max_batch_is_the_bisection_over_step_times(
    pair: tuple[str, str], context: int, tpot: float, double: int
) -> None:
    device, model = pair
    t = (PM.replica_devices(device, model) or 1) * 2**double
    cap = PM.max_batch(device, model, context, devices=t)
    expected = _bisect_last(
        lambda b: PerfModel(CAT).decode_step_s(device, model, b, context, devices=t) <= tpot, cap
    )
    assert PM.max_batch(device, model, context, tpot_s=tpot, devices=t) == expected


@settings(max_examples=60, deadline=None)
@given(pair=st.sampled_from(FITS), context=st.integers(1, 60_000), ttft=st.floats(1e-3, 5.0))
def test_prefill_batch_is_the_first_halving_that_meets_ttft(
    pair: tuple[str, str], context: int, ttft: float
) -> None:
    device, model = pair
    op = PM.operating_point(device, model, "prefill", context, ttft_s=ttft)
    if op is None:
        return
    fresh = PerfModel(CAT)  # no shared memo: the halving loop as it was written
    eff = fresh.profile.for_device(device, CAT.get(device).tier)
    batch = max(1, eff.prefill_max_tokens // context)
    kv_fit = int(fresh.kv_capacity_tokens(device, model, devices=op.devices) // context)
    batch = min(batch, kv_fit)
    while batch > 1 and fresh.prefill_s(device, model, batch, context, devices=op.devices) > ttft:
        batch //= 2
    assert op.batch == batch
    assert op.latency_s == fresh.prefill_s(device, model, batch, context, devices=op.devices)


def test_memo_returns_what_a_fresh_model_computes() -> None:
    shared = PerfModel(CAT)
    for device, model in FITS[:6]:
        for context in (1, 700, 9000):
            for tpot in (None, 0.02, 0.08):
                got = shared.operating_point(device, model, "decode", context, tpot_s=tpot)
                again = shared.operating_point(device, model, "decode", context, tpot_s=tpot)
                fresh = PerfModel(CAT).operating_point(device, model, "decode", context,
                                                       tpot_s=tpot)
                assert got == again == fresh
