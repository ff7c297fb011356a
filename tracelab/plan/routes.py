"""Candidate routes per class: which pools prefill, which decode, and what each costs.

A pool is ``(device, model, devices per replica, role)``; the classes of one model share it.
A route is a (prefill pool, decode pool) pair, at every replica size (tensor-parallel group)
that holds the model:

- **colocated** (one pool, role ``colocated``): the replicas time-share both phases. Per
  replica-second, prefill takes ``P ÷ prefill tok/s`` and decode ``D ÷ decode tok/s``; the
  decode step is stretched by the prefill chunk the pool's mix offers per step (its decode
  batch × prefill tokens per decode token of the model's traffic, at most CHUNK_TOKENS), and
  the stretched TPOT must meet the SLO;
- **separate replicas of one type** (roles ``prefill`` and ``decode``) and **disaggregated**
  pairs of two types: no stretch, but the prompt's KV (context × KV bytes per token) crosses
  the slower link, and that time comes out of the TTFT budget.

Loads are replica-units per unit of route fraction at a target utilisation (``headroom``):
tokens/s of demand ÷ (tokens/s one replica serves × utilisation), so the queue in front of a
replica stays within the TTFT budget (M/D/1, see ``prefill_utilisation``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from tracelab.plan.slo import Slo

# Prefill chunk a chunked-prefill scheduler co-schedules with decode at most: 512 tokens,
# vLLM's long-standing default max_num_batched_tokens with chunked prefill (docs.vllm.ai,
# recalled); the shared H100 calibration measured a 2.0x decode stretch at this size.
CHUNK_TOKENS = 512
# Disaggregated routes kept per class: the cheapest by linear cost (all single-type routes
# are always kept).
MAX_DISAGG_ROUTES = 12
STRETCH_ITERATIONS = 10
# Replica sizes tried on every device (tensor-parallel groups; the perf model answers None
# for those that do not hold the model or exceed the device's group).
REPLICA_SIZES = (1, 2, 4, 8, 16, 32, 64)
# Highest utilisation a pool is planned at (decode slots, and prefill when its M/D/1 bound
# is looser): 0.9 leaves a continuous-batching replica of ≥ 16 slots almost no wait
# (Erlang C), and the replay then checks it.
MAX_UTILISATION = 0.9


class OperatingPointLike(Protocol):
    """What the plan reads from ``tracelab.hardware.perf.OperatingPoint``."""

    @property
    def devices(self) -> int: ...
    @property
    def batch(self) -> int: ...
    @property
    def tokens_per_s(self) -> float: ...
    @property
    def latency_s(self) -> float: ...
    @property
    def usd_per_hour(self) -> float: ...


class PerfModelLike(Protocol):
    """The two methods of ``tracelab.hardware.perf.PerfModel`` the plan uses."""

    def operating_point(
        self, device_id: str, model_id: str, phase: str, context: int, precision: str = "bf16",
        ttft_s: float | None = None, tpot_s: float | None = None, devices: int | None = None,
    ) -> OperatingPointLike | None: ...

    def colocation_stretch(
        self, device_id: str, model_id: str, decode_batch: int, decode_ctx: int,
        chunk_tokens: int, precision: str,
    ) -> float: ...


# A pool of identical replicas: (device, model, devices per replica, role). The role keeps
# replicas that colocate both phases apart from prefill-only and decode-only replicas, so a
# split route cannot share one replica between its phases and dodge the colocation stretch.
Pool = tuple[str, str, int, str]


def pool_id(pool: Pool) -> str:
    """The pool's stable text id, e.g. ``h100-sxm/llama-3.1-8b/x1/colocated``."""
    device, model, size, role = pool
    return f"{device}/{model}/x{size}/{role}"


