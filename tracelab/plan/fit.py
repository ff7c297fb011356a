"""``fit_plan``: demand → candidate routes → MILP → fleet, baselines and per-request ledger."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import polars as pl

from tracelab.background import import_in_background
from tracelab.errors import ConfigError, InfeasibleError
from tracelab.plan.commit import (
    commit_fleet,
    commitment_assumptions,
    fit_commitments,
    ledger_scale,
    pool_hours,
)
from tracelab.plan.demand import compute_demand, slo_of_class
from tracelab.plan.explain import raise_infeasible, route_reason
from tracelab.plan.ledger import (
    compute_ledger,
    compute_ledger_groups,
    compute_rollup,
    compute_route_table,
)
from tracelab.plan.limits import Limits
from tracelab.plan.milp import Solution, restrict, solve_plan
from tracelab.plan.model import (
    Baseline,
    Plan,
    PlanAssumptions,
    PlanContext,
    PlanSettings,
    PriceAssumption,
    fleet_frame,
    price_per_token_pools,
    routes_frame,
)
from tracelab.plan.providers import (
    Provider,
    add_provider_routes,
    is_provider_pool,
    per_token_frame,
    per_token_options,
    provider_assumptions,
    provider_reason,
)
from tracelab.plan.routes import (
    CHUNK_TOKENS,
    MAX_DISAGG_ROUTES,
    MAX_UTILISATION,
    ClassSpec,
    Link,
    PerfModelLike,
    Route,
    compute_routes,
)
from tracelab.plan.slo import Slo, load_slos

REFERENCE_DEVICE = "h100-sxm"
# A fleet a platform team runs: at most 3 accelerator types (each its own drivers, images,
# spares and capacity contracts) and, per model served, 2 pool shapes (one colocated
# deployment, or a prefill/decode pair; or two replica sizes).
MAX_DEVICE_TYPES = 3
POOLS_PER_MODEL = 2


class PlanDevice(Protocol):
    """What the plan reads of a catalog device (``tracelab.hardware.catalog.Device``)."""

    @property
    def id(self) -> str: ...
    @property
    def usd_per_hour(self) -> float | None: ...
    @property
    def link_gbs(self) -> float | None: ...
    @property
    def price_source(self) -> str: ...


class ModelShape(Protocol):
    @property
    def kv_bytes_per_token(self) -> float: ...


class PlanCatalog(Protocol):
    def plannable(self) -> Sequence[PlanDevice]: ...


class PlanPerfModel(PerfModelLike, Protocol):
    """A performance model with its catalog and model registry (``PerfModel``)."""

    @property
    def catalog(self) -> PlanCatalog: ...
    @property
    def models(self) -> Mapping[str, ModelShape]: ...


def _kv_bytes_per_token(perf: PlanPerfModel, model_id: str) -> float:
    spec = perf.models.get(model_id)
    if spec is None:
        msg = f"model {model_id!r} is not in the model registry; add it or map a name to it"
        raise ConfigError(msg, param="model_map")
    return float(spec.kv_bytes_per_token)


def _select_devices(devices: Sequence[PlanDevice], only: Iterable[str] | None,
                    exclude: Iterable[str] | None) -> list[str]:
    ids = [d.id for d in devices]
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


def _specs(classes: pl.DataFrame, models: pl.DataFrame | None, slos: dict[str, Slo],
           perf: PlanPerfModel) -> list[ClassSpec]:
    """One ClassSpec per class with a model; ``prefill_per_decode`` from the model's
    traffic (what its pools carry), the class's own where the model's is unknown."""
    kv_cache: dict[str, float] = {}
    ratio: dict[str, float] = {}
    if models is not None:
        for m in models.iter_rows(named=True):
            p, d = m["mean_prefill_tokens_per_s"] or 0.0, m["mean_decode_tokens_per_s"] or 0.0
            ratio[m["model_id"]] = p / d if d > 0 else math.inf
    out = []
    for row in classes.filter(pl.col("model_id").is_not_null()).iter_rows(named=True):
        model = str(row["model_id"])
        if model not in kv_cache:
            kv_cache[model] = _kv_bytes_per_token(perf, model)
        own = row["prefill_tokens"] / row["decode_tokens"] if row["decode_tokens"] else math.inf
        out.append(ClassSpec(
            class_id=row["class_id"], model_id=model, slo=slo_of_class(slos, row),
            prefill_tokens_per_s=float(row["prefill_tokens_per_s"]),
            decode_tokens_per_s=float(row["decode_tokens_per_s"]),
            context_tokens=max(1, math.ceil(row["context_tokens"] or 1)),
            decode_tokens_per_request=float(row["decode_tokens"]) / max(row["requests"], 1),
            kv_bytes_per_token=kv_cache[model], prefill_per_decode=ratio.get(model, own),
        ))
    return out


def _why_no_reference(every: Mapping[str, Sequence[Route]], specs: Sequence[ClassSpec],
                      reference: str, limits: Limits) -> str:
    """One line on why no fleet of ``reference`` devices alone serves the classes: the
    class (the most tokens per second first) with no route on it that meets its SLO, or
    the pool limit."""
    lacking = [s for s in specs if not any(r.single_type and r.prefill_device == reference
                                           for r in every.get(s.class_id, []))]
    if not lacking:
        return f"no fleet of {reference} alone keeps within {limits.max_pools} pools"
    first = max(lacking, key=lambda s: (s.prefill_tokens_per_s + s.decode_tokens_per_s,
                                        s.class_id))
    more = f" (and {len(lacking) - 1} more classes)" if len(lacking) > 1 else ""
    return (f"class '{first.class_id}' has no route on {reference} that meets its SLO "
            f"(TTFT {first.slo.ttft_s:g} s, TPOT {first.slo.tpot_s:g} s at a "
            f"{first.context_tokens:,}-token prompt){more}")


def _baseline(sol: Solution | None, device: str) -> Baseline | None:
    return None if sol is None else {"device_id": device, "usd_per_hour": sol.usd_per_hour,
                                     "optimality_gap": sol.gap}


def _assumptions(devices: Sequence[PlanDevice], allowed: Sequence[str],
                 mapping_frame: pl.DataFrame | None) -> PlanAssumptions:
    prices: list[PriceAssumption] = [{"device_id": d.id, "usd_per_hour": d.usd_per_hour,
               "source": str(d.price_source or "catalog")} for d in devices if d.id in allowed]
    return {
        "prices": prices,
        "model_mapping": [] if mapping_frame is None else mapping_frame.to_dicts(),
        "efficiencies": "from the performance model (tracelab.hardware.perf) and its profile",
        "chunk_tokens": {"value": CHUNK_TOKENS, "source": "vLLM default chunked-prefill size "
                         "(recalled); 2.0x decode stretch measured at 512 on an H100; a "
                         "colocated step carries decode batch × the model's prefill tokens per "
                         "decode token, at most this"},
        "utilisation": {"max": MAX_UTILISATION, "prefill": "M/D/1: mean wait ρ·S/(2(1−ρ)) plus "
                        "the prompt's service S fits the TTFT budget"},
        "kv_transfer": "context tokens × KV bytes per token ÷ the slower device's per-direction "
                       "link GB/s, added to TTFT",
        "max_disaggregated_routes_per_class": MAX_DISAGG_ROUTES,
        "span": "first to last arrival (one window if they coincide)",
        "demand": "a model's classes share its pools: each class at its share of the "
                  "percentile of the model's windowed total",
    }


def fit_plan(
    labeled: pl.LazyFrame,
    perf: PlanPerfModel,
    *,
    slos: dict[str, Slo] | None = None,
    by: str = "labels",
    window_s: float = 60.0,
    percentile: float = 95.0,
    growth: float = 1.0,
    only: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    precision: str = "bf16",
    devices: Sequence[PlanDevice] | None = None,
    reference: str = REFERENCE_DEVICE,
    max_device_types: int | None = MAX_DEVICE_TYPES,
    max_pools: int | None = None,
    headroom: bool = True,
    providers: Sequence[Provider] = (),
    compare_providers: Sequence[Provider] = (),
    commitment: str = "none",
    spot: bool = False,
    observed: Sequence[tuple[int, int]] = (),
) -> Plan:
    """Cheapest fleet ($/h) serving the labelled trace's demand under its SLOs, with
    baselines and a per-request ledger. ``devices`` defaults to ``perf.catalog.plannable()``.
    ``max_device_types`` and ``max_pools`` bound the fleet (and its baselines); ``max_pools``
    None means POOLS_PER_MODEL per model served. ``headroom`` False sizes replicas at
    utilisation 1 (the fluid bound) instead of the M/D/1 target (``plan/routes.py``).
    ``providers``: per-token APIs the MILP may send a class (or part of one) to
    (``tracelab.plan.providers``); ``compare_providers``: per-token APIs the plan does not
    use but weighs each model's pools against (``Plan.per_token_alternatives``).
    ``commitment`` "1y"/"3y": each pool a reserved base at the
    device's committed price plus burst replicas bought by the hour at on demand (or spot,
    with ``spot``) where the trace's hours need them (``tracelab.plan.commit``); "none"
    prices every replica on demand for the whole span. ``observed``: the stretches of time
    the input files cover (``compute_demand``); the span is their total."""
    slos = slos if slos is not None else load_slos()
    for name, value in (("max_device_types", max_device_types), ("max_pools", max_pools)):
        if value is not None and value < 1:
            msg = f"{name} {value}: need at least 1"
            raise ConfigError(msg, param=name)
    import_in_background("scipy.optimize")  # the solver, ~0.5 s, during the demand passes
    all_devices = list(devices) if devices is not None else list(perf.catalog.plannable())
    allowed = _select_devices(all_devices, only, exclude)
    demand = compute_demand(labeled, by, window_s, percentile, growth, slos, observed)
    commit = None if commitment == "none" else fit_commitments(
        all_devices, commitment, spot, demand,
        [m for m, s in slos.items() if s.deadline_s >= window_s])
    specs = _specs(demand.classes, demand.models, slos, perf)
    ids = set(allowed) | ({reference} & {d.id for d in all_devices})
    links = [Link(d.id, d.link_gbs) for d in all_devices if d.id in ids]
    every = compute_routes(perf, specs, links, precision, headroom)
    main = restrict(every, lambda r: r.prefill_device in allowed and r.decode_device in allowed)
    if providers:
        main = add_provider_routes(main, specs, providers, demand.classes, growth)
    for spec in specs:
        if not main[spec.class_id]:
            raise_infeasible(perf, spec, allowed, precision)
    n_models = len({s.model_id for s in specs})
    limits = Limits(max_device_types,
                    max_pools if max_pools is not None else POOLS_PER_MODEL * max(n_models, 1))
    solution, ref_sol, best = solve_plan(
        main, reference, limits,
        None if reference in allowed else restrict(
            every, lambda r: r.single_type and r.prefill_device == reference),
        commit,
    )
    if solution is None:
        msg = (f"no fleet serves every class within {limits.max_pools} pools on "
               f"{limits.max_device_types} device types")
        raise InfeasibleError(msg, param="max_pools")
    if best is not None and best[1].usd_per_hour < solution.usd_per_hour:
        # A large program stops within its gap; a baseline's routes are a subset of the
        # plan's, so its (optimal) fleet is a valid plan too and never loses to one.
        solution = best[1]
    by_id = {s.class_id: s for s in specs}
    settings: PlanSettings = {
        "by": by, "window_s": window_s, "percentile": percentile, "growth": growth,
        "precision": precision, "only": list(only or []), "exclude": list(exclude or []),
        "reference_device": reference, "windows": demand.windows,
        "optimality_gap": solution.gap, "solver_timed_out": solution.timed_out,
        "max_device_types": limits.max_device_types,
        "max_pools": limits.max_pools, "headroom": headroom,
    }
    if ref_sol is None:
        settings["reference_infeasible"] = _why_no_reference(every, specs, reference, limits)
    baselines: dict[str, Baseline | None] = {
        "h100": _baseline(ref_sol, reference),
        "best_single": None if best is None else _baseline(best[1], best[0]),
    }

    assumptions = _assumptions(all_devices, sorted(ids), demand.model_mapping)
    if providers:
        assumptions["providers"] = provider_assumptions(providers)
    if commit is not None:
        settings["commitment"], settings["spot"] = commitment, spot
        assumptions["commitments"] = commitment_assumptions(commit, all_devices)

    options = per_token_options(specs, compare_providers, demand.classes, growth)

    def build(chosen: Solution) -> Plan:
        """The plan of the fleet ``chosen`` (its routes among ``main``'s): fleet, routes,
        ledger; the baselines and settings of this fit."""
        reasons: dict[tuple[str, Route], str] = {}
        for class_id, picked in chosen.fractions.items():
            for route, _ in picked:
                reasons[(class_id, route)] = (
                    provider_reason(by_id[class_id], route, providers)
                    if is_provider_pool(route.prefill_device)
                    else route_reason(by_id[class_id], route, perf, precision, reference))
        table = compute_route_table(chosen.fractions, reasons,
                                    None if commit is None else ledger_scale(chosen))
        # Everything the plan reports comes from the ledger summed per (class, route) (at
        # most one streaming pass, over the classes split across routes); the per-request
        # ledger itself stays lazy.
        groups = compute_ledger_groups(demand.requests, table, demand.totals,
                                       demand.class_keys)
        ledger_usd = math.fsum([*groups["prefill_usd"], *groups["decode_usd"]])
        tokens = int(groups.select(
            pl.sum("prefill_tokens") + pl.sum("decode_tokens") + pl.sum("cache_hit_tokens")
        ).item() or 0)
        fleet = fleet_frame(chosen.replicas, chosen.pool_usd_per_hour, precision)
        if commit is not None:
            fleet = commit_fleet(fleet, chosen, commit)
        per_token = per_token_frame(groups, demand.span_s / 3600.0) if providers else None
        if per_token is not None:
            fleet = price_per_token_pools(fleet, per_token)
        return Plan(
            fleet=fleet,
            baselines=baselines,
            routes=routes_frame(chosen.fractions, reasons),
            classes=demand.classes,
            ledger=compute_ledger(demand.requests, table),
            ledger_groups=groups,
            rollup=compute_rollup(groups),
            span_hours=demand.span_s / 3600.0,
            ledger_usd=ledger_usd,
            tokens=tokens,
            growth=growth,
            slos={m: s.to_dict() for m, s in slos.items()},
            settings=settings,
            assumptions=assumptions,
            models=demand.models,
            context=PlanContext(main, chosen, build, limits),
            per_token=per_token,
            per_token_options=options,
            hours=None if commit is None else pool_hours(chosen, commit),
        )

    return build(solution)


__all__ = ["MAX_DEVICE_TYPES", "POOLS_PER_MODEL", "REFERENCE_DEVICE", "PlanDevice", "Route",
           "fit_plan"]
