"""Words for the plan: the ledger's per-route reasons and the infeasible-class error."""

from __future__ import annotations

from collections.abc import Sequence

from tracelab.errors import InfeasibleError
from tracelab.plan.routes import ClassSpec, OperatingPointLike, PerfModelLike, Route, pool_id

RELAX_STEPS = 16
RELAX_FACTOR = 1.5


def route_reason(
    spec: ClassSpec, route: Route, perf: PerfModelLike, precision: str, reference: str
) -> str:
    """Why this class goes to this route, with the numbers that decided it."""
    head = (f"{spec.class_id} → prefill on {pool_id(route.prefill_pool)}, decode on "
            f"{pool_id(route.decode_pool)}")
    if route.colocated:
        head += (
            f" (colocated; the pool's mix puts ~{route.chunk_tokens} prefill tokens in each "
            f"decode step, stretching it {route.stretch:.2f}×)"
        )
    else:
        split = (
            f"prefill and decode on separate {route.prefill_device} replicas"
            if route.prefill_device == route.decode_device
            else "disaggregated"
        )
        head += (
            f" ({split}; {route.kv_bytes / 1e6:.1f} MB of KV per request adds "
            f"{route.transfer_s * 1000:.1f} ms to TTFT)"
        )
    tpot = spec.slo.tpot_budget_s()
    if tpot is not None:
        why = (
            f"a {tpot * 1000:g} ms TPOT target needs ≥ {1 / tpot:.0f} tok/s per stream; "
            f"{route.decode_device} at batch {route.decode_batch} gives {1 / route.tpot_s:.0f}"
        )
        if route.decode_device != reference:
            ref = perf.operating_point(
                reference, spec.model_id, "decode", spec.context_tokens, precision=precision
            )
            if ref is not None and ref.latency_s > 0:
                why += f"; an H100 at the batch that fills it gives {1 / ref.latency_s:.0f}"
    else:
        usd_per_mtok = route.decode_usd_per_hour / 3600 / route.decode_tokens_per_s * 1e6
        why = (
            f"no per-token latency target, so the cheapest decode: batch {route.decode_batch} "
            f"at ${usd_per_mtok:.3f} per 1M output tokens"
        )
    budget = spec.slo.ttft_budget_s(spec.context_tokens)
    if budget is not None:
        why += f"; TTFT {route.ttft_s:.2f} s within {budget:.2f} s"
    return f"{head}: {why}"


def _relaxation(perf: PerfModelLike, spec: ClassSpec, device: str, precision: str,
                phase: str, target: float) -> tuple[float, OperatingPointLike] | None:
    """Smallest factor (1.5^k) by which ``target`` must grow for ``device`` to meet it."""
    for k in range(RELAX_STEPS):
        factor = RELAX_FACTOR**k
        relaxed = target * factor
        op = perf.operating_point(
            device, spec.model_id, phase, spec.context_tokens, precision=precision,
            ttft_s=relaxed if phase == "prefill" else None,
            tpot_s=relaxed if phase == "decode" else None,
        )
        if op is not None:
            return factor, op
    return None


def raise_infeasible(
    perf: PerfModelLike, spec: ClassSpec, devices: Sequence[str], precision: str
) -> None:
    """Raise ``InfeasibleError`` for a class no route can serve, naming the closest device."""
    ttft = spec.slo.ttft_budget_s(spec.context_tokens)
    tpot = spec.slo.tpot_budget_s()
    best: tuple[float, str, str] | None = None
    for device in devices:
        worst = 1.0
        notes = []
        usable = True
        for phase, target in (("prefill", ttft), ("decode", tpot)):
            if target is None:
                if perf.operating_point(
                    device, spec.model_id, phase, spec.context_tokens, precision=precision
                ) is None:
                    usable = False
                continue
            found = _relaxation(perf, spec, device, precision, phase, target)
            if found is None:
                usable = False
                continue
            factor, op = found
            worst = max(worst, factor)
            name = "TTFT" if phase == "prefill" else "TPOT"
            notes.append(f"{name} {op.latency_s:.3g} s vs {target:.3g} s")
        if usable and (best is None or worst < best[0]):
            best = (worst, device, ", ".join(notes))
    mode = spec.slo.mode
    what = f"no device in the catalog can serve {spec.class_id!r} ({mode} SLO: {spec.slo.describe()})"
    if best is None:
        msg = (
            f"{what}: {spec.model_id} fits on none of {len(devices)} device(s); "
            "allow more devices or map the model to a smaller one"
        )
        raise InfeasibleError(msg, param="exclude")
    field = "tpot_s" if "TPOT" in best[2] else "ttft_s"
    msg = f"{what}; closest is {best[1]} ({best[2]}); relax {mode}.{field} or allow more devices"
    raise InfeasibleError(msg, param="slos")
