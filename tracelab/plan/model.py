"""The fitted plan: pools, costs, baselines, routes, ledger and every assumption behind them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NotRequired, TypedDict

import polars as pl

from tracelab.plan.routes import Pool, pool_id

# The role of a per-token provider's pool (``tracelab.plan.providers``): no replicas.
API_ROLE = "api"

if TYPE_CHECKING:
    from tracelab.plan.hours import PoolHours
    from tracelab.plan.limits import Limits
    from tracelab.plan.milp import Solution
    from tracelab.plan.providers import PerTokenOption, ProviderAssumptions
    from tracelab.plan.routes import Route

# One row per pool (device, model, devices per replica, role): the fleet.
FLEET_SCHEMA: dict[str, pl.DataType] = {
    "device_id": pl.String(),
    "model_id": pl.String(),
    "replicas": pl.Int64(),
    "devices": pl.Int64(),
    "usd_per_hour": pl.Float64(),
    "role": pl.String(),
    "pool_id": pl.String(),
    "devices_per_replica": pl.Int64(),
    "usd_per_replica_hour": pl.Float64(),
    "precision": pl.String(),
}
# The fields of a pool in plan.json (the simulator's ``PoolSpec``) and its $/h.
POOL_FIELDS = ("pool_id", "device_id", "model_id", "devices_per_replica", "replicas", "role",
               "precision", "usd_per_hour")


class Baseline(TypedDict):
    device_id: str
    usd_per_hour: float
    optimality_gap: float


class PlanSettings(TypedDict):
    """The options the plan was fitted with (``fit_plan``'s names), and what the solve found."""

    by: str
    window_s: float
    percentile: float
    growth: float
    precision: str
    only: list[str]
    exclude: list[str]
    reference_device: str
    windows: int
    optimality_gap: float
    solver_timed_out: bool  # HiGHS stopped at its wall-clock safety limit, not by its nodes
    max_device_types: int | None
    max_pools: int | None
    headroom: bool
    commitment: NotRequired[str]  # "1y"/"3y" when the plan bought commitments
    spot: NotRequired[bool]
    reference_infeasible: NotRequired[str]  # why no fleet on the reference device alone


class PriceAssumption(TypedDict):
    device_id: str
    usd_per_hour: float | None  # None: the catalog lists no price
    source: str


class ValueAssumption(TypedDict):
    value: int
    source: str


class UtilisationAssumption(TypedDict):
    max: float
    prefill: str


class PlanAssumptions(TypedDict):
    """What the plan took as given, each with its source: read by the report as JSON."""

    prices: list[PriceAssumption]
    model_mapping: list[dict[str, object]]
    efficiencies: str
    chunk_tokens: ValueAssumption
    utilisation: UtilisationAssumption
    kv_transfer: str
    max_disaggregated_routes_per_class: int
    span: str
    demand: str
    providers: NotRequired[ProviderAssumptions]  # per-token providers (tracelab.plan.providers)
    replay_engine: NotRequired[dict[str, object]]  # the replay's scheduler (SimOptions.describe)
    commitments: NotRequired[dict[str, object]]  # reserved/spot terms (tracelab.plan.commit)


def fleet_frame(replicas: Mapping[Pool, int], usd_per_replica_hour: Mapping[Pool, float],
                precision: str) -> pl.DataFrame:
    """The fleet: one row per pool with replicas, sorted by pool id."""
    rows = [
        {"device_id": k[0], "model_id": k[1], "replicas": n, "devices": n * k[2],
         "usd_per_hour": n * usd_per_replica_hour[k], "role": k[3], "pool_id": pool_id(k),
         "devices_per_replica": k[2], "usd_per_replica_hour": usd_per_replica_hour[k],
         "precision": precision}
        for k, n in sorted(replicas.items(), key=lambda kv: pool_id(kv[0])) if n > 0
    ]
    return pl.DataFrame(rows, schema=FLEET_SCHEMA)


def price_per_token_pools(fleet: pl.DataFrame, per_token: pl.DataFrame) -> pl.DataFrame:
    """``fleet`` whose per-token provider pools (role ``api``) hold no replicas and no devices
    and cost the $/h of the tokens the ledger sent them (``per_token``: ``pool_id``,
    ``usd_per_hour``; ``tracelab.plan.providers.per_token_frame``): no idle $."""
    spend = dict(zip(per_token["pool_id"], per_token["usd_per_hour"], strict=True))
    api = pl.col("role") == API_ROLE
    return fleet.with_columns(
        *[pl.when(api).then(0).otherwise(pl.col(c)).alias(c) for c in ("replicas", "devices")],
        pl.when(api).then(pl.col("pool_id").replace_strict(spend, default=0.0,
                                                           return_dtype=pl.Float64))
        .otherwise(pl.col("usd_per_hour")).alias("usd_per_hour"),
        pl.when(api).then(0.0).otherwise(pl.col("usd_per_replica_hour"))
        .alias("usd_per_replica_hour"),
    )


def routes_frame(fractions: Mapping[str, Sequence[tuple[Route, float]]],
                 reasons: Mapping[tuple[str, Route], str]) -> pl.DataFrame:
    """One row per (class, chosen route) with its pools, fraction and fluid estimates."""
    rows = []
    for class_id, chosen in sorted(fractions.items()):
        for route, z in sorted(chosen, key=lambda rz: rz[0].key):
            rows.append({
                "class_id": class_id, "prefill_pool": pool_id(route.prefill_pool),
                "decode_pool": pool_id(route.decode_pool), "prefill_device": route.prefill_device,
                "decode_device": route.decode_device, "fraction": z,
                "colocated": route.colocated, "ttft_s": route.ttft_s, "tpot_s": route.tpot_s,
                "stretch": route.stretch, "chunk_tokens": route.chunk_tokens,
                "kv_transfer_s": route.transfer_s,
                "prefill_tokens_per_s_per_replica": route.prefill_tokens_per_s,
                "decode_tokens_per_s_per_replica": route.decode_tokens_per_s,
                "reason": reasons[(class_id, route)],
            })
    return pl.DataFrame(rows)


@dataclass(frozen=True)
class PlanContext:
    """What a fit keeps to build the plan of another fleet over the same candidate routes
    (the replay's repair changes replica shapes this way): every class's SLO-feasible
    ``routes``, the ``solution`` the plan was built from, ``build`` (a Solution whose routes
    are among ``routes`` → its Plan, ledger included) and the fit's ``limits``."""

    routes: Mapping[str, Sequence[Route]]
    solution: Solution
    build: Callable[[Solution], Plan]
    limits: Limits


@dataclass
class Plan:
    """A tier-mix plan. Money in USD, time in hours unless the name says otherwise.

    ``fleet``: one row per pool (device, model, devices per replica, role) with ``pool_id``,
    ``replicas``, ``devices`` (replicas × devices per replica), ``usd_per_hour`` (for all its
    replicas). ``baselines``: ``h100`` and ``best_single`` (each None when infeasible) with
    their $/h and optimality gap. ``ledger``: one row per request, lazy (a plan over the
    input: ``sink_parquet`` it or aggregate it), with its prefill and decode pools.
    ``ledger_groups``: the ledger summed per (class, route) — ``requests``, token totals,
    ``prefill_usd``/``decode_usd`` and the route's ``reason`` — from which ``ledger_usd``,
    ``tokens`` and ``rollup`` come. ``replay``: the replay's summary once the fleet was
    verified (``plan/repair.py``), else None.
    ``fleet_usd = usd_per_hour × span_hours = Σ ledger $ + idle_usd``.
    """

    fleet: pl.DataFrame
    baselines: dict[str, Baseline | None]
    routes: pl.DataFrame
    classes: pl.DataFrame
    ledger: pl.LazyFrame
    ledger_groups: pl.DataFrame
    rollup: pl.DataFrame
    span_hours: float
    ledger_usd: float
    tokens: int
    growth: float
    slos: dict[str, dict[str, str | float]]
    settings: PlanSettings
    # Sourced (prices, efficiencies, ...): read by the report as JSON.
    assumptions: PlanAssumptions
    models: pl.DataFrame | None = None
    replay: dict[str, object] | None = None
    # Per provider pool: the requests, tokens and $ the ledger sent there (None: no providers).
    per_token: pl.DataFrame | None = None
    # Per model, its tokens' $/h at per-token providers the plan was not given
    # (``tracelab.plan.providers.per_token_options``): ``per_token_alternatives`` weighs them.
    per_token_options: Sequence[PerTokenOption] = ()
    # The plan's pools per window of the day (``tracelab.plan.schedule_replay``): the
    # summary (plan.json's ``schedule``) and the table (None when nothing is scheduled).
    schedule: dict[str, object] | None = None
    schedule_table: pl.DataFrame | None = None
    # With commitments: per committed pool id, its hours as the MILP planned them and its
    # reserved and burst prices (``tracelab.plan.hours.PoolHours``), to reprice a resized pool.
    hours: Mapping[str, PoolHours] | None = None
    context: PlanContext | None = field(default=None, repr=False, compare=False)

    @property
    def usd_per_hour(self) -> float:
        return math.fsum(self.fleet["usd_per_hour"])

    @property
    def fleet_usd(self) -> float:
        return self.usd_per_hour * self.span_hours

    @property
    def idle_usd(self) -> float:
        return self.fleet_usd - self.ledger_usd

    @property
    def idle_share(self) -> float:
        """Share of the fleet's cost no request used."""
        return self.idle_usd / self.fleet_usd if self.fleet_usd > 0 else 0.0

    @property
    def usd_per_mtok(self) -> float:
        # The fleet is sized for the trace's demand × growth, so it serves that many tokens.
        return self.fleet_usd / (self.tokens * self.growth / 1e6) if self.tokens else 0.0

    @property
    def requests(self) -> int:
        """Requests in the ledger (planned or not)."""
        return int(self.ledger_groups["requests"].sum() or 0)

    @property
    def cache_hit_tokens(self) -> int:
        """Prompt tokens served from cache (the log's cached tokens plus simulated hits)."""
        return int(self.ledger_groups["cache_hit_tokens"].sum() or 0)

    @property
    def baseline_h100_usd_per_hour(self) -> float | None:
        h100 = self.baselines.get("h100")
        return None if h100 is None else float(h100["usd_per_hour"])

    @property
    def best_single_device_usd_per_hour(self) -> float | None:
        best = self.baselines.get("best_single")
        return None if best is None else float(best["usd_per_hour"])

    def with_replicas(self, replicas: Mapping[str, int],
                      replay: dict[str, object] | None = None) -> Plan:
        """The same plan with the replicas of some pools (by id) changed: the ledger's
        per-token charges stay, the fleet's cost and idle $ follow. A pool at 0 stays
        listed only while a route uses it (its requests then wait: the replay says so)."""
        fleet = self.fleet.with_columns(
            pl.col("pool_id").replace_strict(dict(replicas), default=pl.col("replicas"),
                                             return_dtype=pl.Int64).alias("replicas"))
        if "reserved" in fleet.columns:
            return replace(self, fleet=_recommit(self.fleet, fleet, self.hours or {}),
                           replay=replay if replay is not None else self.replay)
        per_token = pl.col("role") == API_ROLE  # priced by the tokens sent, not by replicas
        fleet = fleet.with_columns(
            (pl.col("replicas") * pl.col("devices_per_replica")).alias("devices"),
            pl.when(per_token).then(pl.col("usd_per_hour"))
            .otherwise(pl.col("replicas") * pl.col("usd_per_replica_hour")).alias("usd_per_hour"))
        return replace(self, fleet=fleet, replay=replay if replay is not None else self.replay)

    def savings(self) -> dict[str, float | None]:
        """Fractional saving of the plan against each baseline (0.25 = 25 % cheaper)."""
        out: dict[str, float | None] = {}
        for key, base in self.baselines.items():
            cost = None if base is None else float(base["usd_per_hour"])
            out[key] = None if not cost else 1.0 - self.usd_per_hour / cost
        return out

    def per_token_alternatives(self) -> list[dict[str, object]]:
        """The models whose pools cost more per hour than their tokens would at a per-token
        provider (``per_token_options``), dearest saving first: ``model_id``, ``pools``,
        ``pools_usd_per_hour``, ``usd_per_hour`` (per token), ``providers``, ``requests``,
        ``saving_usd_per_hour``. Not planned and not replayed: the provider's published
        latency is taken as met (``assumptions.providers`` says how a plan with them runs)."""
        hosted = self.fleet.filter((pl.col("role") != API_ROLE) & (pl.col("replicas") > 0))
        requests = dict(self.classes.group_by("model_id").agg(pl.col("requests").sum()).iter_rows()
                        ) if "requests" in self.classes.columns else {}
        found: list[tuple[float, str, dict[str, object]]] = []
        for option in self.per_token_options:
            mine = hosted.filter(pl.col("model_id") == option["model_id"])
            usd = math.fsum(mine["usd_per_hour"])
            saving = usd - option["usd_per_hour"]
            if mine.height and saving > 0:
                found.append((-saving, option["model_id"], {
                    **option, "pools": mine["pool_id"].to_list(), "pools_usd_per_hour": usd,
                    "requests": int(requests.get(option["model_id"], 0)),
                    "saving_usd_per_hour": saving}))
        return [entry for _, _, entry in sorted(found, key=lambda f: (f[0], f[1]))]

    def pools(self) -> list[dict[str, object]]:
        """The pools as plan.json lists them (the simulator's ``PoolSpec`` fields + $/h)."""
        return [{k: row[k] for k in POOL_FIELDS} for row in self.fleet.iter_rows(named=True)]

    def to_json(self) -> dict[str, object]:
        """Machine summary (``schemas/plan.schema.json``); the ledger itself is Parquet."""
        savings = self.savings()
        out: dict[str, object] = {
            "usd_per_hour": self.usd_per_hour,
            "baseline_h100_usd_per_hour": self.baseline_h100_usd_per_hour,
            "best_single_device_usd_per_hour": self.best_single_device_usd_per_hour,
            "best_single_device_id": best["device_id"] if (best := self.baselines.get(
                "best_single")) else None,
            "savings_vs_h100": savings.get("h100"),
            "savings_vs_best_single": savings.get("best_single"),
            "span_hours": self.span_hours,
            "fleet_usd": self.fleet_usd,
            "ledger_usd": self.ledger_usd,
            "idle_usd": self.idle_usd,
            "idle_share": self.idle_share,
            "tokens": self.tokens,
            "usd_per_mtok": self.usd_per_mtok,
            "requests": self.requests,
            "pools": self.pools(),
            "fleet": _records(self.fleet.filter(pl.col("replicas") > 0)),
            "routes": _records(self.routes),
            "classes": _records(self.classes),
            "models": [] if self.models is None else _records(self.models),
            "rollup": _records(self.rollup),
            "slos": self.slos,
            "settings": self.settings,
            "assumptions": self.assumptions,
        }
        if self.per_token is not None and self.per_token.height:
            out["per_token"] = _records(self.per_token)
        if alternatives := self.per_token_alternatives():
            out["per_token_alternatives"] = alternatives
        if self.replay is not None:
            out["replay"] = self.replay
        if self.schedule is not None:
            out["schedule"] = self.schedule
        return out


def _recommit(before: pl.DataFrame, after: pl.DataFrame,
              hours: Mapping[str, PoolHours]) -> pl.DataFrame:
    """A committed fleet with new replica counts (``after``). A resized pool with ``hours``
    is repriced by the MILP's rule (``PoolHours.price``: its hours keep their shape, the
    cheapest reserved base, the rest burst by the hour); one without (never the case for a
    pool the MILP committed) has its added or removed replicas burst every hour."""
    was = dict(zip(before["pool_id"], before["replicas"], strict=True))
    repriced = {k: hours[k].price(n) for k, n in zip(after["pool_id"], after["replicas"],
                                                       strict=True)
                if k in hours and n != was.get(k)}
    delta = pl.col("replicas") - before["replicas"]
    kept = pl.col("pool_id").is_in(list(repriced)).not_()
    return after.with_columns(
        (pl.col("replicas") * pl.col("devices_per_replica")).alias("devices"),
        pl.when(pl.col("role") == API_ROLE).then(pl.col("usd_per_hour"))
        .when(kept).then(
            (pl.col("usd_per_hour") + delta * pl.col("burst_usd_per_replica_hour")).clip(0.0))
        .otherwise(pl.col("pool_id").replace_strict(
            {k: usd for k, (_, usd) in repriced.items()}, default=None,
            return_dtype=pl.Float64))
        .alias("usd_per_hour"),
        pl.when(kept).then(pl.min_horizontal("reserved", "replicas"))
        .otherwise(pl.col("pool_id").replace_strict(
            {k: r for k, (r, _) in repriced.items()}, default=None, return_dtype=pl.Int64))
        .alias("reserved"),
    ).with_columns((pl.col("replicas") - pl.col("reserved")).alias("burst"))


def _clean(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pl.DataFrame) -> list[dict[str, object]]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dicts()]
