"""``fit_schedule``: the plan's pools per window of the day, verified by replaying the trace.

The counts start from the daily shape (``tracelab.plan.schedule``); the whole trace is then
replayed through them (``tracelab.simulate`` with each pool's replicas in service over
time), scale-up lag included: a replica added at a window's start serves one lead time
later. Every (pool, window) whose requests held to a latency SLO meet it less often than
the target (or than the static fleet, replayed over the same requests, does there, when
that is less: it was verified on its busiest window, and a burst elsewhere can beat it)
gets replicas in proportion to the shortfall (at least one, at most up to the pool's static
count), and the trace is replayed again, at most ``max_iterations`` times. So in every
window the schedule costs at most what the static fleet does (on demand; under a commitment
the static fleet already bursts by the hour on its hours' token levels, and the schedule,
priced by the same rule on its replayed counts, can cost more) and attains, per pool, what
the target or the static fleet does. A last replay with the added replicas
warmed up ahead (no lag) says what the lag costs in attainment; warming them costs the
boot seconds (``prewarm_usd_per_hour``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import polars as pl

from tracelab.errors import ConfigError
from tracelab.hardware.perf import PerfModel
from tracelab.plan.model import Plan
from tracelab.plan.providers import drop_provider_requests, without_providers
from tracelab.plan.schedule import (
    DAY_S,
    DEFAULT_FLOOR,
    MIN_WINDOWS,
    SCHEDULES,
    availability,
    daily_shape,
    first_counts,
    lead_time,
    load_figures,
    mean_usd_per_hour,
    prewarm_usd_per_hour,
    reserved_base,
    schedule_table,
    window_of_day,
    windows_covered,
)
from tracelab.plan.slo import Slo
from tracelab.simulate import Fleet, Replay, simulate

MAX_ITERATIONS = 8
# The whole trace is replayed; beyond this many requests the schedule is sized, not replayed.
MAX_SCHEDULE_REPLAY_REQUESTS = 200_000
PRICED_AT = "each pool's on-demand price per replica-hour, static and scheduled alike"
PRICED_COMMITTED = (
    "the static fleet as the plan bought it (reserved base + burst by the hour); the "
    "schedule per pool: a reserved base by the MILP's rule on its hourly counts (at least "
    "the floor it never goes under, where reserving is the cheaper), paid every hour, and "
    "the hour's replicas beyond it at the burst price (on demand, or spot); an hour below "
    "the base still pays it, and the replay does not count those idle reserved replicas")


@dataclass(frozen=True)
class Schedule:
    """A schedule: ``table`` (``tracelab.plan.schedule.schedule_table``; None when there is
    nothing to schedule) and ``summary`` (plan.json's ``schedule`` block)."""

    table: pl.DataFrame | None
    summary: dict[str, object]


def _held_share(replay: Replay, modes: Sequence[str], offset_s: float,
                window_s: float) -> tuple[float, pl.DataFrame]:
    """The share of the held requests meeting their SLO, and per (pool, window of the day)
    the share meeting what the pool's role decides (TTFT prefill, TPOT decode, both
    colocated) with the window's request count."""
    rows = replay.requests.filter(pl.col("slo_mode").is_in(list(modes))).with_columns(
        window_of_day(pl.col("arrival_s"), offset_s, window_s))
    overall = float(rows.select(pl.col("meets_slo").cast(pl.Float64).mean()).item() or 0.0) \
        if rows.height else 1.0
    both = pl.col("meets_ttft") & pl.col("meets_tpot")
    split = pl.col("pool_prefill") != pl.col("pool_decode")
    parts = [
        rows.select("hour", pl.col("pool_prefill").alias("pool_id"),
                    pl.when(split).then(pl.col("meets_ttft")).otherwise(both).alias("met")),
        rows.filter(split).select("hour", pl.col("pool_decode").alias("pool_id"),
                                  pl.col("meets_tpot").alias("met")),
    ]
    per = pl.concat(parts).group_by("pool_id", "hour").agg(
        pl.col("met").cast(pl.Float64).mean().alias("attainment"),
        pl.len().alias("requests")).sort("pool_id", "hour")
    return overall, per


def _nothing(reason: str, window_s: float) -> Schedule:
    return Schedule(None, {"window_s": window_s, "note": reason})


def fit_schedule(
    plan: Plan,
    requests: pl.DataFrame | pl.LazyFrame,
    perf: PerfModel,
    slos: Mapping[str, Slo],
    *,
    offset_s: float,
    schedule: str = "hourly",
    floor: int = DEFAULT_FLOOR,
    target: float = 0.99,
    replay: bool = True,
    max_iterations: int = MAX_ITERATIONS,
) -> Schedule:
    """The schedule of ``plan``'s pools over the day (see the module docstring).

    ``requests``: every request to replay (``tracelab.simulate.requests.
    scan_replay_requests``: ``arrival_s`` from the trace's first arrival), which is
    ``offset_s`` seconds after a midnight UTC. ``schedule``: the window (``SCHEDULES``,
    "hourly": 3600 s). ``floor``: the fewest replicas a pool with replicas keeps in any
    window. ``target``: the share of the requests held to a latency SLO that must meet it,
    overall and in every (pool, window). ``replay`` False sizes the schedule without
    replaying it."""
    if schedule not in SCHEDULES:
        msg = f"schedule {schedule!r}: use one of {', '.join(SCHEDULES)}"
        raise ConfigError(msg, param="schedule")
    if floor < 0:
        msg = f"schedule floor {floor}: need at least 0 replicas"
        raise ConfigError(msg, param="schedule_floor")
    window_s = SCHEDULES[schedule]
    lazy = requests.lazy()
    # Only the counts and the daily shape read every request; the rows themselves are
    # collected for a replay, at most MAX_SCHEDULE_REPLAY_REQUESTS of them.
    n, last = lazy.select(pl.len(), pl.col("arrival_s").max()).collect().row(0)
    span_s = float(last or 0.0)
    if span_s < MIN_WINDOWS * window_s:
        return _nothing(f"the trace spans {span_s / 3600:.2g} h, under {MIN_WINDOWS} windows of "
                        f"{window_s / 3600:g} h: nothing to schedule; the static fleet stands",
                        window_s)
    base = Fleet.from_plan_json(without_providers(plan.to_json()), source="the plan")
    if not base.pools:
        return _nothing("every class goes to a per-token provider: nothing to schedule",
                        window_s)
    offset_s = offset_s % DAY_S
    pool_ids = plan.fleet["pool_id"]
    committed = plan.hours or {}
    # A replica the schedule buys by the hour: the burst price under a commitment.
    price = {k: committed[k].burst_usd if k in committed else float(usd) for k, usd in zip(
        pool_ids, plan.fleet["usd_per_replica_hour"], strict=True)}
    reserved_usd = {k: v.reserved_usd for k, v in committed.items()}
    hours = windows_covered(span_s, offset_s, window_s)
    counts = first_counts(base.pools, daily_shape(lazy, offset_s, window_s), hours, floor)
    replayable = replay and n <= MAX_SCHEDULE_REPLAY_REQUESTS
    frame = drop_provider_requests(plan.ledger, lazy.collect(), plan.routes) if replayable \
        else pl.DataFrame()
    figures = load_figures()
    leads = {p.pool_id: lead_time(perf, p, figures) for p in base.pools}
    modes = sorted(m for m, s in slos.items() if s.ttft_s > 0 or s.tpot_s > 0)
    fleet_usd = dict(zip(pool_ids, plan.fleet["usd_per_hour"], strict=True))
    static = math.fsum(fleet_usd[p.pool_id] for p in base.pools)

    def table_of(chosen: Mapping[str, Mapping[int, int]]) -> pl.DataFrame:
        """The schedule table of ``chosen``, a committed pool's reserved base paid hourly."""
        held = reserved_base(chosen, hours, reserved_usd, price) if committed else {}
        return schedule_table(chosen, base.pools, price, window_s,
                              {k: (r, reserved_usd[k] or 0.0) for k, r in held.items()})
    static_n = {p.pool_id: p.replicas for p in base.pools}

    def run(chosen: Mapping[str, Mapping[int, int]], lag: bool) -> Replay:
        pools = tuple(replace(p, replicas=max(max(chosen[p.pool_id].values()), p.replicas),
                              available=availability(chosen[p.pool_id], span_s, offset_s,
                                                     window_s,
                                                     leads[p.pool_id].lead_s if lag else 0.0))
                      for p in base.pools)
        return simulate(frame, Fleet(pools, base.routes), perf, slos=slos, source="the plan")

    def run_static() -> Replay:
        return simulate(frame, base, perf, slos=slos, source="the plan")

    history: list[dict[str, object]] = []
    verified: dict[str, object] = {"replayed": False}
    if not replay:
        verified["note"] = "not replayed (the plan's replay is off)"
    elif not replayable:
        verified["note"] = (f"not replayed: {n:,} requests, over the "
                            f"{MAX_SCHEDULE_REPLAY_REQUESTS:,} a whole-trace replay takes")
    else:
        # The static fleet over the same requests, for comparison (it was verified on its
        # busiest window only).
        still, still_per = _held_share(run_static(), modes, offset_s, window_s)
        # Each (pool, window) is held to the target, or to what the static fleet attains
        # there when that is less, and grows up to its static count at most.
        goal = still_per.select("pool_id", "hour",
                                pl.col("attainment").clip(upper_bound=target).alias("goal"))
        short = still_per.filter(pl.col("attainment") < target).height
        previous: dict[tuple[str, int], float] = {}
        stuck: set[tuple[str, int]] = set()
        for iteration in range(max_iterations):
            replayed = run(counts, lag=True)
            overall, per = _held_share(replayed, modes, offset_s, window_s)
            missing = per.join(goal, on=["pool_id", "hour"], how="left").filter(
                pl.col("attainment") < pl.col("goal").fill_null(target) - 1e-9)
            history.append({"iteration": iteration, "attainment": overall,
                            "usd_per_hour": mean_usd_per_hour(table_of(counts), window_s),
                            "windows_missed": missing.height})
            grow = [(k, h, a) for k, h, a, *_ in missing.iter_rows()
                    if (k, h) not in stuck and k in counts and h in counts[k]
                    and counts[k][h] < static_n[k]]
            for k, h, a in grow:
                if (k, h) in previous and a <= previous[k, h] + 1e-9:
                    stuck.add((k, h))  # growing it did not help: leave it
                    continue
                previous[k, h] = a
                n = counts[k][h]
                counts[k][h] = min(static_n[k], n + max(1, math.ceil(n * (target - a) / target)))
            if not grow or iteration == max_iterations - 1:
                break
        worst = per.sort("attainment", "requests", descending=[False, True]).row(0, named=True) \
            if per.height else None
        warm, _ = _held_share(run(counts, lag=False), modes, offset_s, window_s)
        verified = {"replayed": True, "requests": frame.height, "target": target,
                    "modes": modes, "attained": overall, "attainment_target_met": overall >= target,
                    "attained_without_lag": warm, "lag_cost": warm - overall,
                    "static_attained": still,
                    "static_windows_missed": short,
                    "worst_window": worst, "iterations": history}
    table = table_of(counts)
    scheduled = mean_usd_per_hour(table, window_s)
    summary: dict[str, object] = {
        "window_s": window_s, "windows": hours, "floor": floor,
        "static_usd_per_hour": static, "scheduled_usd_per_hour": scheduled,
        "saving": 1.0 - scheduled / static if static > 0 else 0.0,
        "priced_at": PRICED_COMMITTED if committed else PRICED_AT,
        "prewarm_usd_per_hour": prewarm_usd_per_hour(
            counts, hours, price, {k: v.lead_s for k, v in leads.items()}),
        "lead_times": [v.to_json() for v in leads.values()],
        "replay": verified,
        "note": "",
    }
    if committed:
        summary["reserved"] = reserved_base(counts, hours, reserved_usd, price)
    return Schedule(table, summary)


__all__ = ["MAX_SCHEDULE_REPLAY_REQUESTS", "Schedule", "fit_schedule"]
