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
        devices: int | None = None,
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


# A pool of identical replicas: (device, model, devices per replica, role). The role keeps
# replicas that colocate both phases apart from prefill-only and decode-only replicas, so a
# split route cannot share one replica between its phases and dodge the colocation stretch.
Pool = tuple[str, str, int, str]


@dataclass(frozen=True)
class Route:
    """One way to serve a class; loads are replica-units at route fraction 1."""

    class_id: str
    model_id: str
    prefill_device: str
    decode_device: str
    prefill_pool: Pool
    decode_pool: Pool
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
        """Both phases on the same replicas (no KV moves between them)."""
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
            ttft: float | None = None, tpot: float | None = None,
            devices: int | None = None) -> Any:
        key = (device, model, phase, context, ttft, tpot, devices)
        if key not in self._cache:
            extra = {} if devices is None else {"devices": devices}
            self._cache[key] = self.perf.operating_point(
                device, model, phase, context, precision=self.precision, ttft_s=ttft,
                tpot_s=tpot, **extra,
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


def _colocated_decode(ops: _Ops, spec: ClassSpec, device: str,
                      devices: int | None = None) -> tuple[Any, float] | None:
    """Decode operating point and stretch on a device that also prefills, or None."""
    tpot = spec.slo.tpot_budget_s()
    target = tpot
    for _ in range(STRETCH_ITERATIONS):
        op = ops.get(device, spec.model_id, "decode", spec.context_tokens, tpot=target,
                     devices=devices)
        if op is None:
            return None
        stretch = max(ops.stretch(device, spec.model_id, int(op.batch), spec.context_tokens), 1.0)
        if tpot is None or op.latency_s * stretch <= tpot * (1 + 1e-9):
            return op, stretch
        target = tpot / stretch
    return None


def _shared_replica(ops: _Ops, spec: ClassSpec, device: str, devices: int,
                    budget: float | None) -> tuple[Any, Any, float] | None:
    """Both phases on replicas of one size (the larger of the two phases' own choices), so
    they can be colocated as a real deployment would; None when that size misses an SLO."""
    pre = ops.get(device, spec.model_id, "prefill", spec.context_tokens, ttft=budget,
                  devices=devices)
    dec_s = _colocated_decode(ops, spec, device, devices) if pre is not None else None
    if pre is None or dec_s is None:
        return None
    return pre, dec_s[0], dec_s[1]


def _meets_deadline(spec: ClassSpec, ttft: float, tpot: float) -> bool:
    deadline = spec.slo.deadline_s
    return deadline <= 0 or ttft + spec.decode_tokens_per_request * tpot <= deadline


def compute_routes(
    perf: PerfModelLike, specs: Sequence[ClassSpec], links: Iterable[Link], precision: str = "bf16"
) -> dict[str, list[Route]]:
    """Every SLO-feasible route per class (empty list = no device can serve the class).

    Per class: the colocated and same-type routes of every device, then the
    MAX_DISAGG_ROUTES cheapest disaggregated pairs by linear cost (ties by device ids). A
    pair's cost is computed from its two operating points before any ``Route`` is built, so
    only the kept ones are (a catalog of 21 devices has 420 pairs per class)."""
    ops = _Ops(perf, precision)
    devices = list(links)
    out: dict[str, list[Route]] = {}
    for spec in specs:
        budget = spec.slo.ttft_budget_s(spec.context_tokens)
        tpot = spec.slo.tpot_budget_s()
        coloc = [r for p in devices for r in _same_type_routes(ops, spec, p, budget, tpot)]
        out[spec.class_id] = coloc + _cheapest_disaggregated(ops, spec, devices, budget, tpot)
    return out


def _cheapest_disaggregated(ops: _Ops, spec: ClassSpec, devices: Sequence[Link],
                            budget: float | None, tpot: float | None) -> list[Route]:
    """The MAX_DISAGG_ROUTES cheapest feasible (prefill device ≠ decode device) routes."""
    m, ctx = spec.model_id, spec.context_tokens
    decoders = [(d, dec) for d in devices
                if (dec := ops.get(d.device_id, m, "decode", ctx, tpot=tpot)) is not None
                and not dec.tokens_per_s <= 0]
    found: list[tuple[float, str, str, Link, Link, Any, Any, float]] = []
    for p in devices:
        for d, dec in decoders:
            if p.device_id == d.device_id:
                continue
            moved = _transfer_s(spec, p, d)
            if moved is None or (budget is not None and moved >= budget):
                continue
            pre = ops.get(p.device_id, m, "prefill", ctx,
                          ttft=None if budget is None else budget - moved)
            if pre is None or pre.tokens_per_s <= 0 or not _meets_deadline(
                spec, float(pre.latency_s) + moved, float(dec.latency_s) * 1.0
            ):
                continue
            # The same arithmetic as ``_route`` and ``Route.linear_usd_per_hour`` (stretch 1).
            linear = (
                spec.prefill_tokens_per_s / float(pre.tokens_per_s) * float(pre.usd_per_hour)
                + spec.decode_tokens_per_s / (float(dec.tokens_per_s) / 1.0)
                * float(dec.usd_per_hour)
            )
            found.append((linear, p.device_id, d.device_id, p, d, pre, dec, moved))
    found.sort(key=lambda f: f[:3])
    routes = [_route(spec, p, d, pre, dec, 1.0, moved)
              for _, _, _, p, d, pre, dec, moved in found[:MAX_DISAGG_ROUTES]]
    return [r for r in routes if r is not None]


def _same_type_options(ops: _Ops, spec: ClassSpec, p: Link,
                       budget: float | None, tpot: float | None) -> list[tuple[Any, Any, float, float]]:
    """(prefill op, decode op, stretch, transfer_s) ways to serve a class on one device type.

    Colocated: both phases share replicas of one size (each phase's own choice, else the
    larger of the two), decode stretched by the co-scheduled prefill chunk. Separate
    replicas of the same type: no stretch, but the KV crosses the device's link.
    """
    m, ctx = spec.model_id, spec.context_tokens
    pre = ops.get(p.device_id, m, "prefill", ctx, ttft=budget)
    if pre is None:
        return []
    options: list[tuple[Any, Any, float, float]] = []
    dec = ops.get(p.device_id, m, "decode", ctx, tpot=tpot)  # unstretched, own replica size
    dec_s = _colocated_decode(ops, spec, p.device_id)
    if dec_s is not None and op_devices(pre) == op_devices(dec_s[0]):
        options.append((pre, dec_s[0], dec_s[1], 0.0))
    else:
        sizes = sorted({op_devices(pre)} | ({op_devices(dec)} if dec is not None else set()))
        for size in sizes[::-1]:
            shared = _shared_replica(ops, spec, p.device_id, size, budget)
            if shared is not None:
                options.append((*shared, 0.0))
                break
    moved = _transfer_s(spec, p, p)
    if moved is not None and dec is not None and (
        budget is None or float(pre.latency_s) + moved <= budget
    ):
        options.append((pre, dec, 1.0, moved))
    return options


def _same_type_routes(ops: _Ops, spec: ClassSpec, p: Link, budget: float | None,
                      tpot: float | None) -> list[Route]:
    """Every feasible way to serve the class on device type ``p`` alone."""
    routes = []
    for pre, dec, stretch, transfer in _same_type_options(ops, spec, p, budget, tpot):
        route = _route(spec, p, p, pre, dec, stretch, transfer)
        if route is not None:
            routes.append(route)
    return routes


def _route(spec: ClassSpec, p: Link, d: Link, pre: Any, dec: Any,
           stretch: float, transfer: float) -> Route | None:
    m, ctx = spec.model_id, spec.context_tokens
    ttft = float(pre.latency_s) + transfer
    tpot_eff = float(dec.latency_s) * stretch
    if pre.tokens_per_s <= 0 or dec.tokens_per_s <= 0 or not _meets_deadline(spec, ttft, tpot_eff):
        return None
    q = float(dec.tokens_per_s) / stretch
    shared = p.device_id == d.device_id and transfer == 0.0
    return Route(
        class_id=spec.class_id,
        model_id=m,
        prefill_device=p.device_id,
        decode_device=d.device_id,
        prefill_pool=(p.device_id, m, op_devices(pre), "colocated" if shared else "prefill"),
        decode_pool=(d.device_id, m, op_devices(dec), "colocated" if shared else "decode"),
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
