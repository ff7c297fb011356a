"""Step times of one replica, from the roofline the performance model uses.

A step carries ``n`` decode tokens (sequences at total cached context ``T``, summed over
the batch) and ``p`` prefill tokens. ``tracelab.hardware.roofline.forward_s`` gives its time
as ``const(n, p) + max(fa(p) + fs·T, ba(n, p) + bs·T)``: the GEMMs, fixed overheads and
all-reduces do not depend on the context; attention is the larger of its FLOP time and its
KV-read time, both linear in ``T``. A prefill chunk of ``c`` tokens after ``q`` tokens of its
prompt (computed chunks, or cached prefix) also attends to those: ``4·n_layers·hidden·c·q``
more FLOPs and ``q`` more KV tokens read, so the chunks of a prompt add up to the causal
``2·n_layers·hidden·L²`` of one whole-prompt forward. ``StepModel`` keeps that split
(memoised per ``(n, p)``); a run of ``k`` steps whose decode context grows by ``n`` and whose
one prefill's prefix grows by ``p`` per step stays linear in the step number, so it is summed
in closed form, exactly, also across the kink where attention turns from bandwidth- to
compute-bound. ``tests/test_simulate_steps.py`` checks it against ``forward_s`` itself.

The approximation: the prefill pieces of one step are charged as one chunk of their total
``p`` (their own causal term ``p²``, not the sum of their squares).
"""

from __future__ import annotations

import math

import numpy as np

from tracelab.errors import ConfigError
from tracelab.hardware import roofline as rf
from tracelab.hardware.perf import PerfModel


class StepModel:
    """Seconds per step of one replica of ``devices`` devices (see the module docstring)."""

    def __init__(self, perf: PerfModel, device_id: str, model_id: str, precision: str,
                 devices: int) -> None:
        dev = perf.catalog.get(device_id)
        if dev.tflops(precision) is None:
            msg = f"device '{device_id}' has no {precision} rate in the catalog"
            raise ConfigError(msg)
        self.dev, self.model = dev, perf.model(model_id)
        self.eff = perf.profile.for_device(device_id, dev.tier)
        self.precision, self.devices = precision, devices
        peak = dev.tflops(precision) or 0.0
        self.flops_s = devices * peak * 1e12 * self.eff.mfu
        self.bytes_s = devices * dev.mem_bw_tbs * 1e12 * self.eff.mbu
        self.kvb = self.model.kv_bytes_per_token * rf.KV_SCALE[precision]
        nl_h = self.model.n_layers * self.model.hidden_size
        self.fs = 4 * nl_h / self.flops_s  # attention FLOP time per (query, cached) token pair
        self.bs = self.kvb / self.bytes_s  # attention byte time per cached token read
        self._nl_h = nl_h
        self._memo: dict[tuple[int, int], tuple[float, float, float]] = {}
        # ``parts`` keyed by ``n << 24 | p`` for the replay loop, which reads it inline.
        self.packed: dict[int, tuple[float, float, float]] = {}
        if not math.isfinite(self.parts(1, 1)[0]):
            msg = f"{devices} x {device_id} cannot run {model_id}: no link for tensor parallelism"
            raise ConfigError(msg)

    def parts(self, n: int, p: int) -> tuple[float, float, float]:
        """``(const, fa, ba)`` of a step with ``n`` decode and ``p`` prefill tokens."""
        key = (n, p)
        found = self._memo.get(key)
        if found is None:
            model, eff = self.model, self.eff
            tokens = n + p
            per_param = rf.BYTES_PER_PARAM[self.precision]
            n_active = model.active_params_b * 1e9
            read = min(model.params_b * 1e9 * per_param, n_active * per_param * max(tokens, 1))
            gemm = max(2 * n_active * tokens / self.flops_s, read / self.bytes_s)
            overhead = eff.t_step_s
            if n:
                overhead += model.n_layers * eff.t_layer_decode_s
            if p:
                overhead += model.n_layers * eff.t_layer_prefill_s
            const = gemm + overhead + rf.comm_s(self.dev, model, eff, tokens, self.devices)
            fa = 2 * self._nl_h * p**2 / self.flops_s
            ba = self.kvb * tokens / self.bytes_s
            found = self._memo[key] = (const, fa, ba)
        return found

    def prefill_parts(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``parts(0, p)`` of each of ``p`` (positive ints), the same operations in the same
        order (so equal, element by element), as arrays."""
        model, eff = self.model, self.eff
        per_param = rf.BYTES_PER_PARAM[self.precision]
        n_active = model.active_params_b * 1e9
        read = np.minimum(model.params_b * 1e9 * per_param,
                          n_active * per_param * np.maximum(p, 1))
        gemm = np.maximum(2 * n_active * p / self.flops_s, read / self.bytes_s)
        overhead = eff.t_step_s + model.n_layers * eff.t_layer_prefill_s
        const = gemm + overhead + rf.comm_s(self.dev, model, eff, p, self.devices)
        return const, 2 * self._nl_h * p**2 / self.flops_s, self.kvb * p / self.bytes_s

    def step_s(self, n: int, total_ctx: float, p: int, cross: float = 0.0,
               prefix: float = 0.0) -> float:
        """One step: ``n`` decode tokens at ``total_ctx`` cached tokens in all, ``p`` prefill
        tokens whose pieces (``c_i`` tokens after ``q_i`` of their prompt) have
        ``cross = Σ c_i·q_i`` and ``prefix = Σ q_i``."""
        const, fa, ba = self.parts(n, p)
        return const + max(fa + self.fs * (total_ctx + cross),
                           ba + self.bs * (total_ctx + prefix))

    def span_s(self, n: int, total_ctx: float, p: int, k: int, prefix: float = 0.0) -> float:
        """``k`` steps from ``total_ctx``, the decode context growing by ``n`` each step and
        the one prefill piece (of ``p`` tokens, after ``prefix`` of its prompt) by ``p``: the
        exact sum of ``step_s`` over them (max of two lines summed on each side of their
        crossing)."""
        const, fa, ba = self.parts(n, p)
        fs, bs = self.fs, self.bs
        # step j: u_j = fa + fs·(T + n·j + p·(q + p·j)), v_j = ba + bs·(T + n·j + q + p·j)
        u0 = fa + fs * (total_ctx + p * prefix)
        v0 = ba + bs * (total_ctx + (prefix if p else 0.0))
        du, dv = fs * (n + p * p), bs * (n + p)
        if k == 1:
            return const + max(u0, v0)
        tri = k * (k - 1) / 2.0
        su, sv = k * u0 + du * tri, k * v0 + dv * tri
        if du == dv or (u0 >= v0) == (u0 + du * (k - 1) >= v0 + dv * (k - 1)):
            return k * const + max(su, sv)
        # The lines cross inside the span: j* = first step on the other side.
        j = min(max(math.ceil((v0 - u0) / (du - dv)), 0), k)
        tj = j * (j - 1) / 2.0
        first_u, first_v = j * u0 + du * tj, j * v0 + dv * tj
        head = first_u if u0 >= v0 else first_v
        tail = (sv - first_v) if u0 >= v0 else (su - first_u)
        return k * const + head + tail
