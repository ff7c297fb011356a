"""``fit_plan``: demand → candidate routes → MILP → fleet, baselines and per-request ledger."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from tracelab.background import import_in_background
from tracelab.errors import ConfigError, InfeasibleError
from tracelab.plan.budget import PLAN_BUDGET_S, Deadline
from tracelab.plan.demand import compute_demand, slo_of_class
from tracelab.plan.explain import raise_infeasible, route_reason
from tracelab.plan.ledger import (
    compute_ledger,
    compute_ledger_groups,
    compute_rollup,
    compute_route_table,
)
from tracelab.plan.milp import Solution, restrict, solve_plan
from tracelab.plan.model import FLEET_SCHEMA, Plan
from tracelab.plan.routes import (
    CHUNK_TOKENS,
    MAX_DISAGG_ROUTES,
    ClassSpec,
    Link,
    PerfModelLike,
    Route,
    compute_routes,
)
from tracelab.plan.slo import Slo, load_slos

REFERENCE_DEVICE = "h100-sxm"
# Share of PLAN_BUDGET_S the plan's own program may use; the baselines share the rest.
MAIN_SHARE = 0.6


def _catalog_devices(perf: Any) -> list[Any]:
    catalog = getattr(perf, "catalog", None)
    if catalog is None:
        msg = "the performance model has no catalog; pass devices= to fit_plan"
        raise ConfigError(msg)
    plannable = getattr(catalog, "plannable", None)
    return list(plannable() if callable(plannable) else catalog.devices)


def _kv_bytes_per_token(perf: Any, model_id: str) -> float:
    """KV bytes per token of ``model_id`` from the perf model's registry (or the bundled one)."""
    models = getattr(perf, "models", None)
    if models is None:
        from tracelab.hardware.registry import load_models

        models = load_models()
    spec = models.get(model_id) if hasattr(models, "get") else None
    if spec is None:
        msg = f"model {model_id!r} is not in the model registry; add it or map a name to it"
        raise ConfigError(msg, param="model_map")
    return float(spec.kv_bytes_per_token)


def _select_devices(devices: Sequence[Any], only: Iterable[str] | None,
                    exclude: Iterable[str] | None) -> list[str]:
    ids = [str(d.id) for d in devices]
    for name, chosen in (("only", only), ("exclude", exclude)):
        unknown = sorted(set(chosen or ()) - set(ids))
        if unknown:
            msg = f"{name}: unknown or unpriced device {', '.join(unknown)}"
            raise ConfigError(msg, param="only")
    allowed = [i for i in ids if (not only or i in set(only)) and i not in set(exclude or ())]
    if not allowed:
        msg = "only/exclude leave no device to plan on; allow at least one"
        raise ConfigError(msg, param="exclude")
    return allowed


def _specs(classes: pl.DataFrame, slos: dict[str, Slo], perf: Any) -> list[ClassSpec]:
    kv_cache: dict[str, float] = {}
    out = []
    for row in classes.filter(pl.col("model_id").is_not_null()).iter_rows(named=True):
        model = str(row["model_id"])
        if model not in kv_cache:
            kv_cache[model] = _kv_bytes_per_token(perf, model)
        out.append(
            ClassSpec(
                class_id=row["class_id"],
                model_id=model,
                slo=slo_of_class(slos, row),
                prefill_tokens_per_s=float(row["prefill_tokens_per_s"]),
                decode_tokens_per_s=float(row["decode_tokens_per_s"]),
                context_tokens=max(1, math.ceil(row["context_tokens"] or 1)),
                decode_tokens_per_request=float(row["decode_tokens"]) / max(row["requests"], 1),
                kv_bytes_per_token=kv_cache[model],
            )
        )
    return out


def _fleet(solution: Solution) -> pl.DataFrame:
    rows = [
        {
            "device_id": pool[0],
            "model_id": pool[1],
            "replicas": n,
            "devices": n * pool[2],
            "usd_per_hour": n * solution.pool_usd_per_hour[pool],
            "role": pool[3],
        }
        for pool, n in sorted(solution.replicas.items())
    ]
    return pl.DataFrame(rows, schema=FLEET_SCHEMA)


def _routes_frame(solution: Solution, reasons: dict[tuple[str, Route], str]) -> pl.DataFrame:
    rows = []
    for class_id, chosen in sorted(solution.fractions.items()):
        for route, z in chosen:
            rows.append({
                "class_id": class_id, "prefill_device": route.prefill_device,
                "decode_device": route.decode_device, "fraction": z,
                "colocated": route.colocated, "ttft_s": route.ttft_s, "tpot_s": route.tpot_s,
                "stretch": route.stretch, "kv_transfer_s": route.transfer_s,
                "prefill_tokens_per_s_per_replica": route.prefill_tokens_per_s,
                "decode_tokens_per_s_per_replica": route.decode_tokens_per_s,
                "reason": reasons[(class_id, route)],
            })
    return pl.DataFrame(rows)


def _baseline(sol: Solution | None, device: str) -> dict[str, Any] | None:
    return None if sol is None else {"device_id": device, "usd_per_hour": sol.usd_per_hour,
                                     "optimality_gap": sol.gap}


