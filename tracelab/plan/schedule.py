"""Schedules: the static plan's pools with a replica count per time-of-day window.

A static fleet is sized for the busiest hour and pays for it all day. A schedule keeps the
plan's pools (device, model, replica size, role, routes) and gives each a count per window
of the day (hourly by default), from the trace's own daily shape:

- the shape: per model and window of the day, the tokens its requests bring (prefill and
  output separately), the most over the days the trace covers (a window's first and last
  partial days count as they are);
- first guess: a pool's count in a window is its static count × that window's tokens ÷
  the busiest window's (prefill tokens for a prefill pool, output tokens for a decode pool,
  the larger share of the two for a colocated one), rounded up, never below ``floor`` for a
  pool that has replicas;
- a replica the schedule adds at a window's start loads its weights first: its lead time
  is the weight bytes ÷ the slower of the storage read rate and its host links
  (``tracelab/data/schedule.toml``, the catalog's ``link_gbs``), and it serves only after
  it; a replica removed takes no new request and drains what it holds;
- the replay (``tracelab.plan.schedule_replay``) runs the whole trace through the counts,
  lag included, and grows the counts of the windows whose requests miss the target.

Cost: a window's $ is its replicas × their price for the window; the mean over the day's
windows is the schedule's $/h, against the static fleet's (its device pools; per-token
providers are charged per token either way). Under a commitment each pool keeps a reserved
base (``reserved_base``: the MILP's rule on its counts, so at least the floor the day never
goes under, where reserving is the cheaper), paid in every window, and buys the window's
replicas beyond it by the hour, on demand or spot.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tracelab.errors import ConfigError
from tracelab.hardware import roofline as rf
from tracelab.hardware.perf import PerfModel
from tracelab.plan.hours import cheapest_base, hourly_tokens
from tracelab.resources import data_path
from tracelab.simulate.fleet import PoolSpec

SCHEDULES = {"hourly": 3600.0}
SCHEDULE_CHOICES = (*SCHEDULES, "none")
DAY_S = 86400.0
DEFAULT_FLOOR = 1
# A trace shorter than two windows has no daily shape to follow.
MIN_WINDOWS = 2
TABLE_SCHEMA = {"hour": pl.Int64, "pool_id": pl.String, "replicas": pl.Int64,
                "devices": pl.Int64, "usd": pl.Float64}


@dataclass(frozen=True)
class LoadFigures:
    """How fast a new replica reads its weights: local storage GB/s and its source."""

    storage_gbs: float
    source: str
    as_of: str


@dataclass(frozen=True)
class LeadTime:
    """Seconds from a scale-up decision until the replica serves: weights ÷ load rate."""

    pool_id: str
    weight_bytes: float
    load_gbs: float
    lead_s: float
    source: str

    def to_json(self) -> dict[str, object]:
        return {"pool_id": self.pool_id, "weight_bytes": self.weight_bytes,
                "load_gbs": self.load_gbs, "lead_s": self.lead_s, "source": self.source}


def load_figures(path: Path | None = None) -> LoadFigures:
    """The scale-up figures of ``path`` (default: the bundled ``schedule.toml``)."""
    source = path or data_path("schedule.toml")
    with source.open("rb") as f:
        load = tomllib.load(f).get("load", {})
    gbs = load.get("storage_gbs")
    if not isinstance(gbs, int | float) or gbs <= 0:
        msg = f"{source}: [load] storage_gbs must be a positive number of GB/s, got {gbs!r}"
        raise ConfigError(msg)
    return LoadFigures(float(gbs), str(load.get("source", "")), str(load.get("as_of", "")))


def lead_time(perf: PerfModel, pool: PoolSpec, figures: LoadFigures) -> LeadTime:
    """The pool's scale-up lead time: its model's weight bytes at the pool's precision ÷
    min(storage GB/s, devices per replica × the device's host link GB/s)."""
    weights = rf.weight_bytes(perf.model(pool.model_id), pool.precision)
    link = perf.catalog.get(pool.device_id).link_gbs
    rates = [(figures.storage_gbs, f"storage read {figures.storage_gbs:g} GB/s ({figures.source})")]
    if link is not None and link > 0:
        host = link * pool.devices_per_replica
        rates.append((host, f"host link {pool.devices_per_replica} × {link:g} GB/s "
                            f"({pool.device_id} link_gbs, catalog)"))
    gbs, why = min(rates)
    return LeadTime(pool.pool_id, weights, gbs, weights / (gbs * 1e9), why)


def window_of_day(arrival_s: pl.Expr, offset_s: float, window_s: float) -> pl.Expr:
    """The window of the day (0 = the one starting at midnight UTC) of ``arrival_s``
    (seconds from the trace's first arrival, which is ``offset_s`` after a midnight)."""
    per_day = round(DAY_S / window_s)
    return (((arrival_s + offset_s) // window_s).cast(pl.Int64) % per_day).alias("hour")


def daily_shape(requests: pl.DataFrame | pl.LazyFrame, offset_s: float,
                window_s: float) -> pl.DataFrame:
    """Per ``model_id`` and window of the day (``hour``), the most prefill and output
    tokens any day brought in it (columns ``prefill``, ``decode``): the trace's windows
    (``tracelab.plan.hours.hourly_tokens``) folded onto the day."""
    per_day = round(DAY_S / window_s)
    return (hourly_tokens(requests, pl.col("arrival_s"), "prefill_tokens", "output_tokens",
                          window_s, offset_s)
            .group_by("model_id", (pl.col("window") % per_day).alias("hour"))
            .agg(pl.col("prefill", "decode").max())
            .sort("model_id", "hour").collect())


def windows_covered(span_s: float, offset_s: float, window_s: float) -> list[int]:
    """The windows of the day a trace of ``span_s`` seconds from ``offset_s`` touches."""
    per_day = round(DAY_S / window_s)
    first = math.floor(offset_s / window_s)
    last = math.floor((offset_s + span_s) / window_s)
    return sorted({w % per_day for w in range(first, min(last, first + per_day - 1) + 1)})


def first_counts(pools: Sequence[PoolSpec], shape: pl.DataFrame, hours: Sequence[int],
                 floor: int) -> dict[str, dict[int, int]]:
    """Per pool and window, the static count scaled by the window's share of its model's
    busiest window (see the module docstring), at least ``floor`` for pools with replicas."""
    out: dict[str, dict[int, int]] = {}
    for pool in pools:
        rows = shape.filter(pl.col("model_id") == pool.model_id)
        peak = {c: float(rows[c].fill_null(0.0).max() or 0.0)  # type: ignore[arg-type]
                for c in ("prefill", "decode")}
        by_hour = {int(r["hour"]): r for r in rows.iter_rows(named=True)}
        wanted = {"prefill": ("prefill",), "decode": ("decode",)}.get(pool.role,
                                                                     ("prefill", "decode"))
        counts = {}
        for hour in hours:
            row = by_hour.get(hour)
            share = max((row[c] / peak[c] if row is not None and peak[c] > 0 else 0.0)
                        for c in wanted)
            need = math.ceil(pool.replicas * share - 1e-9)
            counts[hour] = 0 if pool.replicas == 0 else min(pool.replicas, max(floor, need))
        out[pool.pool_id] = counts
    return out


def availability(counts: Mapping[int, int], span_s: float, offset_s: float, window_s: float,
                 lead_s: float) -> tuple[tuple[float, int], ...]:
    """Replicas in service over the replay (seconds from its first arrival): each window's
    count from its start, except that replicas added at a window's start serve only
    ``lead_s`` later (lead 0: the schedule warmed them up ahead)."""
    per_day = round(DAY_S / window_s)
    first = math.floor(offset_s / window_s)
    steps: list[tuple[float, int]] = []
    before = None
    for w in range(first, math.floor((offset_s + span_s) / window_s) + 1):
        start = max(w * window_s - offset_s, 0.0)
        n = counts[w % per_day]
        if before is not None and n > before and lead_s > 0:
            steps.append((start, before))
            steps.append((start + min(lead_s, window_s), n))
        else:
            steps.append((start, n))
        before = n
    return tuple(steps)


def reserved_base(counts: Mapping[str, Mapping[int, int]], hours: Sequence[int],
                  reserved_usd: Mapping[str, float | None],
                  burst_usd: Mapping[str, float]) -> dict[str, int]:
    """Per pool, the reserved replicas of its schedule under a commitment: the MILP's rule
    (``tracelab.plan.hours.cheapest_base``) on its counts, each window of the day an equal
    share. The floor (the fewest any window runs) is reserved whenever a reserved
    replica-hour is the cheaper; a replica above it too when the windows that run it are
    more than the reserved-to-burst price ratio of the day. A pool without a reserved price
    (``reserved_usd`` None or absent) has none."""
    share = [1.0 / len(hours)] * len(hours) if hours else []
    return {k: cheapest_base([by_hour[h] for h in hours], share, reserved_usd.get(k),
                             burst_usd[k])[0] for k, by_hour in counts.items()}


def schedule_table(counts: Mapping[str, Mapping[int, int]], pools: Sequence[PoolSpec],
                   usd_per_replica_hour: Mapping[str, float], window_s: float,
                   base: Mapping[str, tuple[int, float]] | None = None) -> pl.DataFrame:
    """One row per window of the day and pool: ``hour``, ``pool_id``, ``replicas``,
    ``devices``, ``usd`` (the window's cost). ``usd_per_replica_hour``: the price of a
    replica bought by the hour; ``base``: per committed pool, its reserved replicas and their
    price per replica-hour, paid in every window (the window's replicas beyond them at the
    hourly price)."""
    size = {p.pool_id: p.devices_per_replica for p in pools}
    held = base or {}

    def usd(k: str, n: int) -> float:
        r, reserved = held.get(k, (0, 0.0))
        return (r * reserved + max(n - r, 0) * usd_per_replica_hour[k]) * window_s / 3600.0

    rows = [{"hour": h, "pool_id": k, "replicas": n, "devices": n * size[k], "usd": usd(k, n)}
            for k, by_hour in counts.items() for h, n in by_hour.items()]
    return pl.DataFrame(rows, schema=TABLE_SCHEMA).sort("hour", "pool_id")


def prewarm_usd_per_hour(counts: Mapping[str, Mapping[int, int]], hours: Sequence[int],
                         usd_per_replica_hour: Mapping[str, float],
                         lead_s: Mapping[str, float]) -> float:
    """Mean $/h more a schedule pays to start each added replica one lead time before its
    window (so it serves from the window's start): the boot seconds of every scale-up."""
    if not hours:
        return 0.0
    extra = 0.0
    for k, by_hour in counts.items():
        for before, hour in itertools.pairwise(hours):
            added = max(by_hour[hour] - by_hour[before], 0)
            extra += added * usd_per_replica_hour[k] * lead_s[k] / 3600.0
    return extra / len(hours)


def mean_usd_per_hour(table: pl.DataFrame, window_s: float) -> float:
    """The schedule's mean $/h over its windows."""
    windows = table["hour"].n_unique()
    return float(table["usd"].sum()) / (windows * window_s / 3600.0) if windows else 0.0


__all__ = ["DEFAULT_FLOOR", "SCHEDULES", "SCHEDULE_CHOICES", "LeadTime", "LoadFigures",
           "availability", "daily_shape", "first_counts", "lead_time", "load_figures",
           "reserved_base", "schedule_table", "windows_covered"]