@dataclass(frozen=True)
class Route:
    """One way to serve a class; loads are replica-units at route fraction 1."""

    class_id: str
    model_id: str
    prefill_pool: Pool
    decode_pool: Pool
    prefill_load: float
    decode_load: float
    prefill_tokens_per_s: float  # per replica, at full utilisation
    decode_tokens_per_s: float  # per replica, at full utilisation (time-shared if colocated)
    prefill_usd_per_hour: float  # per replica
    decode_usd_per_hour: float  # per replica
    stretch: float
    chunk_tokens: int
    transfer_s: float
    kv_bytes: float
    ttft_s: float
    tpot_s: float
    decode_batch: int

    @property
    def prefill_device(self) -> str:
        return self.prefill_pool[0]

    @property
    def decode_device(self) -> str:
        return self.decode_pool[0]

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

    @property
    def key(self) -> tuple[str, str, str]:
        """Canonical order of a class's routes (the solver sees them in this order)."""
        return self.class_id, pool_id(self.prefill_pool), pool_id(self.decode_pool)


@dataclass(frozen=True)
class ClassSpec:
    """What routing needs to know about one class (rates in tokens/s, sizes in tokens).

    ``prefill_per_decode``: prefill tokens per decode token of the traffic the class's pools
    carry (its model's), which sets the chunk a colocated decode step carries."""

    class_id: str
    model_id: str
    slo: Slo
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    context_tokens: int
    decode_tokens_per_request: float
    kv_bytes_per_token: float
    prefill_per_decode: float = math.inf


@dataclass(frozen=True)
class Link:
    device_id: str
    link_gbs: float | None


def prefill_utilisation(service_s: float, budget_s: float | None,
                        cap: float = MAX_UTILISATION) -> float:
    """Utilisation at which an M/D/1 queue's mean wait plus the service fits the budget.

    Pollaczek–Khinchine: wait = ρ·S / (2·(1 − ρ)); wait + S ≤ B gives
    ρ ≤ 2·(B − S) / (2·B − S); at most ``cap`` (0 when S alone misses B)."""
    if budget_s is None:
        return cap
    if service_s >= budget_s:
        return 0.0
    return min(cap, 2 * (budget_s - service_s) / (2 * budget_s - service_s))


class _Ops:
    """Memoised operating points (the perf model is pure in its arguments)."""

    def __init__(self, perf: PerfModelLike, precision: str, headroom: bool = True) -> None:
        self.perf = perf
        self.precision = precision
        self.headroom = headroom
        self._ops: dict[tuple[object, ...], OperatingPointLike | None] = {}
        self._stretch: dict[tuple[object, ...], float] = {}

    def get(self, device: str, model: str, phase: str, context: int,
            ttft: float | None = None, tpot: float | None = None,
            devices: int | None = None) -> OperatingPointLike | None:
        key = (device, model, phase, context, ttft, tpot, devices)
        if key not in self._ops:
            op = self.perf.operating_point(device, model, phase, context,
                                           precision=self.precision, ttft_s=ttft, tpot_s=tpot,
                                           devices=devices)
            self._ops[key] = None if op is None or not op.tokens_per_s > 0 else op
        return self._ops[key]

    def stretch(self, device: str, model: str, batch: int, context: int, chunk: int) -> float:
        key = (device, model, batch, context, chunk)
        if key not in self._stretch:
            self._stretch[key] = 1.0 if chunk <= 0 else max(1.0, float(
                self.perf.colocation_stretch(device, model, batch, context, chunk,
                                             self.precision)))
        return self._stretch[key]


def _transfer_s(spec: ClassSpec, a: Link, b: Link) -> float | None:
    links = [x.link_gbs for x in (a, b) if x.link_gbs is not None and x.link_gbs > 0]
    if len(links) < 2:
        return None
    return spec.context_tokens * spec.kv_bytes_per_token / (min(links) * 1e9)


def _meets_deadline(spec: ClassSpec, ttft: float, tpot: float) -> bool:
    deadline = spec.slo.deadline_s
    return deadline <= 0 or ttft + spec.decode_tokens_per_request * tpot <= deadline


