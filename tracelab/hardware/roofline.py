"""Roofline physics of one forward pass: FLOPs, bytes and the time they take on a device.

A forward is split into the kernel classes that run one after another:
- GEMMs (QKV/O/MLP/LM head): time = max(weight bytes / (bw·mbu), 2·N_active·tokens / (F·mfu));
- attention: time = max(KV bytes / (bw·mbu), attention FLOPs / (F·mfu)), with causal prefill
  attention FLOPs 2·n_layers·L²·hidden and decode attention 4·n_layers·c·hidden per token;
- fixed overheads: t_step + n_layers·t_layer (kernel launches, norms, sampling);
- tensor-parallel all-reduces (2 per layer) or, for SRAM pipelines, a hop per extra chip.
Work is split evenly over the ``t`` devices of a replica. Units: seconds, bytes, FLOPs.
Efficiencies are relative to datasheet peaks (H100: measured GEMM 784.7 of 989 TFLOP/s,
copy 3.008 of 3.35 TB/s, see the calibration README). ``last_within`` finds the largest
batch whose step meets a time limit, relying on step time never falling as the batch grows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, overload

from tracelab.hardware.catalog import Device
from tracelab.hardware.profile import Efficiency
from tracelab.hardware.registry import ModelSpec

if TYPE_CHECKING:
    import numpy as np

BYTES_PER_PARAM = {"bf16": 2.0, "fp8": 1.0, "fp4": 0.5}
# KV cache bytes relative to bf16: fp8 (and fp4) serving keeps an fp8 KV cache.
KV_SCALE = {"bf16": 1.0, "fp8": 0.5, "fp4": 0.5}
ACT_BYTES = 2.0  # bf16 activations in all-reduces


def weight_bytes(model: ModelSpec, precision: str) -> float:
    """All weights at ``precision``, bytes."""
    return model.params_b * 1e9 * BYTES_PER_PARAM[precision]


def kv_bytes(model: ModelSpec, precision: str) -> float:
    """KV cache bytes per token at ``precision``."""
    return model.kv_bytes_per_token * KV_SCALE[precision]


def weights_read_bytes(model: ModelSpec, precision: str, tokens: int) -> float:
    """Weight bytes one step reads: MoE experts touched grow with the tokens in the step.

    Approximation: min(all weights, active weights × tokens) (dense: all weights).
    """
    active = model.active_params_b * 1e9 * BYTES_PER_PARAM[precision]
    return min(weight_bytes(model, precision), active * max(tokens, 1))


def _time(
    flops: float, nbytes: float, dev: Device, eff: Efficiency, precision: str, t: int
) -> float:
    peak = dev.tflops(precision)
    assert peak is not None
    return max(flops / (t * peak * 1e12 * eff.mfu), nbytes / (t * dev.mem_bw_tbs * 1e12 * eff.mbu))


@overload
def comm_s(dev: Device, model: ModelSpec, eff: Efficiency, tokens: int, t: int) -> float: ...
@overload
def comm_s(dev: Device, model: ModelSpec, eff: Efficiency, tokens: np.ndarray,
           t: int) -> np.ndarray | float: ...
def comm_s(dev: Device, model: ModelSpec, eff: Efficiency, tokens: int | np.ndarray,
           t: int) -> float | np.ndarray:
    """Time the group spends communicating in one forward of ``tokens`` tokens (an int, or
    an int array: each element's time, or one float for all when it does not depend on them)."""
    if t <= 1:
        return 0.0
    if dev.tier == "sram":
        return (t - 1) * eff.t_hop_s
    if dev.scale_up_gbs <= 0:
        return float("inf")
    payload = tokens * model.hidden_size * ACT_BYTES
    ring = 2 * (t - 1) / t * payload / (dev.scale_up_gbs * 1e9 * eff.link_eff)
    return 2 * model.n_layers * (ring + eff.allreduce_latency_s)


def forward_s(
    dev: Device,
    model: ModelSpec,
    eff: Efficiency,
    precision: str,
    t: int,
    *,
    decode_batch: int = 0,
    decode_ctx: int = 0,
    prefill_batch: int = 0,
    prefill_len: int = 0,
) -> float:
    """One forward carrying ``decode_batch`` decode tokens (each attending to ``decode_ctx``
    cached tokens) and ``prefill_batch`` prompts of ``prefill_len`` tokens.

    The hot path of routing (tens of thousands of calls per plan): ``_time``,
    ``weights_read_bytes`` and ``kv_bytes`` are written out here with the same operations in
    the same order, so the result is bit-identical to composing them."""
    prefill_tokens = prefill_batch * prefill_len
    tokens = decode_batch + prefill_tokens
    per_param = BYTES_PER_PARAM[precision]
    n_active = model.active_params_b * 1e9
    kvb = model.kv_bytes_per_token * KV_SCALE[precision]
    peak = dev.tflops(precision)
    assert peak is not None
    flops_s = t * peak * 1e12 * eff.mfu
    bytes_s = t * dev.mem_bw_tbs * 1e12 * eff.mbu
    read = min(model.params_b * 1e9 * per_param, n_active * per_param * max(tokens, 1))
    gemm = max(2 * n_active * tokens / flops_s, read / bytes_s)
    attn_flops = (
        4 * model.n_layers * model.hidden_size * decode_ctx * decode_batch
        + 2 * model.n_layers * model.hidden_size * prefill_len**2 * prefill_batch
    )
    attn_bytes = kvb * (decode_batch * decode_ctx + tokens)  # read the cache, write new K/V
    attn = max(attn_flops / flops_s, attn_bytes / bytes_s)
    overhead = eff.t_step_s
    if decode_batch:
        overhead += model.n_layers * eff.t_layer_decode_s
    if prefill_tokens:
        overhead += model.n_layers * eff.t_layer_prefill_s
    return gemm + attn + overhead + comm_s(dev, model, eff, tokens, t)


def prefill_s(
    dev: Device, model: ModelSpec, eff: Efficiency, precision: str, t: int, batch: int, context: int
) -> float:
    """One prefill forward of ``batch`` prompts of ``context`` tokens, seconds."""
    return forward_s(dev, model, eff, precision, t, prefill_batch=batch, prefill_len=context)


def decode_step_s(
    dev: Device, model: ModelSpec, eff: Efficiency, precision: str, t: int, batch: int, context: int
) -> float:
    """One decode step of ``batch`` sequences at ``context`` cached tokens, seconds (= TPOT)."""
    return forward_s(dev, model, eff, precision, t, decode_batch=batch, decode_ctx=context)


def last_within(value: Callable[[int], float], limit: float, cap: int) -> int:
    """The largest b in 1..cap with ``value(b) <= limit`` (0 when none), for a ``value`` that
    never falls as b grows — the same answer as bisecting 1..cap.

    Decode step time is such a function of the batch: each term is non-decreasing in it, and
    IEEE rounding is monotone, so the batches that meet a TPOT are a prefix of 1..cap and any
    exact search finds the same last one. Interpolating between a batch within the limit
    and one past it, then testing the next batch, lands on it in 2–4 steps where the step
    time is piecewise linear in the batch (log2(cap) ≈ 8–10 for bisection); a bisection
    step follows any step that did not halve the bracket."""
    if cap < 1:
        return 0
    v_lo = value(1)
    if not v_lo <= limit:
        return 0
    v_hi = value(cap)
    if v_hi <= limit:
        return cap
    lo, hi = 1, cap  # value(lo) <= limit < value(hi)
    bisect = False
    while hi - lo > 1:
        width = hi - lo
        if bisect or not v_hi > v_lo:
            guess = (lo + hi) // 2
        else:
            guess = min(max(lo + int((limit - v_lo) / (v_hi - v_lo) * width), lo + 1), hi - 1)
        v_guess = value(guess)
        if v_guess <= limit:
            lo, v_lo = guess, v_guess
            if guess + 1 < hi:  # interpolation usually lands on the answer: confirm it
                v_next = value(guess + 1)
                if v_next <= limit:
                    lo, v_lo = guess + 1, v_next
                else:
                    hi, v_hi = guess + 1, v_next
        else:
            hi, v_hi = guess, v_guess
        bisect = hi - lo > width // 2
    return lo
