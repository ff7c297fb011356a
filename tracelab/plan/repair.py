"""Verify a plan by replaying its busiest hour, and repair the fleet until the replay meets
the SLO attainment target.

The MILP sizes pools on fluid rates (a percentile of 60 s windows, with M/D/1 headroom);
bursts inside a window, KV admission and the scheduler's chunking are what the replay
(``tracelab.simulate``) adds. The loop, at most ``max_iterations`` replays:

1. replay the busiest hour (the hour with the most prefill + output tokens; the whole trace
   when it is shorter) through the fleet;
2. below the target (share of the requests held to a latency SLO — interactive, and unknown
   modes held to its targets — meeting both TTFT and TPOT, less those whose TTFT budget is
   below their own prefill alone on the fastest replica the plan may buy, which no fleet
   can serve in time: ``tracelab.plan.feasible``, named in the summary): add replicas to
   every pool whose requests miss, in proportion to the shortfall (at least one);
3. at or above it: take one replica from the pool with the most slack (highest attainment,
   then lowest utilisation, costliest replica first) and replay; keep the cut if the target
   still holds, else restore it and never try that pool again.

Routes and fractions stay as planned (the ledger's per-token charges do not change; the
fleet's cost and idle $ follow the replicas). A pool whose added replicas did not raise its
attainment is not grown again: more replicas do not fix a TPOT the device cannot reach.
When the target is not reached the result names the SLO that misses most and what came
closest, in one line.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from tracelab.errors import ConfigError
from tracelab.hardware.perf import PerfModel
from tracelab.plan.feasible import Shape, explain, find_infeasible
from tracelab.plan.ledger import attach_replay
from tracelab.plan.model import Plan
from tracelab.plan.providers import (
    drop_provider_requests,
    is_provider_pool,
    note_provider_requests,
    without_providers,
)
from tracelab.plan.shapes import Reshaped, reshape
from tracelab.plan.slo import Slo
from tracelab.simulate import Fleet, Replay, SimOptions, simulate
from tracelab.simulate.memo import PoolRuns
from tracelab.simulate.requests import busiest_hour

DEFAULT_TARGET = 0.99
MAX_ITERATIONS = 8
HOUR_S = 3600.0


@dataclass(frozen=True)
class Step:
    """One replay of the loop: the fleet replayed and what it attained."""

    iteration: int
    replicas: dict[str, int]
    usd_per_hour: float
    attainment: float
    action: str


def _usd(plan: Plan, replicas: Mapping[str, int]) -> float:
    price = dict(zip(plan.fleet["pool_id"], plan.fleet["usd_per_replica_hour"], strict=True))
    return math.fsum(n * price[k] for k, n in replicas.items())


def _held(replay: Replay, modes: Sequence[str], excluded: Collection[str] = ()) -> pl.DataFrame:
    """The replayed requests held to a latency target (their SLO mode in ``modes``), less
    the ``excluded`` request ids (infeasible by their SLO, ``tracelab.plan.feasible``)."""
    held = pl.col("slo_mode").is_in(list(modes))
    if excluded:
        held &= ~pl.col("request_id").is_in(sorted(excluded))
    return replay.requests.filter(held)


def _attained(replay: Replay, modes: Sequence[str], excluded: Collection[str] = ()) -> float:
    """Share of the requests held to ``modes`` (less ``excluded``) that met TTFT, TPOT and
    deadline (1.0 when there are none)."""
    rows = _held(replay, modes, excluded)
    if rows.height == 0:
        return 1.0
    return float(rows.select(pl.col("meets_slo").cast(pl.Float64).mean()).item() or 0.0)


def _verdict(replay: Replay, target: float, best: Step, modes: Sequence[str],
             excluded: Collection[str]) -> str:
    rows = _held(replay, modes, excluded)
    mode = "/".join(modes)
    met = rows.select(pl.col("meets_ttft", "meets_tpot").cast(pl.Float64).mean()) if rows.height \
        else pl.DataFrame({"meets_ttft": [1.0], "meets_tpot": [1.0]})
    ttft, tpot = float(met["meets_ttft"][0] or 0.0), float(met["meets_tpot"][0] or 0.0)
    worst, share = ("TTFT", ttft) if ttft <= tpot else ("TPOT", tpot)
    return (f"{mode} {worst} cannot be met for {target:.0%} of requests: {share:.1%} meet it; "
            f"closest fleet attains {best.attainment:.1%} at ${best.usd_per_hour:,.2f}/h")


def _fluid(plan: Plan) -> pl.DataFrame:
    """Per pool, the plan's fluid estimates: worst TTFT of the routes prefilling there and
    worst TPOT of those decoding there."""
    pre = plan.routes.group_by(pl.col("prefill_pool").alias("pool_id")).agg(
        pl.col("ttft_s").max().alias("fluid_ttft_s"))
    dec = plan.routes.group_by(pl.col("decode_pool").alias("pool_id")).agg(
        pl.col("tpot_s").max().alias("fluid_tpot_s"))
    return plan.fleet.select("pool_id").join(pre, on="pool_id", how="left").join(
        dec, on="pool_id", how="left")


def _pool_attainment(replay: Replay, modes: Sequence[str],
                     excluded: Collection[str] = ()) -> dict[str, float]:
    """Per pool, the share of its requests held to ``modes`` (less ``excluded``) that met
    the SLO its role decides: TTFT on prefill pools, TPOT on decode pools, both on
    colocated ones."""
    rows = _held(replay, modes, excluded)
    both = pl.col("meets_ttft") & pl.col("meets_tpot")
    split = pl.col("pool_prefill") != pl.col("pool_decode")
    parts = [
        rows.select(pl.col("pool_prefill").alias("pool_id"),
                    pl.when(split).then(pl.col("meets_ttft")).otherwise(both).alias("met")),
        rows.filter(split).select(pl.col("pool_decode").alias("pool_id"),
                                  pl.col("meets_tpot").alias("met")),
    ]
    shares = pl.concat(parts).group_by("pool_id").agg(pl.col("met").cast(pl.Float64).mean())
    return {k: float(v) for k, v in shares.sort("pool_id").iter_rows()}


def _slack(replicas: Mapping[str, int], frozen: set[str], used: set[str], replay: Replay,
           plan: Plan, modes: Sequence[str], excluded: Collection[str]) -> list[str]:
    """Pools a replica may be taken from, most slack first: highest attainment, then lowest
    utilisation, then the costliest replica (the biggest saving)."""
    met = _pool_attainment(replay, modes, excluded)
    busy = dict(zip(replay.pools["pool_id"], replay.pools["utilisation"], strict=True))
    return sorted(
        (k for k in replicas if k not in frozen and replicas[k] > (1 if k in used else 0)),
        key=lambda k: (-met.get(k, 1.0), busy.get(k) or 0.0, -_usd(plan, {k: 1}), k))


def verify_and_repair(
    plan: Plan,
    requests: pl.LazyFrame | pl.DataFrame,
    perf: PerfModel,
    slos: Mapping[str, Slo],
    target: float = DEFAULT_TARGET,
    max_iterations: int = MAX_ITERATIONS,
    modes: Sequence[str] | None = None,
    window_name: str | None = None,
    options: SimOptions | None = None,
) -> Plan:
    """``plan`` with replicas repaired by replay and its ``replay`` summary (see the module
    docstring); its ledger carries each replayed request's replica and simulated times from
    the final replay (``tracelab.plan.ledger.attach_replay``; ``window_name`` names the
    replayed window for the other requests' note, default the busiest hour or whole trace). ``requests``: the simulator's input (``tracelab.simulate.REQUEST_COLUMNS``,
    e.g. ``tracelab.simulate.requests.scan_replay_requests`` of the labelled frame). ``target`` is the share of the requests held to ``modes`` (default: every
    mode with a TTFT or TPOT target, e.g. interactive and unknown) that must meet both TTFT
    and TPOT; at most ``max_iterations`` replays; ``options``: the simulated engine's
    scheduler (default ``SimOptions()``), stated in the plan's assumptions. Requests whose
    TTFT budget is below their prefill alone on the fastest replica the plan may buy are
    named in the summary's ``infeasible_by_slo`` and left out of the target
    (``tracelab.plan.feasible``)."""
    options = options or SimOptions()
    options.check()
    if not 0 < target <= 1 or max_iterations < 1:
        msg = f"attainment target {target}: need 0 < target <= 1"
        raise ConfigError(msg, param="attainment")
    modes = sorted(modes if modes is not None else
                   [m for m, slo in slos.items() if slo.ttft_s > 0 or slo.tpot_s > 0])
    # Requests sent to a per-token provider are not replayed (its published latency is theirs).
    every = drop_provider_requests(plan.ledger, requests.lazy().collect(), plan.routes)
    lo, hi = busiest_hour(every, HOUR_S)
    whole = hi - lo < HOUR_S
    window = every if whole else every.filter(
        (pl.col("arrival_s") >= lo) & (pl.col("arrival_s") < hi))
    window = window.with_columns(pl.col("arrival_s") - lo)
    base = Fleet.from_plan_json(without_providers(plan.to_json()), source="the plan")
    if not base.pools:  # every class on a provider: nothing to replay
        return replace(plan, ledger=note_provider_requests(plan.ledger))
    used = {r.prefill_pool for r in base.routes} | {r.decode_pool for r in base.routes}
    replicas = {p.pool_id: p.replicas for p in base.pools}
    history: list[Step] = []
    frozen: set[str] = set()  # pools not to cut again (a cut broke the target)
    stuck: set[str] = set()  # pools whose growth did not help
    last_good: dict[str, int] | None = None
    previous: dict[str, float] = {}
    seen: dict[tuple[int, ...], Replay] = {}
    memo = PoolRuns()  # pools whose inputs a replay repeats are replayed once

    def run(counts: Mapping[str, int]) -> Replay:
        key = tuple(counts[p.pool_id] for p in base.pools)
        if key not in seen:
            fleet = Fleet(tuple(replace(p, replicas=counts[p.pool_id]) for p in base.pools),
                          base.routes)
            seen[key] = simulate(window, fleet, perf, slos=slos, options=options,
                                 source="the plan", memo=memo)
        return seen[key]

    infeasible = find_infeasible(run(replicas), _shapes(plan, base), perf, slos, modes,
                                 options, str(plan.settings.get("precision", "bf16")))
    excluded = frozenset(infeasible["request_id"].to_list())

    for iteration in range(max_iterations):
        replay = run(replicas)
        attained = _attained(replay, modes, excluded)
        pools = _pool_attainment(replay, modes, excluded)
        ok = attained >= target
        if ok:
            last_good = dict(replicas)
        action = "met" if ok else "missed"
        history.append(Step(iteration, dict(replicas), _usd(plan, replicas), attained, action))
        if iteration == max_iterations - 1:
            break
        if not ok and last_good is not None:
            # A cut broke the target: restore the last fleet that met it; never cut that pool.
            cut = [k for k in replicas if replicas[k] < last_good[k]]
            frozen.update(cut)
            replicas = dict(last_good)
            slack = _slack(replicas, frozen, used, run(replicas), plan, modes, excluded)
            if not slack:
                break
            replicas[slack[0]] -= 1
            continue
        if not ok:
            missing = {k: a for k, a in pools.items() if a < target and k not in stuck}
            for k, a in missing.items():
                if k in previous and a <= previous[k] + 1e-9:
                    stuck.add(k)
                    continue
                replicas[k] += max(1, math.ceil(replicas[k] * (target - a) / target))
            previous = dict(pools)
            if not missing or all(k in stuck for k in missing):
                break
            continue
        slack = _slack(replicas, frozen, used, replay, plan, modes, excluded)
        if not slack:
            break
        replicas[slack[0]] -= 1
    chosen = last_good if last_good is not None else max(
        history, key=lambda s: (s.attainment, -s.usd_per_hour)).replicas
    runs = [(dict(zip([p.pool_id for p in base.pools], key, strict=True)), rep)
            for key, rep in seen.items()]
    # Reshaping re-pools a model's classes on replicas; a plan that sends classes to a
    # per-token provider keeps its shapes (the reshaper does not know provider routes).
    reshaped = Reshaped(None, []) if any(map(is_provider_pool, plan.fleet["pool_id"])) else \
        reshape(plan, window, runs, chosen,
                lambda rows, fleet: simulate(rows, fleet, perf, slos=slos, options=options,
                                             source="the plan", memo=memo),
                target, modes, excluded)
    shapes = [{"model_id": o.model_id, "fleet": o.label, "usd_per_hour": o.usd_per_hour,
               "attainment": o.met / o.held if o.held else 1.0,
               "result": "met" if o.met >= target * o.held else "missed"}
              for o in reshaped.tried]
    final = next(s for s in reversed(history) if s.replicas == chosen)
    fitted, replay = plan.with_replicas(chosen), run(chosen)
    if reshaped.plan is not None:
        fleet = Fleet.from_plan_json(reshaped.plan.to_json(), source="the plan")
        again = simulate(window, fleet, perf, slos=slos, options=options, source="the plan",
                         memo=memo)
        if _attained(again, modes, excluded) >= target or last_good is None:
            fitted, replay = reshaped.plan, again
            final = Step(len(history), {p.pool_id: p.replicas for p in fleet.pools},
                         reshaped.plan.usd_per_hour, _attained(again, modes, excluded),
                         "reshaped")
    met = _attained(replay, modes, excluded) >= target
    held = _held(replay, modes).height
    summary = {
        **replay.to_json(),
        "target": target,
        "modes": modes,
        "attainment_target_met": met,
        "attained": _attained(replay, modes, excluded),
        "attained_with_infeasible": _attained(replay, modes),
        "infeasible_by_slo": {"requests": infeasible.height, "held": held,
                              "why": explain(infeasible, held),
                              "rows": infeasible.to_dicts()},
        "verdict": "" if met else _verdict(replay, target, final, modes, excluded),
        "window": {"name": "whole trace" if whole else "busiest hour",
                   "start_s": lo, "end_s": hi, "requests": window.height},
        "iterations": [{"iteration": s.iteration, "replicas": s.replicas,
                        "usd_per_hour": s.usd_per_hour, "attainment": s.attainment,
                        "result": s.action} for s in history],
        "shapes": shapes,
        "fluid": _fluid(fitted).to_dicts(),
    }
    name = window_name or ("whole trace" if whole else "busiest hour")
    ledger = note_provider_requests(attach_replay(fitted.ledger, replay.requests, name))
    assumptions = {**fitted.assumptions, "replay_engine": options.describe()}
    return replace(fitted, replay=summary, ledger=ledger,
                   assumptions=assumptions)  # type: ignore[arg-type]


def replay_hour(plan: Plan, hour: pl.DataFrame, perf: PerfModel, slos: Mapping[str, Slo],
                options: SimOptions | None = None) -> dict[str, object]:
    """``plan``'s fleet, as repaired, replayed once over ``hour`` (the busiest hour's
    requests, ``arrival_s`` from its start), held to the same modes and target as its
    replay: ``requests``, ``attained`` (less the requests infeasible by their SLO, as
    ``attained`` is), ``attained_with_infeasible``, ``attainment_target_met``. The repair
    replays a shorter window when the hour holds more than ``MAX_REPLAY_REQUESTS``: the
    busiest 158 s of a 200k-request synthetic hour met 99.4%, the whole hour 98.5% (another
    model's burst lay outside it)."""
    options = options or SimOptions()
    summary: Mapping[str, Any] = plan.replay or {}
    modes = list(summary.get("modes", []))
    target = float(summary.get("target", DEFAULT_TARGET))
    every = drop_provider_requests(plan.ledger, hour, plan.routes)
    base = Fleet.from_plan_json(without_providers(plan.to_json()), source="the plan")
    replay = simulate(every, base, perf, slos=slos, options=options, source="the plan")
    infeasible = find_infeasible(replay, _shapes(plan, base), perf, slos, modes, options,
                                 str(plan.settings.get("precision", "bf16")))
    attained = _attained(replay, modes, frozenset(infeasible["request_id"].to_list()))
    return {"requests": every.height, "attained": attained,
            "attained_with_infeasible": _attained(replay, modes),
            "infeasible_by_slo": infeasible.height,
            "attainment_target_met": attained >= target}


def _shapes(plan: Plan, base: Fleet) -> dict[str, list[Shape]]:
    """Per model, the replica shapes that prefill among the plan's candidate routes (the
    fleet's own pools when the plan keeps no candidates)."""
    found: dict[str, set[Shape]] = {}
    if plan.context is not None:
        for routes in plan.context.routes.values():
            for r in routes:
                device, model, size, role = r.prefill_pool
                found.setdefault(model, set()).add((device, size, role))
    for p in base.pools:
        if p.role != "decode":
            found.setdefault(p.model_id, set()).add((p.device_id, p.devices_per_replica, p.role))
    return {m: sorted(v) for m, v in found.items()}
