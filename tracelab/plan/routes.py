"""Candidate routes per class: which device prefills, which decodes, and what each costs.

A route is a (prefill device, decode device) pair. Colocated (same device and replica
shape): decode capacity is divided by the colocation stretch at a representative prefill
chunk, and the stretched TPOT must meet the SLO. Disaggregated: the prompt's KV cache
(context tokens × KV bytes per token) crosses the slower of the two devices' links, and that
time comes out of the TTFT budget the prefill device must meet. Loads are in replica-units
per unit of route fraction: tokens/s of demand ÷ tokens/s one replica serves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tracelab.plan.slo import Slo

# Prefill chunk a chunked-prefill scheduler co-schedules with decode: 512 tokens, vLLM's
# long-standing default max_num_batched_tokens with chunked prefill (docs.vllm.ai, recalled);
# the shared H100 calibration measured a 2.0x decode stretch at this size.
CHUNK_TOKENS = 512
# Disaggregated routes kept per class: the cheapest by linear cost (all colocated routes are
# always kept). Bounds the MILP at classes × (devices + 12) route variables.
MAX_DISAGG_ROUTES = 12
STRETCH_ITERATIONS = 3


class OperatingPointLike(Protocol):
    """What the plan reads from ``tracelab.hardware.perf.OperatingPoint``."""

    batch: int
    tokens_per_s: float
    latency_s: float
    usd_per_hour: float
    usd_per_mtok: float
    reason: str


class PerfModelLike(Protocol):
    """The two methods of ``tracelab.hardware.perf.PerfModel`` the plan uses."""

    def operating_point(
        self,
        device_id: str,
        model_id: str,
        phase: str,
        context: int,
        precision: str = "bf16",
        ttft_s: float | None = None,
        tpot_s: float | None = None,
    ) -> Any: ...

    def colocation_stretch(
        self,
        device_id: str,
        model_id: str,
        decode_batch: int,
        decode_ctx: int,
        chunk_tokens: int,
        precision: str,
    ) -> float: ...


def op_devices(op: Any) -> int:
    """Devices per replica of an operating point (field name tolerant)."""
    for name in ("devices", "devices_per_replica", "unit_devices"):
        value = getattr(op, name, None)
        if value is not None:
            return int(value)
    return 1


@dataclass(frozen=True)
class Route:
    """One way to serve a class; loads are replica-units at route fraction 1."""

    class_id: str
    model_id: str
    prefill_device: str
    decode_device: str
    prefill_pool: tuple[str, str, int]
    decode_pool: tuple[str, str, int]
    prefill_load: float
    decode_load: float
    prefill_tokens_per_s: float  # per replica
    decode_tokens_per_s: float  # per replica, after the colocation stretch
    prefill_usd_per_hour: float  # per replica
    decode_usd_per_hour: float  # per replica
    stretch: float
    transfer_s: float
    kv_bytes: float
    ttft_s: float
    tpot_s: float
    decode_batch: int

    @property
    def colocated(self) -> bool:
        return self.prefill_pool == self.decode_pool

    @property
    def single_type(self) -> bool:
        """Both phases on one device type (colocated or on separate replicas of it)."""
        return self.prefill_device == self.decode_device

    @property
    def linear_usd_per_hour(self) -> float:
        return (
            self.prefill_load * self.prefill_usd_per_hour
            + self.decode_load * self.decode_usd_per_hour
        )


@dataclass(frozen=True)
class ClassSpec:
    """What routing needs to know about one class (rates in tokens/s, sizes in tokens)."""

    class_id: str
    model_id: str
    slo: Slo
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    context_tokens: int
    decode_tokens_per_request: float
    kv_bytes_per_token: float


@dataclass(frozen=True)
class Link:
    device_id: str
    link_gbs: float | None


class _Ops:
    """Memoised operating points (the perf model is pure in its arguments)."""

    def __init__(self, perf: PerfModelLike, precision: str) -> None:
        self.perf = perf
        self.precision = precision
        self._cache: dict[tuple[Any, ...], Any] = {}

    def get(self, device: str, model: str, phase: str, context: int,
            ttft: float | None = None, tpot: float | None = None) -> Any:
        key = (device, model, phase, context, ttft, tpot)
        if key not in self._cache:
            self._cache[key] = self.perf.operating_point(
                device, model, phase, context, precision=self.precision, ttft_s=ttft, tpot_s=tpot
            )
        return self._cache[key]

    def stretch(self, device: str, model: str, batch: int, context: int) -> float:
        key = ("stretch", device, model, batch, context)
        if key not in self._cache:
            chunk = min(CHUNK_TOKENS, max(context, 1))
            self._cache[key] = float(
                self.perf.colocation_stretch(device, model, batch, context, chunk, self.precision)
            )
        return float(self._cache[key])


def _transfer_s(spec: ClassSpec, a: Link, b: Link) -> float | None:
    links = [x.link_gbs for x in (a, b) if x.link_gbs is not None and x.link_gbs > 0]
    if len(links) < 2:
        return None
    return spec.context_tokens * spec.kv_bytes_per_token / (min(links) * 1e9)


def _colocated_decode(ops: _Ops, spec: ClassSpec, device: str) -> tuple[Any, float] | None:
    """Decode operating point and stretch on a device that also prefills, or None."""
    tpot = spec.slo.tpot_budget_s()
    target = tpot
    for _ in range(STRETCH_ITERATIONS):
        op = ops.get(device, spec.model_id, "decode", spec.context_tokens, tpot=target)
        if op is None:
            return None
        stretch = max(ops.stretch(device, spec.model_id, int(op.batch), spec.context_tokens), 1.0)
        if tpot is None or op.latency_s * stretch <= tpot * (1 + 1e-9):
            return op, stretch
        target = tpot / stretch
    return None


def _meets_deadline(spec: ClassSpec, ttft: float, tpot: float) -> bool:
    deadline = spec.slo.deadline_s
    return deadline <= 0 or ttft + spec.decode_tokens_per_request * tpot <= deadline


def compute_routes(
    perf: PerfModelLike, specs: Sequence[ClassSpec], links: Iterable[Link], precision: str = "bf16"
) -> dict[str, list[Route]]:
    """Every SLO-feasible route per class (empty list = no device can serve the class)."""
    ops = _Ops(perf, precision)
    devices = list(links)
    out: dict[str, list[Route]] = {}
    for spec in specs:
        budget = spec.slo.ttft_budget_s(spec.context_tokens)
        tpot = spec.slo.tpot_budget_s()
        coloc: list[Route] = []
        disagg: list[Route] = []
        for p in devices:
            for d in devices:
                route = _route(ops, spec, p, d, budget, tpot)
                if route is not None:
                    (coloc if p.device_id == d.device_id else disagg).append(route)
        disagg.sort(key=lambda r: (r.linear_usd_per_hour, r.prefill_device, r.decode_device))
        out[spec.class_id] = coloc + disagg[:MAX_DISAGG_ROUTES]
    return out


def _route(ops: _Ops, spec: ClassSpec, p: Link, d: Link,
           budget: float | None, tpot: float | None) -> Route | None:
    m, ctx = spec.model_id, spec.context_tokens
    same_type = p.device_id == d.device_id
    transfer = 0.0
    if same_type:
        pre = ops.get(p.device_id, m, "prefill", ctx, ttft=budget)
        dec_s = _colocated_decode(ops, spec, d.device_id) if pre is not None else None
        if pre is None or dec_s is None:
            return None
        dec, stretch = dec_s
        if op_devices(pre) != op_devices(dec):
            # Different replica shapes cannot share replicas: serve the phases on separate
            # replicas of this device type, moving the KV between them like any split.
            moved = _transfer_s(spec, p, d)
            if moved is None or (budget is not None and float(pre.latency_s) + moved > budget):
                return None
            dec = ops.get(d.device_id, m, "decode", ctx, tpot=tpot)
            stretch, transfer = 1.0, moved
            if dec is None:
                return None
    else:
        moved = _transfer_s(spec, p, d)
        if moved is None or (budget is not None and moved >= budget):
            return None
        transfer = moved
        pre = ops.get(p.device_id, m, "prefill", ctx,
                      ttft=None if budget is None else budget - transfer)
        dec = ops.get(d.device_id, m, "decode", ctx, tpot=tpot)
        stretch = 1.0
        if pre is None or dec is None:
            return None
    ttft = float(pre.latency_s) + transfer
    tpot_eff = float(dec.latency_s) * stretch
    if pre.tokens_per_s <= 0 or dec.tokens_per_s <= 0 or not _meets_deadline(spec, ttft, tpot_eff):
        return None
    q = float(dec.tokens_per_s) / stretch
    return Route(
        class_id=spec.class_id,
        model_id=m,
        prefill_device=p.device_id,
        decode_device=d.device_id,
        prefill_pool=(p.device_id, m, op_devices(pre)),
        decode_pool=(d.device_id, m, op_devices(dec)),
        prefill_load=spec.prefill_tokens_per_s / float(pre.tokens_per_s),
        decode_load=spec.decode_tokens_per_s / q,
        prefill_tokens_per_s=float(pre.tokens_per_s),
        decode_tokens_per_s=q,
        prefill_usd_per_hour=float(pre.usd_per_hour),
        decode_usd_per_hour=float(dec.usd_per_hour),
        stretch=stretch,
        transfer_s=transfer,
        kv_bytes=ctx * spec.kv_bytes_per_token,
        ttft_s=ttft,
        tpot_s=tpot_eff,
        decode_batch=int(dec.batch),
    )