def _assumptions(perf: Any, devices: Sequence[Any], allowed: Sequence[str],
                 mapping_frame: pl.DataFrame | None) -> dict[str, Any]:
    prices = [
        {"device_id": str(d.id), "usd_per_hour": getattr(d, "usd_per_hour", None),
         "source": str(getattr(d, "price_source", "") or getattr(d, "source", "") or "catalog")}
        for d in devices if str(d.id) in allowed
    ]
    mapping = [] if mapping_frame is None else mapping_frame.to_dicts()
    describe = getattr(perf, "assumptions", None)
    return {
        "prices": prices,
        "model_mapping": mapping,
        "efficiencies": describe() if callable(describe) else describe
        or "from the performance model (tracelab.hardware.perf) and its profile",
        "chunk_tokens": {"value": CHUNK_TOKENS, "source": "vLLM default chunked-prefill size "
                         "(recalled); 2.0x decode stretch measured at 512 on an H100"},
        "kv_transfer": "context tokens × KV bytes per token ÷ the slower device's per-direction "
                       "link GB/s, added to TTFT",
        "max_disaggregated_routes_per_class": MAX_DISAGG_ROUTES,
        "span": "first to last arrival (one window if they coincide)",
    }


def fit_plan(
    labeled: pl.LazyFrame,
    perf: PerfModelLike,
    *,
    slos: dict[str, Slo] | None = None,
    by: str = "labels",
    window_s: float = 60.0,
    percentile: float = 95.0,
    growth: float = 1.0,
    only: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    precision: str = "bf16",
    devices: Sequence[Any] | None = None,
    reference: str = REFERENCE_DEVICE,
) -> Plan:
    """Cheapest fleet ($/h) serving the labelled trace's demand under its SLOs, with
    baselines and a per-request ledger. ``devices`` defaults to ``perf.catalog.plannable()``."""
    slos = slos if slos is not None else load_slos()
    import_in_background("scipy.optimize")  # the solver, ~0.5 s, during the demand passes
    all_devices = list(devices) if devices is not None else _catalog_devices(perf)
    allowed = _select_devices(all_devices, only, exclude)
    demand = compute_demand(labeled, by, window_s, percentile, growth, slos)
    specs = _specs(demand.classes, slos, perf)
    ids = set(allowed) | ({reference} & {str(d.id) for d in all_devices})
    links = [Link(str(d.id), getattr(d, "link_gbs", None)) for d in all_devices if str(d.id) in ids]
    wall, cpu = time.monotonic(), time.thread_time()
    every = compute_routes(perf, specs, links, precision)
    # Routing is single-threaded Python: the CPU fraction its thread got calibrates the
    # budget (the thread's own time: the pipeline runs the clusterer and the summary on
    # another meanwhile).
    routing = Deadline(0.0)
    routing.observe(time.monotonic() - wall, time.thread_time() - cpu)
    main = restrict(every, lambda r: r.prefill_device in allowed and r.decode_device in allowed)
    for spec in specs:
        if not main[spec.class_id]:
            raise_infeasible(perf, spec, allowed, precision)
    # One CPU budget for every solve, all solved together: the plan's program gets MAIN_SHARE
    # of it, the single-device baselines split the rest.
    solution, ref_sol, best = solve_plan(
        main, reference, routing.part(PLAN_BUDGET_S), MAIN_SHARE * PLAN_BUDGET_S,
        (1 - MAIN_SHARE) * PLAN_BUDGET_S,
        None if reference in allowed else restrict(
            every, lambda r: r.single_type and r.prefill_device == reference),
    )
    if solution is None:
        msg = "the optimiser found no fleet within its time limit"
        raise InfeasibleError(msg, param="window_s")
    if best is not None and best[1].usd_per_hour < solution.usd_per_hour:
        # A large program stops within its gap; a baseline's routes are a subset of the
        # plan's, so its (optimal) fleet is a valid plan too and never loses to one.
        solution = best[1]
    by_id = {s.class_id: s for s in specs}
    reasons: dict[tuple[str, Route], str] = {}
    for class_id, chosen in solution.fractions.items():
        for route, _ in chosen:
            reasons[(class_id, route)] = route_reason(
                by_id[class_id], route, perf, precision, reference
            )
    table = compute_route_table(solution.fractions, reasons)
    # Everything the plan reports comes from the ledger summed per (class, route) (at most
    # one streaming pass, over the classes split across routes); the per-request ledger
    # itself stays lazy.
    groups = compute_ledger_groups(demand.requests, table, demand.totals, demand.class_keys)
    span_hours = demand.span_s / 3600.0
    usd_per_hour = solution.usd_per_hour
    fleet_usd = usd_per_hour * span_hours
    ledger_usd = math.fsum([*groups["prefill_usd"], *groups["decode_usd"]])
    tokens = int(groups.select(
        pl.sum("prefill_tokens") + pl.sum("decode_tokens") + pl.sum("cache_hit_tokens")
    ).item() or 0)
    return Plan(
        fleet=_fleet(solution),
        usd_per_hour=usd_per_hour,
        baselines={
            "h100": _baseline(ref_sol, reference),
            "best_single": None if best is None else _baseline(best[1], best[0]),
        },
        routes=_routes_frame(solution, reasons),
        classes=demand.classes,
        ledger=compute_ledger(demand.requests, table),
        ledger_groups=groups,
        rollup=compute_rollup(groups),
        span_hours=span_hours,
        fleet_usd=fleet_usd,
        ledger_usd=ledger_usd,
        idle_usd=fleet_usd - ledger_usd,
        tokens=tokens,
        # The fleet is sized for the trace's demand × growth, so it serves that many tokens.
        usd_per_mtok=fleet_usd / (tokens * growth / 1e6) if tokens else 0.0,
        slos={m: s.to_dict() for m, s in slos.items()},
        settings={
            "by": by, "window_s": window_s, "percentile": percentile, "growth": growth,
            "precision": precision, "only": list(only or []), "exclude": list(exclude or []),
            "reference_device": reference, "windows": demand.windows,
            "optimality_gap": solution.gap,
        },
        assumptions=_assumptions(perf, all_devices, sorted(ids), demand.model_mapping),
    )


__all__ = ["REFERENCE_DEVICE", "Route", "fit_plan"]