def _chunk(spec: ClassSpec, batch: int) -> int:
    """Prefill tokens a colocated decode step of ``batch`` carries on average (a full chunk
    when the mix is unknown)."""
    offered = batch * spec.prefill_per_decode
    return CHUNK_TOKENS if not math.isfinite(offered) else int(min(CHUNK_TOKENS, math.ceil(offered)))


def _colocated(ops: _Ops, spec: ClassSpec, p: Link, size: int, budget: float | None,
               tpot: float | None) -> Route | None:
    """Both phases time-sharing replicas of ``size`` devices, or None when an SLO misses.

    The decode batch is the largest whose step, stretched by the chunk that batch carries
    (fewer sequences carry a smaller chunk), meets the TPOT: the decode target is bisected
    (STRETCH_ITERATIONS halvings) below the TPOT."""
    m, ctx = spec.model_id, spec.context_tokens
    pre = ops.get(p.device_id, m, "prefill", ctx, ttft=budget, devices=size)
    if pre is None:
        return None
    pool = (p.device_id, m, size, "colocated")

    def fits(target: float | None) -> tuple[OperatingPointLike, float, int] | bool:
        """(decode op, stretch, chunk) when ``target`` meets the TPOT once stretched; False
        when no batch meets ``target`` at all (too low), True when it misses (too high)."""
        dec = ops.get(p.device_id, m, "decode", ctx, tpot=target, devices=size)
        if dec is None:
            return False
        chunk = _chunk(spec, int(dec.batch))
        stretch = ops.stretch(p.device_id, m, int(dec.batch), ctx, chunk)
        ok = tpot is None or dec.latency_s * stretch <= tpot * (1 + 1e-9)
        return (dec, stretch, chunk) if ok else True

    first = fits(tpot)
    best = first if isinstance(first, tuple) else None
    if first is True and tpot is not None:
        # Targets below the smallest step have no batch; between it and the answer the
        # stretched step fits; above, it misses: bisect for the largest that fits.
        lo, hi = 0.0, tpot
        for _ in range(STRETCH_ITERATIONS):
            mid = (lo + hi) / 2
            found = fits(mid)
            if found is True:
                hi = mid
            else:
                lo = mid
                best = found if isinstance(found, tuple) else best
    if best is None:
        return None
    dec, stretch, chunk = best
    return _route(ops, spec, pool, pool, pre, dec, stretch, chunk, 0.0, budget)


def _route(ops: _Ops, spec: ClassSpec, prefill_pool: Pool, decode_pool: Pool, pre: OperatingPointLike,
           dec: OperatingPointLike, stretch: float, chunk: int, transfer: float,
           budget: float | None) -> Route | None:
    ttft = float(pre.latency_s) + transfer
    tpot_eff = float(dec.latency_s) * stretch
    if not _meets_deadline(spec, ttft, tpot_eff):
        return None
    pre_tps, dec_tps = float(pre.tokens_per_s), float(dec.tokens_per_s)
    # A request's service on a prefill replica: its prompt at the replica's rate (never more
    # than the operating point's own latency for its batch).
    rho_p = prefill_utilisation(min(spec.context_tokens / pre_tps, float(pre.latency_s)),
                                None if budget is None else budget - transfer)
    if rho_p <= 0:
        return None
    rho_p, rho_d = (rho_p, MAX_UTILISATION) if ops.headroom else (1.0, 1.0)
    return Route(
        class_id=spec.class_id, model_id=spec.model_id,
        prefill_pool=prefill_pool, decode_pool=decode_pool,
        prefill_load=spec.prefill_tokens_per_s / (pre_tps * rho_p),
        decode_load=spec.decode_tokens_per_s / (dec_tps * rho_d),
        prefill_tokens_per_s=pre_tps, decode_tokens_per_s=dec_tps,
        prefill_usd_per_hour=float(pre.usd_per_hour), decode_usd_per_hour=float(dec.usd_per_hour),
        stretch=stretch, chunk_tokens=chunk, transfer_s=transfer,
        kv_bytes=spec.context_tokens * spec.kv_bytes_per_token, ttft_s=ttft, tpot_s=tpot_eff,
        decode_batch=int(dec.batch),
    )


