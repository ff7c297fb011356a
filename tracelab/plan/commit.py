"""Commitments: a reserved base paid every hour plus on-demand (or spot) burst replicas.

A static fleet sized for the busiest window pays for the peak all day. With commitments the
MILP (``tracelab.plan.milp``) splits each pool's ``n_k`` replicas into ``r_k`` reserved ones
(the device's 1- or 3-year price, paid for every hour of the span) and burst ones bought per
hour at the on-demand price (or the spot price, when allowed), only in the hours that need
them. The hours come from the trace: per model and phase, each hour's demand level is the
tokens its latency-bound classes send in that hour over those of its busiest hour (the
trace's own daily shape, as the schedule reads it): the pools are sized for the busiest
windows, which the busiest hour holds, and an hour at level f needs f of that, its bursts
shaped as the busiest hour's. Hours without requests are 0. Classes planned at their mean (a deadline longer than a
window) are flat: level 1 in every hour. The hours are sorted into at most MAX_LEVELS
bins (a load-duration curve; each bin at its busiest hour, so a bin never under-covers).

Per pool k and bin b with share of hours ``w_b`` and level ``f_cb`` for class c, integer
burst replicas ``s_kb``: ``Σ_c z_cr·load_{cr,k}·f_cb − r_k − s_kb ≤ 0``, ``s_kb + r_k ≤ n_k``,
``r_k ≤ n_k``; cost ``r_k·R_k + Σ_b s_kb·O_k·w_b`` ($/h averaged over the span). ``n_k``
keeps its pool row (the peak sizing), its limits and links, and costs only a tie-break.
A device without a reserved price has ``r_k ≤ 0``: it is bought on demand, by the hour.
Spot replicas are never the reserved base; preemption is not modelled (SPOT_PREEMPTION).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import polars as pl

from tracelab.errors import ConfigError
from tracelab.plan.demand import MODE
from tracelab.plan.hours import PoolHours, hourly_tokens
from tracelab.plan.routes import Pool, Route, pool_id

if TYPE_CHECKING:
    from tracelab.plan.demand import Demand
    from tracelab.plan.milp import Solution

TERMS = ("none", "1y", "3y")
# A class's (prefill, decode) demand in one bin of hours, as shares of its planned rates.
Level = tuple[float, float]
# Burst replicas are bought by the hour: cloud GPU instances bill per second, but starting
# one and loading weights takes minutes, so a replica bought for less than an hour is not
# one a capacity engineer would plan on.
BURST_WINDOW_S = 3600.0
MAX_LEVELS = 24
SPOT_PREEMPTION = (
    "spot replicas (burst only, never the reserved base) can be reclaimed at any time: Google "
    "Cloud 'Spot VMs' docs (30 s notice, no availability guarantee) and AWS 'Spot Instance "
    "interruptions' docs (2 min notice); the plan does not model preemption: a reclaimed "
    "replica's requests would queue on the rest or fail over to on-demand"
)


@dataclass(frozen=True)
class Commitments:
    """What the MILP may buy besides whole-span on-demand replicas.

    ``term``: "1y" or "3y"; ``spot``: burst replicas at the spot price where published.
    ``reserved``/``burst``: per device id, the reserved (resp. burst) price as a share of
    the on-demand price (absent: none published; burst falls back to on-demand, 1.0).
    ``levels``: per class, its (prefill, decode) demand level per bin; ``weights``: per model id, each bin's
    share of the span's hours (summing to 1)."""

    term: str
    spot: bool
    reserved: Mapping[str, float]
    burst: Mapping[str, float]
    levels: Mapping[str, tuple[Level, ...]]
    weights: Mapping[str, tuple[float, ...]]

    def burst_term(self, device: str) -> str:
        return "spot" if self.spot and device in self.burst else "on-demand"

    def price_term(self, device: str) -> str:
        """The price terms a pool on ``device`` is bought at, e.g. "reserved-1y + on-demand"."""
        base = f"reserved-{self.term} + " if device in self.reserved else ""
        return f"{base}{self.burst_term(device)} by the hour"


