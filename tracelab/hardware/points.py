"""Operating points: the best SLO-feasible batch and replica size of one phase on one
device, and its $ per 1M tokens (``PerfModel.operating_point`` asks here).

Prefill batches prompts up to the prompt-batch cap, the KV memory and the TTFT target;
decode batches sequences up to the KV memory and the TPOT target (SRAM parts add chips
for the KV instead). Seconds, tokens, USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tracelab.errors import ConfigError

if TYPE_CHECKING:
    from tracelab.hardware.catalog import Catalog, Device
    from tracelab.hardware.profile import Efficiency


class PerfModel(Protocol):
    """What the search reads of ``tracelab.hardware.perf.PerfModel``."""

    catalog: Catalog

    def efficiency(self, device_id: str) -> Efficiency: ...

    def replica_devices(self, device_id: str, model_id: str, precision: str = ...,
                        kv_tokens: int = ...) -> int | None: ...

    def kv_capacity_tokens(self, device_id: str, model_id: str, precision: str = ...,
                           devices: int | None = ...) -> float: ...

    def prefill_s(self, device_id: str, model_id: str, batch: int, context: int,
                  precision: str = ..., devices: int | None = ...) -> float: ...

    def decode_step_s(self, device_id: str, model_id: str, batch: int, context: int,
                      precision: str = ..., devices: int | None = ...) -> float: ...

    def max_batch(self, device_id: str, model_id: str, context: int, precision: str = ...,
                  tpot_s: float | None = ..., devices: int | None = ...) -> int: ...


@dataclass(frozen=True)
class OperatingPoint:
    """The best SLO-feasible point of one phase on one device (per replica)."""

    device_id: str
    model_id: str
    phase: str
    precision: str
    devices: int
    batch: int
    tokens_per_s: float
    latency_s: float
    usd_per_hour: float  # NaN when the device has no price
    usd_per_mtok: float  # NaN when the device has no price
    reason: str



def group_sizes(perf: PerfModel, device_id: str, model_id: str, precision: str) -> list[int]:
    t = perf.replica_devices(device_id, model_id, precision)
    if t is None:
        return []
    dev = perf.catalog.get(device_id)
    if dev.tier == "sram":
        return [t]
    sizes = []
    while t <= min(dev.max_group, 64):
        sizes.append(t)
        t *= 2
    return sizes

def operating_point(
    perf: PerfModel,
    device_id: str,
    model_id: str,
    phase: str,
    context: int,
    precision: str = "bf16",
    ttft_s: float | None = None,
    tpot_s: float | None = None,
    devices: int | None = None,
) -> OperatingPoint | None:
    """Cheapest (highest tokens/s per device when unpriced) SLO-feasible point, or None.

    prefill: ``context`` is the prompt length; batch = prompts per forward.
    decode: ``context`` is the mean cached context; batch = sequences per step.
    ``devices`` fixes the replica size (e.g. so both phases can share replicas); None
    lets the model choose among the group sizes that hold the model.
    """
    if phase not in ("prefill", "decode"):
        msg = f"phase '{phase}': use prefill or decode"
        raise ConfigError(msg)
    dev = perf.catalog.get(device_id)
    if dev.tflops(precision) is None:
        return None
    best: OperatingPoint | None = None
    sizes = group_sizes(perf, device_id, model_id, precision)
    if devices is not None:
        sizes = [t for t in sizes if t == devices]
    for t in sizes:
        candidates = (_prefill_points if phase == "prefill" else _decode_points)(
            perf, dev, model_id, context, precision, t, ttft_s, tpot_s
        )
        for point in candidates:
            if best is None or _better(point, best):
                best = point
    return best


def _point(
    dev: Device,
    model_id: str,
    phase: str,
    precision: str,
    t: int,
    batch: int,
    tokens_per_s: float,
    latency_s: float,
    reason: str,
) -> OperatingPoint:
    usd_h = t * dev.usd_per_hour if dev.usd_per_hour is not None else math.nan
    return OperatingPoint(
        dev.id,
        model_id,
        phase,
        precision,
        t,
        batch,
        tokens_per_s,
        latency_s,
        usd_h,
        usd_h / (tokens_per_s * 3600) * 1e6,
        reason,
    )

def _prefill_points(
    perf: PerfModel,
    dev: Device,
    model_id: str,
    context: int,
    precision: str,
    t: int,
    ttft_s: float | None,
    tpot_s: float | None,
) -> list[OperatingPoint]:
    eff = perf.efficiency(dev.id)
    t_one = perf.prefill_s(dev.id, model_id, 1, context, precision, t)
    if ttft_s is not None and t_one > ttft_s:
        return []
    batch, why = max(1, eff.prefill_max_tokens // max(context, 1)), "prompt batch cap"
    kv_fit = int(perf.kv_capacity_tokens(dev.id, model_id, precision, t) // max(context, 1))
    if dev.tier == "sram":
        kv_fit = batch  # chips are added for the KV below
    if kv_fit < 1:
        return []
    if kv_fit < batch:
        batch, why = kv_fit, "KV memory"
    if (
        ttft_s is not None
        and batch > 1
        and perf.prefill_s(dev.id, model_id, batch, context, precision, t) > ttft_s
    ):
        # Halve the batch until it meets the TTFT: the first of batch >> 1, >> 2, … that
        # does (prefill time grows with the batch, and batch 1 meets it), by bisection.
        late, on_time = 0, batch.bit_length() - 1
        while on_time - late > 1:
            mid = (late + on_time) // 2
            if perf.prefill_s(dev.id, model_id, batch >> mid, context, precision, t) > ttft_s:
                late = mid
            else:
                on_time = mid
        batch, why = batch >> on_time, "TTFT target"
    if dev.tier == "sram":
        t = perf.replica_devices(dev.id, model_id, precision, batch * context) or t
    lat = perf.prefill_s(dev.id, model_id, batch, context, precision, t)
    bound = "compute-bound" if context * batch >= 256 else "overhead-bound"
    return [
        _point(
            dev,
            model_id,
            "prefill",
            precision,
            t,
            batch,
            batch * context / lat,
            lat,
            f"{bound}; batch set by {why}; {t} device(s) per replica",
        )
    ]

def _decode_points(
    perf: PerfModel,
    dev: Device,
    model_id: str,
    context: int,
    precision: str,
    t: int,
    ttft_s: float | None,
    tpot_s: float | None,
) -> list[OperatingPoint]:
    eff = perf.efficiency(dev.id)
    if dev.tier == "sram":
        points = []
        b = 1
        while b <= eff.max_batch:  # chips grow with the KV the batch holds
            n = perf.replica_devices(dev.id, model_id, precision, b * context)
            if n is None:
                break
            lat = perf.decode_step_s(dev.id, model_id, b, context, precision, n)
            if tpot_s is not None and lat > tpot_s:
                break
            points.append(
                _point(
                    dev,
                    model_id,
                    "decode",
                    precision,
                    n,
                    b,
                    b / lat,
                    lat,
                    f"on-chip SRAM holds weights + KV of {b} sequences on {n} chips",
                )
            )
            b *= 2
        return points
    mem_cap = perf.max_batch(dev.id, model_id, context, precision, None, t)
    b = perf.max_batch(dev.id, model_id, context, precision, tpot_s, t)
    if b < 1:
        return []
    why = (
        "TPOT target"
        if b < mem_cap
        else ("KV memory" if mem_cap < eff.max_batch else "batch cap")
    )
    lat = perf.decode_step_s(dev.id, model_id, b, context, precision, t)
    return [
        _point(
            dev,
            model_id,
            "decode",
            precision,
            t,
            b,
            b / lat,
            lat,
            f"memory-bandwidth-bound; batch {b} set by {why}; {t} device(s) per replica",
        )
    ]


def _better(a: OperatingPoint, b: OperatingPoint) -> bool:
    if not math.isnan(a.usd_per_mtok) and not math.isnan(b.usd_per_mtok):
        return a.usd_per_mtok < b.usd_per_mtok
    return a.tokens_per_s / a.devices > b.tokens_per_s / b.devices