def _split(ops: _Ops, spec: ClassSpec, p: Link, d: Link, pre: OperatingPointLike, dec: OperatingPointLike,
           moved: float, budget: float | None) -> Route | None:
    m = spec.model_id
    return _route(ops, spec, (p.device_id, m, int(pre.devices), "prefill"),
                  (d.device_id, m, int(dec.devices), "decode"), pre, dec, 1.0, 0, moved, budget)


def _same_type_routes(ops: _Ops, spec: ClassSpec, p: Link, budget: float | None,
                      tpot: float | None) -> list[Route]:
    """Colocated at every replica size of device ``p``, and prefill and decode on separate
    replicas of it (each phase at its own best size) when it has a link for the KV."""
    routes = [r for size in REPLICA_SIZES
              if (r := _colocated(ops, spec, p, size, budget, tpot)) is not None]
    moved = _transfer_s(spec, p, p)
    if moved is not None and (budget is None or moved < budget):
        m, ctx = spec.model_id, spec.context_tokens
        pre = ops.get(p.device_id, m, "prefill", ctx, ttft=None if budget is None else budget - moved)
        dec = ops.get(p.device_id, m, "decode", ctx, tpot=tpot)
        if pre is not None and dec is not None and (r := _split(ops, spec, p, p, pre, dec, moved, budget)):
            routes.append(r)
    return routes


def _cheapest_disaggregated(ops: _Ops, spec: ClassSpec, devices: Sequence[Link],
                            budget: float | None, tpot: float | None) -> list[Route]:
    """The MAX_DISAGG_ROUTES cheapest feasible (prefill device ≠ decode device) routes."""
    m, ctx = spec.model_id, spec.context_tokens
    decoders = [(d, dec) for d in devices
                if (dec := ops.get(d.device_id, m, "decode", ctx, tpot=tpot)) is not None]
    found: list[Route] = []
    for p in devices:
        for d, dec in decoders:
            if p.device_id == d.device_id:
                continue
            moved = _transfer_s(spec, p, d)
            if moved is None or (budget is not None and moved >= budget):
                continue
            pre = ops.get(p.device_id, m, "prefill", ctx,
                          ttft=None if budget is None else budget - moved)
            if pre is not None and (r := _split(ops, spec, p, d, pre, dec, moved, budget)):
                found.append(r)
    found.sort(key=lambda r: (r.linear_usd_per_hour, r.key))
    return found[:MAX_DISAGG_ROUTES]


def compute_routes(
    perf: PerfModelLike, specs: Sequence[ClassSpec], links: Iterable[Link], precision: str = "bf16",
    headroom: bool = True,
) -> dict[str, list[Route]]:
    """Every SLO-feasible route per class, in canonical order (empty list = no device can
    serve the class): the single-type routes of every device at every replica size, then the
    MAX_DISAGG_ROUTES cheapest disaggregated pairs by linear cost. ``headroom`` False plans
    every replica at utilisation 1 (the fluid bound, no queueing)."""
    ops = _Ops(perf, precision, headroom)
    devices = sorted(links, key=lambda link: link.device_id)
    out: dict[str, list[Route]] = {}
    for spec in sorted(specs, key=lambda s: s.class_id):
        budget = spec.slo.ttft_budget_s(spec.context_tokens)
        tpot = spec.slo.tpot_budget_s()
        same = [r for p in devices for r in _same_type_routes(ops, spec, p, budget, tpot)]
        routes = same + _cheapest_disaggregated(ops, spec, devices, budget, tpot)
        out[spec.class_id] = sorted(routes, key=lambda r: r.key)
    return out