def hour_levels(window_tokens: pl.DataFrame, classes: pl.DataFrame,
                window_s: float, windows: int, flat: Sequence[str],
                ) -> tuple[dict[str, tuple[Level, ...]], dict[str, tuple[float, ...]]]:
    """(levels per class, bin weights per model) from the demand's busy windows
    (``window_tokens``: class_id, window, p, d tokens) and its ``classes`` (class_id,
    model_id); ``flat``: the classes planned at their mean."""
    hours = int((windows - 1) * window_s // BURST_WINDOW_S) + 1
    bound = classes.filter(~pl.col("class_id").is_in(list(flat))).select("class_id", "model_id")
    per_hour = (
        hourly_tokens(window_tokens.join(bound, on="class_id"), pl.col("window") * window_s,
                      "p", "d", BURST_WINDOW_S)
        .select("model_id", *[pl.when(pl.col(v).max().over("model_id") > 0)
                              .then(pl.col(v) / pl.col(v).max().over("model_id")).otherwise(0.0)
                              .alias(v) for v in ("prefill", "decode")])
        .sort("model_id", "prefill", "decode").collect()
    )
    weights: dict[str, tuple[float, ...]] = {}
    levels_of: dict[str, tuple[Level, ...]] = {}
    for model in sorted({str(m) for m in classes["model_id"].drop_nulls()}):
        busy = per_hour.filter(pl.col("model_id") == model).select("prefill", "decode").to_numpy()
        curve = np.r_[busy.reshape(-1, 2), np.zeros((max(0, hours - len(busy)), 2))]
        groups = _bins(curve)
        # Each bin at its busiest hour per phase, so a bin never under-covers an hour in it.
        levels_of[model] = tuple((float(g[:, 0].max()), float(g[:, 1].max())) for g in groups)
        weights[model] = tuple(len(g) / len(curve) for g in groups)
    levels: dict[str, tuple[Level, ...]] = {}
    for row in classes.filter(pl.col("model_id").is_not_null()).iter_rows(named=True):
        own = levels_of[str(row["model_id"])]
        levels[row["class_id"]] = tuple((1.0, 1.0) for _ in own) if row["class_id"] in flat \
            else own
    return levels, weights


def _bins(curve: np.ndarray) -> list[np.ndarray]:
    """The hours' (prefill, decode) levels (``curve``: one row per hour) in at most
    MAX_LEVELS bins: equal rows together, in descending order of their larger level; then,
    when there are more distinct rows than that, equal-sized runs of that order."""
    if len(curve) == 0:
        return [np.ones((1, 2))]
    rows, counts = np.unique(curve, axis=0, return_counts=True)
    order = np.lexsort((-rows[:, 1], -rows[:, 0], -rows.max(axis=1)))
    if len(rows) <= MAX_LEVELS:
        return [np.repeat(rows[i:i + 1], counts[i], axis=0) for i in order]
    ranked = curve[np.lexsort((-curve[:, 1], -curve[:, 0], -curve.max(axis=1)))]
    return [part for part in np.array_split(ranked, MAX_LEVELS) if len(part)]


@dataclass(frozen=True)
class Block:
    """The commitment columns and rows one program adds (after ``start``)."""

    cost: list[float]
    upper: list[float]
    rows: list[tuple[list[tuple[int, float]], float, float]]
    # Per committed pool: (pool, its n column, r column, [(s column, price, weight)]).
    pools: list[tuple[Pool, int, int, list[tuple[int, float, float]]]]


def commit_block(commit: Commitments, pool_list: Sequence[Pool], prices: Mapping[Pool, float],
                 flat: Sequence[tuple[str, Route]], n_pool: int, start: int) -> Block:
    """Columns (r_k, then s_kb per bin) and rows of every device pool (providers, size 0,
    keep their plain price). ``flat``: the program's (class, route) columns in order, after
    the ``n_pool`` replica columns."""
    cost: list[float] = []
    upper: list[float] = []
    rows: list[tuple[list[tuple[int, float]], float, float]] = []
    pools: list[tuple[Pool, int, int, list[tuple[int, float, float]]]] = []
    on_pool: dict[Pool, list[tuple[int, str, float, int]]] = {}  # (column, class, load, phase)
    for j, (c, r) in enumerate(flat):
        for phase, (pool, load) in enumerate(((r.prefill_pool, r.prefill_load),
                                              (r.decode_pool, r.decode_load))):
            on_pool.setdefault(pool, []).append((n_pool + j, c, load, phase))
    col = start
    for i, k in enumerate(pool_list):
        if not committed(k):
            continue
        device, price = k[0], prices[k]
        weights = commit.weights.get(k[1], (1.0,))
        r_col, col = col, col + 1
        cost.append(price * commit.reserved.get(device, math.inf))
        upper.append(math.inf if device in commit.reserved else 0.0)
        if not math.isfinite(cost[-1]):
            cost[-1] = 0.0
        rows.append(([(r_col, 1.0), (i, -1.0)], -math.inf, 0.0))  # r ≤ n
        burst = price * (commit.burst.get(device, 1.0) if commit.spot else 1.0)
        bins = []
        for b, w in enumerate(weights):
            s_col, col = col, col + 1
            cost.append(burst * w)
            upper.append(math.inf)
            bins.append((s_col, burst, w))
            rows.append(([(s_col, 1.0), (r_col, 1.0), (i, -1.0)], -math.inf, 0.0))  # s + r ≤ n
            # Σ z·load·level − r − s ≤ 0 (a colocated route's two phases add on one column)
            terms: dict[int, float] = {}
            for z, c, load, phase in on_pool.get(k, []):
                level = commit.levels.get(c, ((1.0, 1.0),) * len(weights))[b][phase]
                terms[z] = terms.get(z, 0.0) + load * level
            rows.append(([*terms.items(), (r_col, -1.0), (s_col, -1.0)], -math.inf, 0.0))
        pools.append((k, i, r_col, bins))
    return Block(cost, upper, rows, pools)


def committed(pool: Pool) -> bool:
    """Whether commitments price this pool (device pools; a per-token provider's has size 0)."""
    return pool[2] > 0


def read_block(block: Block, x: np.ndarray, prices: Mapping[Pool, float],
               commit: Commitments) -> tuple[dict[Pool, int], dict[Pool, float], dict[Pool, float]]:
    """(reserved replicas, $/h averaged over the span, replicas running on average) per
    committed pool of the solution ``x``."""
    reserved: dict[Pool, int] = {}
    usd: dict[Pool, float] = {}
    running: dict[Pool, float] = {}
    for k, _, r_col, bins in block.pools:
        r = round(x[r_col])
        held = [(round(x[s]), price, w) for s, price, w in bins]
        reserved[k] = r
        usd[k] = math.fsum([r * prices[k] * commit.reserved.get(k[0], 0.0),
                            *[s * price * w for s, price, w in held]])
        running[k] = math.fsum([float(r), *[s * w for s, _, w in held]])
    return reserved, usd, running


class CommitDevice(Protocol):
    """What commitments read of a catalog device (``tracelab.hardware.catalog.Device``)."""

    @property
    def id(self) -> str: ...
    @property
    def usd_per_hour(self) -> float | None: ...


def device_ratios(devices: Sequence[CommitDevice], term: str) -> tuple[dict[str, float],
                                                                       dict[str, float]]:
    """(reserved, spot) prices per device id as shares of its on-demand price, where the
    catalog lists them (a device without the field, or without an on-demand price, has none)."""
    reserved: dict[str, float] = {}
    spot: dict[str, float] = {}
    for d in devices:
        base = d.usd_per_hour
        if not base:
            continue
        for out, name in ((reserved, f"reserved_{term}_usd_per_hour"), (spot, "spot_usd_per_hour")):
            value = getattr(d, name, None)
            if value is not None:
                out[d.id] = float(value) / base
    return reserved, spot


def fit_commitments(devices: Sequence[CommitDevice], term: str, spot: bool, demand: Demand,
                    smooth_modes: Sequence[str]) -> Commitments:
    """The commitments of a fit: the devices' price ratios for ``term`` and the demand's
    hourly levels (``hour_levels``; classes of ``smooth_modes`` are flat)."""
    if term not in TERMS[1:]:
        msg = f"commitment {term!r}: unknown; use one of {', '.join(TERMS)}"
        raise ConfigError(msg, param="commitment")
    reserved, spot_ratio = device_ratios(devices, term)
    classes = demand.classes
    flat = classes.filter(pl.col(MODE).is_in(list(smooth_modes)))["class_id"].to_list()
    assert demand.window_tokens is not None
    levels, weights = hour_levels(demand.window_tokens, classes, demand.window_s,
                                  demand.windows, flat)
    return Commitments(term, spot, reserved, spot_ratio if spot else {}, levels, weights)


def commit_fleet(fleet: pl.DataFrame, chosen: Solution, commit: Commitments) -> pl.DataFrame:
    """``fleet`` with, per pool, its ``reserved`` and ``burst`` (peak) replicas, the
    ``price_term`` it is bought at, its ``usd_per_hour`` averaged over the span and its
    ``burst_usd_per_replica_hour``; per-token pools say "per-token"."""
    by_id = {pool_id(k): k for k in chosen.replicas}
    rows = [(by_id[p], p) for p in fleet["pool_id"]]
    reserved = [chosen.reserved.get(k, 0) for k, _ in rows]
    return fleet.with_columns(
        pl.Series("reserved", reserved, pl.Int64),
        (pl.col("replicas") - pl.Series(reserved, dtype=pl.Int64)).alias("burst"),
        pl.Series("price_term", [commit.price_term(k[0]) if committed(k) else "per-token"
                                 for k, _ in rows], pl.String),
        pl.Series("usd_per_hour", [chosen.pool_usd.get(k, n) for (k, _), n in zip(
            rows, fleet["usd_per_hour"], strict=True)], pl.Float64),
        (pl.col("usd_per_replica_hour") * pl.Series(
            [commit.burst.get(k[0], 1.0) if commit.spot else 1.0 for k, _ in rows],
            dtype=pl.Float64)).alias("burst_usd_per_replica_hour"),
    )


def pool_hours(chosen: Solution, commit: Commitments) -> dict[str, PoolHours]:
    """Per committed pool id of ``chosen``: its bins' demand (``Σ_c z·load·level``, the
    MILP's row) as shares of its busiest bin's, the bins' weights, and its reserved and burst
    prices per replica-hour; what pricing the pool at another size takes
    (``tracelab.plan.hours.PoolHours.price``)."""
    need: dict[Pool, np.ndarray] = {}
    for c, picked in chosen.fractions.items():
        for route, z in picked:
            for pool, load, phase in ((route.prefill_pool, route.prefill_load, 0),
                                      (route.decode_pool, route.decode_load, 1)):
                if not committed(pool):
                    continue
                weights = commit.weights.get(pool[1], (1.0,))
                level = commit.levels.get(c, ((1.0, 1.0),) * len(weights))
                row = need.setdefault(pool, np.zeros(len(weights)))
                row += z * load * np.array([lv[phase] for lv in level])
    out: dict[str, PoolHours] = {}
    for k in chosen.replicas:
        if not committed(k):
            continue
        weights = commit.weights.get(k[1], (1.0,))
        row = need.get(k, np.zeros(len(weights)))
        top = float(row.max()) if len(row) else 0.0
        price = chosen.pool_usd_per_hour[k]
        share = commit.reserved.get(k[0])
        out[pool_id(k)] = PoolHours(
            tuple(float(v) / top for v in row) if top > 0 else (1.0,) * len(weights),
            tuple(weights), None if share is None else price * share,
            price * (commit.burst.get(k[0], 1.0) if commit.spot else 1.0))
    return out


def ledger_scale(chosen: Solution) -> dict[str, float]:
    """Per committed pool id: what a running replica-hour cost (its $/h over the replicas
    running on average) as a share of the on-demand price the routes carry, so the ledger
    charges each request's replica-seconds at what the pool paid for them."""
    out: dict[str, float] = {}
    for k, usd in chosen.pool_usd.items():
        running = chosen.running.get(k, 0.0)
        price = chosen.pool_usd_per_hour[k]
        if running > 0 and price > 0:
            out[pool_id(k)] = usd / running / price
    return out


def commitment_assumptions(commit: Commitments, devices: Sequence[CommitDevice]) -> dict[str, object]:
    """What the plan took as given about commitments, with sources."""
    return {
        "term": commit.term,
        "spot": commit.spot,
        "burst_window_s": BURST_WINDOW_S,
        "levels": "per model and phase, each hour's tokens of its latency-bound classes over "
                  "its busiest hour's (the pools are sized for the busiest windows; an hour at "
                  "level f needs f of them), hours in at most "
                  f"{MAX_LEVELS} bins each at its busiest hour; mean-planned classes flat",
        "prices": [{"device_id": d.id, "reserved_share": commit.reserved.get(d.id),
                    "spot_share": commit.burst.get(d.id),
                    "source": getattr(d, "commitment_source", "") or None,
                    "as_of": getattr(d, "commitment_as_of", "") or None}
                   for d in devices if d.id in commit.reserved or d.id in commit.burst],
        "no_reserved_price": "a device without one is bought on demand, by the hour",
        "spot_preemption": SPOT_PREEMPTION if commit.spot else "spot not allowed",
        "repair": "a pool the replay's repair resizes keeps its hours' shape (an hour at level f "
                  "of its busiest needs f of its replicas, rounded up) and is repriced by the "
                  "MILP's rule: the cheapest reserved base, the rest burst by the hour",
    }
