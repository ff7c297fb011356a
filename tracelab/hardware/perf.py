"""The performance and cost model: per device × model × precision, calibrated roofline.

``PerfModel`` answers: how many devices one replica needs (tensor parallelism for HBM
parts, aggregate SRAM for LPU/wafer parts), prefill and decode-step time, the largest
batch that fits memory and a TPOT target, the stretch a co-scheduled prefill chunk puts on
decoders, and the best SLO-feasible operating point with its $ per 1M tokens. Physics in
``roofline.py``; efficiencies from the profile. Seconds, tokens, bytes, USD.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tracelab.errors import ConfigError
from tracelab.hardware import points
from tracelab.hardware import roofline as rf
from tracelab.hardware.catalog import Catalog, Device
from tracelab.hardware.points import OperatingPoint
from tracelab.hardware.profile import Efficiency, PerfProfile, load_profile
from tracelab.hardware.registry import ModelSpec, load_models

REFERENCE_DEVICE = "h100-sxm"
_MAX_SRAM_CHIPS = 100_000


@dataclass(frozen=True)
class WorkCoefficients:
    """Device-seconds per request: prefill ≈ a·L + b·L² (+ a fixed per-request term),
    decode ≈ out·(c + d·ctx_mean) amortised over a batch of ``decode_batch``."""

    device_id: str
    model_id: str
    precision: str
    decode_batch: int
    prefill_s_per_token: float
    prefill_s_per_token_sq: float
    decode_s_per_token: float
    decode_s_per_token_ctx: float
    prefill_s_per_request: float = 0.0


class PerfModel:
    """Calibrated roofline over a catalog and a model registry."""

    def __init__(
        self,
        catalog: Catalog,
        models: dict[str, ModelSpec] | None = None,
        profile: PerfProfile | None = None,
    ) -> None:
        self.catalog = catalog
        self.models = load_models() if models is None else models
        self.profile = load_profile() if profile is None else profile
        self._eff = lru_cache(maxsize=None)(self._efficiency)
        # Memo of the pure lookups and step times, keyed by their arguments: a plan asks for
        # thousands of operating points that share device, model, replica size and context.
        # The catalog, registry and profile are read-only once the model is built.
        self._memo: dict[tuple[Any, ...], Any] = {}

    # ----------------------------------------------------------------- lookups
    def model(self, model_id: str) -> ModelSpec:
        try:
            return self.models[model_id]
        except KeyError:
            msg = f"unknown model id '{model_id}'; run `tracelab models` for the ids"
            raise ConfigError(msg) from None

    def efficiency(self, device_id: str) -> Efficiency:
        """The profile's efficiencies and overheads for ``device_id`` (memoised)."""
        eff: Efficiency = self._eff(device_id)
        return eff

    def _efficiency(self, device_id: str) -> Efficiency:
        dev = self.catalog.get(device_id)
        return self.profile.for_device(device_id, dev.tier)

    def _parts(
        self, device_id: str, model_id: str, precision: str
    ) -> tuple[Device, ModelSpec, Efficiency]:
        key = ("parts", device_id, model_id, precision)
        parts: tuple[Device, ModelSpec, Efficiency] | None = self._memo.get(key)
        if parts is None:
            dev = self.catalog.get(device_id)
            if dev.tflops(precision) is None:
                have = [p for p in ("bf16", "fp8", "fp4") if dev.tflops(p) is not None]
                msg = (f"device '{device_id}' has no {precision} rate in the catalog; it has "
                       f"{', '.join(have) or 'none'}")
                raise ConfigError(msg, param="precision")
            parts = self._memo[key] = (dev, self.model(model_id), self._eff(device_id))
        return parts

    # ----------------------------------------------------------------- capacity
    def replica_devices(
        self, device_id: str, model_id: str, precision: str = "bf16", kv_tokens: int = 0
    ) -> int | None:
        """Devices per replica to hold the weights (and ``kv_tokens`` of KV); None: cannot.

        HBM/GDDR parts: the smallest power-of-two TP group whose weights fit in
        ``weights_max_frac`` of each device (and weights + KV in ``mem_usable_frac``).
        SRAM parts: ceil((weights + KV) / SRAM per chip); the KV must live on-chip too.
        """
        key = ("replica", device_id, model_id, precision, kv_tokens)
        if key not in self._memo:
            self._memo[key] = self._replica_devices(device_id, model_id, precision, kv_tokens)
        found: int | None = self._memo[key]
        return found

    def _replica_devices(
        self, device_id: str, model_id: str, precision: str, kv_tokens: int
    ) -> int | None:
        dev, model, eff = self._parts(device_id, model_id, precision)
        w = rf.weight_bytes(model, precision)
        kv = kv_tokens * rf.kv_bytes(model, precision)
        cap = dev.mem_gb * 1e9
        if dev.tier == "sram":
            n = math.ceil((w + kv) / (cap * eff.weights_max_frac))
            return n if n <= min(dev.max_group, _MAX_SRAM_CHIPS) else None
        t = 1
        while t <= dev.max_group:
            if w / t <= eff.weights_max_frac * cap and w + kv <= t * eff.mem_usable_frac * cap:
                return t
            t *= 2
        return None

    def _devices(self, device_id: str, model_id: str, precision: str) -> int:
        t = self.replica_devices(device_id, model_id, precision)
        if t is None:
            dev = self.catalog.get(device_id)
            msg = (
                f"model '{model_id}' does not fit on '{device_id}' at {precision} even with "
                f"{dev.max_group} devices"
            )
            raise ConfigError(msg, param="precision")
        return t

    def kv_capacity_tokens(
        self, device_id: str, model_id: str, precision: str = "bf16", devices: int | None = None
    ) -> float:
        """KV tokens that fit beside the weights in a replica of ``devices`` devices."""
        key = ("kv", device_id, model_id, precision, devices)
        tokens: float | None = self._memo.get(key)
        if tokens is None:
            dev, model, eff = self._parts(device_id, model_id, precision)
            t = devices or self._devices(device_id, model_id, precision)
            frac = eff.weights_max_frac if dev.tier == "sram" else eff.mem_usable_frac
            free = t * dev.mem_gb * 1e9 * frac - rf.weight_bytes(model, precision)
            tokens = self._memo[key] = max(free, 0.0) / rf.kv_bytes(model, precision)
        return tokens

    # ----------------------------------------------------------------- times
    def prefill_s(
        self,
        device_id: str,
        model_id: str,
        batch: int,
        context: int,
        precision: str = "bf16",
        devices: int | None = None,
    ) -> float:
        """One prefill forward of ``batch`` prompts of ``context`` tokens (= TTFT), seconds."""
        return self._timed(rf.prefill_s, device_id, model_id, batch, context, precision, devices)

    def decode_step_s(
        self,
        device_id: str,
        model_id: str,
        batch: int,
        context: int,
        precision: str = "bf16",
        devices: int | None = None,
    ) -> float:
        """One decode step of ``batch`` sequences at ``context`` cached tokens (= TPOT), s."""
        return self._timed(rf.decode_step_s, device_id, model_id, batch, context, precision,
                           devices)

    def _timed(self, phase: Callable[..., float], device_id: str, model_id: str, batch: int,
               context: int, precision: str, devices: int | None) -> float:
        """``phase`` (a roofline time: ``rf.prefill_s`` or ``rf.decode_step_s``) on the
        replica size given or needed, remembered per arguments."""
        t = devices or self._devices(device_id, model_id, precision)
        key = (phase, device_id, model_id, batch, context, precision, t)
        seconds: float | None = self._memo.get(key)
        if seconds is None:
            dev, model, eff = self._parts(device_id, model_id, precision)
            seconds = self._memo[key] = phase(dev, model, eff, precision, t, batch, context)
        return seconds

    def colocation_stretch(
        self,
        device_id: str,
        model_id: str,
        decode_batch: int,
        decode_ctx: int,
        chunk_tokens: int,
        precision: str = "bf16",
    ) -> float:
        """TPOT with a ``chunk_tokens`` prefill chunk in the step / TPOT without it (≥ 1)."""
        dev, model, eff = self._parts(device_id, model_id, precision)
        t = self._devices(device_id, model_id, precision)
        alone = rf.decode_step_s(dev, model, eff, precision, t, decode_batch, decode_ctx)
        mixed = rf.forward_s(
            dev,
            model,
            eff,
            precision,
            t,
            decode_batch=decode_batch,
            decode_ctx=decode_ctx,
            prefill_batch=1 if chunk_tokens else 0,
            prefill_len=chunk_tokens,
        )
        return mixed / alone

    def max_batch(
        self,
        device_id: str,
        model_id: str,
        context: int,
        precision: str = "bf16",
        tpot_s: float | None = None,
        devices: int | None = None,
    ) -> int:
        """Largest decode batch whose KV fits memory and whose step meets ``tpot_s`` (0: none)."""
        _, _, eff = self._parts(device_id, model_id, precision)
        t = devices or self._devices(device_id, model_id, precision)
        cap = min(
            eff.max_batch,
            int(self.kv_capacity_tokens(device_id, model_id, precision, t) // max(context, 1)),
        )
        if tpot_s is None or cap < 1:
            return max(cap, 0)
        return rf.last_within(
            lambda b: self.decode_step_s(device_id, model_id, b, context, precision, t), tpot_s, cap
        )

    # ----------------------------------------------------------------- operating points
    def operating_point(
        self,
        device_id: str,
        model_id: str,
        phase: str,
        context: int,
        precision: str = "bf16",
        ttft_s: float | None = None,
        tpot_s: float | None = None,
        devices: int | None = None,
    ) -> OperatingPoint | None:
        """Cheapest (highest tokens/s per device when unpriced) SLO-feasible point, or None
        (``tracelab.hardware.points.operating_point``)."""
        return points.operating_point(self, device_id, model_id, phase, context, precision,
                                      ttft_s, tpot_s, devices)

    def usd_per_mtok(
        self,
        device_id: str,
        model_id: str,
        prompt_tokens: int,
        context: int,
        precision: str = "bf16",
        ttft_s: float | None = None,
        tpot_s: float | None = None,
    ) -> tuple[float, float]:
        """$ per 1M input (prefill) and per 1M output (decode) tokens at the best points."""
        pre = self.operating_point(
            device_id, model_id, "prefill", prompt_tokens, precision, ttft_s, tpot_s
        )
        dec = self.operating_point(
            device_id, model_id, "decode", context, precision, ttft_s, tpot_s
        )
        return (pre.usd_per_mtok if pre else math.nan, dec.usd_per_mtok if dec else math.nan)

    def work_coefficients(
        self, device_id: str, model_id: str, precision: str = "bf16", decode_batch: int = 32
    ) -> WorkCoefficients:
        """Linear/quadratic device-second coefficients (see WorkCoefficients)."""
        dev, model, eff = self._parts(device_id, model_id, precision)
        t = self._devices(device_id, model_id, precision)
        peak = (dev.tflops(precision) or 0.0) * 1e12 * eff.mfu
        a = 2 * model.active_params_b * 1e9 / peak
        b2 = 2 * model.n_layers * model.hidden_size / peak
        fixed = t * (eff.t_step_s + model.n_layers * eff.t_layer_prefill_s)
        ref_ctx = 4096
        s0 = self.decode_step_s(device_id, model_id, decode_batch, 0, precision, t)
        s1 = self.decode_step_s(device_id, model_id, decode_batch, ref_ctx, precision, t)
        return WorkCoefficients(
            device_id,
            model_id,
            precision,
            decode_batch,
            a,
            b2,
            t * s0 / decode_batch,
            t * (s1 - s0) / (decode_batch * ref_ctx),
            fixed,
        )
