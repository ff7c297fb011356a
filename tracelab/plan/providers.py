"""Per-token providers (serverless APIs) as plan tiers: linear cost, no replicas.

A provider serving a model is a route whose one pool, ``(api:<provider>, model, 0, "api")``,
is bought in units of API_UNIT_USD per hour inside the MILP: a unit "serves" the tokens per
second that cost API_UNIT_USD an hour at the provider's price, so the pool row ``Σ load·z ≤ n``
prices the class's tokens linearly (rounded up to one unit: API_UNIT_USD/h at most) and the
ledger's per-token charge (``$/h ÷ 3600 ÷ tokens/s``) is the provider's price per token exactly.

- a per-token route's cost is linear in the tokens sent, so it is priced at the class's mean
  rate over the span (× growth), not at the percentile the replicas are sized for: a provider
  absorbs the peaks and bills the tokens;
- the plan holds no units: its fleet lists a provider pool with 0 replicas and 0 devices at
  the $/h of the tokens the ledger sent there (``per_token_frame``), so it has no idle $;

- prefill is charged at the class's effective input price: its uncached prompt tokens at
  ``usd_per_m_input`` and its cache-hit tokens at ``usd_per_m_cached_input`` (the input
  price when the provider publishes none), both spread over the uncached tokens the ledger
  counts; decode at ``usd_per_m_output``;
- a provider is eligible for a class only when its published TTFT fits the class's TTFT
  budget, one token per ``1 / output_tokens_per_s`` fits its TPOT, and both fit its deadline;
  a provider without a published figure is eligible only where the class sets no target on it;
- no queueing and no rate limit: the provider's published median is taken as every request's
  latency (an assumption the report states); its requests are not replayed.

Provider routes are not ``single_type``: they never form a single-device baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypedDict, cast

import polars as pl

from tracelab.datafile import read_validated_toml
from tracelab.errors import ConfigError
from tracelab.plan.model import API_ROLE
from tracelab.plan.routes import ClassSpec, Route
from tracelab.resources import data_path

PROVIDERS_FILE = "providers.toml"
PROVIDERS_SCHEMA = "providers.schema.json"
API_PREFIX = "api:"
# $/h one provider "replica" stands for: the MILP rounds a provider's spend up to this.
API_UNIT_USD = 0.001
BUNDLED = "bundled"
FIELDS = ("provider", "model_id", "usd_per_m_input", "usd_per_m_cached_input",
          "usd_per_m_output", "ttft_s", "output_tokens_per_s", "source", "as_of", "notes")


class ProviderEntry(TypedDict):
    """One row of the providers table as plan.json lists it."""

    id: str
    provider: str
    model_id: str
    usd_per_m_input: float | None
    usd_per_m_cached_input: float | None
    usd_per_m_output: float | None
    ttft_s: float | None
    output_tokens_per_s: float | None
    source: str
    as_of: str
    notes: str


class ProviderAssumptions(TypedDict):
    """What the plan took as given about providers (``Plan.assumptions["providers"]``)."""

    table: list[ProviderEntry]
    latency: str
    cached_input: str
    unit_usd_per_hour: float
    pricing: str


@dataclass(frozen=True)
class Provider:
    """One (provider, model) price and speed; None where nothing was published."""

    id: str
    provider: str
    model_id: str
    usd_per_m_input: float | None = None
    usd_per_m_cached_input: float | None = None
    usd_per_m_output: float | None = None
    ttft_s: float | None = None
    output_tokens_per_s: float | None = None
    source: str = ""
    as_of: str = ""
    notes: str = ""

    @property
    def priced(self) -> bool:
        return self.usd_per_m_input is not None and self.usd_per_m_output is not None

    @property
    def device_id(self) -> str:
        return f"{API_PREFIX}{self.provider}"

    def to_dict(self) -> ProviderEntry:
        return cast("ProviderEntry", {"id": self.id, **{k: getattr(self, k) for k in FIELDS}})


class ProviderRoute(Route):
    """A route to a per-token provider: one pool, never part of a single-device baseline."""

    @property
    def single_type(self) -> bool:
        return False


def is_provider_pool(pool_id: str) -> bool:
    return pool_id.startswith(API_PREFIX)


def load_providers(path: Path | str | None = None, *, bundled: bool = True) -> list[Provider]:
    """The bundled table (``tracelab/data/providers.toml``) with ``path``'s entries added or
    overriding fields of the same id; sorted by id. ``ConfigError`` names the file and entry."""
    entries: dict[str, dict[str, Any]] = {}
    files = ([data_path(PROVIDERS_FILE)] if bundled else []) + ([Path(path)] if path else [])
    for file in files:
        data = read_validated_toml(file, PROVIDERS_SCHEMA)
        for key, raw in data.get("providers", {}).items():
            merged = {**entries.get(key, {}), **raw}
            for field in ("provider", "model_id"):
                if field not in merged:
                    msg = f"{file} entry '{key}' field '{field}': missing; add it"
                    raise ConfigError(msg, param="providers")
            entries[key] = merged
    return [Provider(id=k, **v) for k, v in sorted(entries.items())]


def read_providers_option(value: str | Path | None) -> tuple[Provider, ...]:
    """The providers an option names: None → none; ``"bundled"`` → the bundled table; a
    path → the bundled table with that file's entries over it."""
    if value is None:
        return ()
    if str(value) == BUNDLED:
        return tuple(load_providers())
    return tuple(load_providers(value))


def _eligible(spec: ClassSpec, p: Provider) -> bool:
    budget = spec.slo.ttft_budget_s(spec.context_tokens)
    tpot = spec.slo.tpot_budget_s()
    if budget is not None and (p.ttft_s is None or p.ttft_s > budget):
        return False
    if tpot is not None and (p.output_tokens_per_s is None or 1 / p.output_tokens_per_s > tpot):
        return False
    deadline = spec.slo.deadline_s
    if deadline > 0:
        if p.ttft_s is None or p.output_tokens_per_s is None:
            return False
        if p.ttft_s + spec.decode_tokens_per_request / p.output_tokens_per_s > deadline:
            return False
    return True


def input_usd_per_token(p: Provider, prefill_tokens: float, cache_hit_tokens: float) -> float:
    """The class's effective $ per uncached prompt token at ``p``: cached tokens at the
    cached price (the input price where none is published), spread over the uncached ones."""
    assert p.usd_per_m_input is not None
    cached = p.usd_per_m_cached_input if p.usd_per_m_cached_input is not None else p.usd_per_m_input
    if prefill_tokens <= 0:
        return p.usd_per_m_input / 1e6
    return (prefill_tokens * p.usd_per_m_input + cache_hit_tokens * cached) / prefill_tokens / 1e6


def provider_route(spec: ClassSpec, p: Provider, prefill_tokens: float,
                   cache_hit_tokens: float) -> ProviderRoute | None:
    """The route sending ``spec``'s class to ``p`` (None when not priced or not eligible)."""
    if not p.priced or p.model_id != spec.model_id or not _eligible(spec, p):
        return None
    assert p.usd_per_m_output is not None
    in_usd = input_usd_per_token(p, prefill_tokens, cache_hit_tokens)
    out_usd = p.usd_per_m_output / 1e6
    # Tokens/s one unit (API_UNIT_USD per hour) buys; a free phase is never the bottleneck.
    pre_tps = API_UNIT_USD / 3600.0 / in_usd if in_usd > 0 else math.inf
    dec_tps = API_UNIT_USD / 3600.0 / out_usd if out_usd > 0 else math.inf
    pool = (p.device_id, spec.model_id, 0, API_ROLE)  # size 0: no devices
    ttft = p.ttft_s if p.ttft_s is not None else math.nan
    tpot = 1 / p.output_tokens_per_s if p.output_tokens_per_s else math.nan
    return ProviderRoute(
        class_id=spec.class_id, model_id=spec.model_id, prefill_pool=pool, decode_pool=pool,
        prefill_load=spec.prefill_tokens_per_s / pre_tps if math.isfinite(pre_tps) else 0.0,
        decode_load=spec.decode_tokens_per_s / dec_tps if math.isfinite(dec_tps) else 0.0,
        prefill_tokens_per_s=pre_tps, decode_tokens_per_s=dec_tps,
        prefill_usd_per_hour=API_UNIT_USD, decode_usd_per_hour=API_UNIT_USD, stretch=1.0,
        chunk_tokens=0, transfer_s=0.0, kv_bytes=0.0, ttft_s=ttft, tpot_s=tpot, decode_batch=1,
    )


def add_provider_routes(routes: Mapping[str, Sequence[Route]], specs: Iterable[ClassSpec],
                        providers: Sequence[Provider], classes: pl.DataFrame,
                        growth: float = 1.0) -> dict[str, list[Route]]:
    """``routes`` with every eligible provider route added per class (canonical order), each
    priced at the class's mean token rates × ``growth`` (the tokens it sends)."""
    columns = ("class_id", "prefill_tokens", "cache_hit_tokens", "mean_prefill_tokens_per_s",
               "mean_decode_tokens_per_s")
    rows = {r["class_id"]: r for r in classes.select(columns).iter_rows(named=True)}
    out = {c: list(rs) for c, rs in routes.items()}
    for spec in specs:
        row = rows.get(spec.class_id, {})
        pre, hit = float(row.get("prefill_tokens") or 0), float(row.get("cache_hit_tokens") or 0)
        sent = replace(spec, prefill_tokens_per_s=float(
            row.get("mean_prefill_tokens_per_s") or 0) * growth, decode_tokens_per_s=float(
            row.get("mean_decode_tokens_per_s") or 0) * growth)
        extra = [r for p in providers if (r := provider_route(sent, p, pre, hit)) is not None]
        out[spec.class_id] = sorted([*out.get(spec.class_id, []), *extra], key=lambda r: r.key)
    return out


class PerTokenOption(TypedDict):
    """What one model's tokens would cost at per-token providers (``per_token_options``)."""

    model_id: str
    usd_per_hour: float
    providers: list[str]
    classes: int


def per_token_options(specs: Sequence[ClassSpec], providers: Sequence[Provider],
                      classes: pl.DataFrame, growth: float = 1.0) -> list[PerTokenOption]:
    """Per model each of whose classes some priced provider may serve within its SLO
    (``provider_route``): its tokens' $/h at the cheapest such provider per class, priced as
    a provider route is (the class's mean rates × ``growth``). A plan fitted without
    providers weighs its pools against these (``Plan.per_token_alternatives``)."""
    routes = add_provider_routes({s.class_id: [] for s in specs}, specs, providers, classes,
                                 growth)
    by_model: dict[str, list[str]] = {}
    for spec in specs:
        by_model.setdefault(spec.model_id, []).append(spec.class_id)
    out: list[PerTokenOption] = []
    for model, ids in sorted(by_model.items()):
        if not all(routes[c] for c in ids):
            continue
        cheapest = [min(routes[c], key=lambda r: (r.linear_usd_per_hour, r.key)) for c in ids]
        out.append({"model_id": model,
                    "usd_per_hour": math.fsum(r.linear_usd_per_hour for r in cheapest),
                    "providers": sorted({r.prefill_device.removeprefix(API_PREFIX)
                                         for r in cheapest}),
                    "classes": len(ids)})
    return out


def provider_reason(spec: ClassSpec, route: Route, providers: Sequence[Provider]) -> str:
    """Why a class goes to a provider, with its prices and published latencies."""
    p = next(p for p in providers if p.device_id == route.prefill_device
             and p.model_id == route.model_id)
    usd_h = route.linear_usd_per_hour
    speed = "no published TTFT/speed" if p.ttft_s is None or p.output_tokens_per_s is None \
        else f"published TTFT {p.ttft_s * 1000:g} ms and {p.output_tokens_per_s:g} tok/s"
    return (f"{spec.class_id} → per-token provider {p.provider} ({p.model_id}): "
            f"${p.usd_per_m_input:g}/M input, ${p.usd_per_m_output:g}/M output make its "
            f"tokens ${usd_h:.4f}/h at its mean rate, cheaper than the replicas it would need; "
            f"{speed} meet its SLO")


def per_token_frame(groups: pl.DataFrame, span_hours: float) -> pl.DataFrame:
    """Per provider pool (``pool_id``): the ``requests``, ``prefill_tokens``,
    ``decode_tokens``, ``cache_hit_tokens`` and ``usd`` the ledger's groups sent there, and
    ``usd_per_hour`` (that $ over the span): what the plan pays for it, no idle."""
    return groups.filter(pl.col("prefill_pool").str.starts_with(API_PREFIX)).group_by(
        pl.col("prefill_pool").alias("pool_id")).agg(
        pl.col("prefill_device").first().alias("device_id"),
        pl.col("requests", "prefill_tokens", "decode_tokens", "cache_hit_tokens").sum(),
        (pl.col("prefill_usd") + pl.col("decode_usd")).sum().alias("usd"),
    ).with_columns((pl.col("usd") / span_hours).alias("usd_per_hour")).sort("pool_id")


def provider_assumptions(providers: Sequence[Provider]) -> ProviderAssumptions:
    return {
        "table": [p.to_dict() for p in providers],
        "latency": "a provider's published median TTFT and output speed are every request's "
                   "latency: no queueing, rate limits or long-prompt TTFT growth modelled; "
                   "requests routed to a provider are not replayed",
        "cached_input": "cache-hit prompt tokens at the provider's cached-input price "
                        "(its input price when none is published)",
        "unit_usd_per_hour": API_UNIT_USD,
        "pricing": "a per-token route is priced at the tokens sent (the class's mean rate over "
                   "the span × growth) in the optimiser and per request in the ledger; the "
                   "plan pays exactly the ledger's $ for it (no replicas, no idle $)",
    }


def names_provider(routes: pl.DataFrame) -> bool:
    """Whether any of a plan's ``routes`` (``Plan.routes``) sends requests to a provider."""
    return any(map(is_provider_pool, routes.get_column(
        "prefill_pool", default=pl.Series([], dtype=pl.String))))


def drop_provider_requests(ledger: pl.LazyFrame, requests: pl.DataFrame,
                           routes: pl.DataFrame | None = None) -> pl.DataFrame:
    """``requests`` without those the ledger sent to a provider (matched on ``request_id``).
    ``routes`` (the plan's, ``Plan.routes``): when none names a provider, ``requests`` as
    they are, without reading the ledger (a pass over every request of the trace: 3-6
    CPU-s at 10M requests, for a replay of at most 20,000)."""
    if routes is not None and not names_provider(routes):
        return requests
    sent = ledger.filter(pl.col("prefill_pool").str.starts_with(API_PREFIX)).select(
        "request_id").collect()
    if sent.height == 0:
        return requests
    return requests.join(sent, on="request_id", how="anti", maintain_order="left")


PROVIDER_NOTE = "not replayed: sent to a per-token provider (its published latency stands)"


def note_provider_requests(ledger: pl.LazyFrame) -> pl.LazyFrame:
    """``ledger`` whose requests sent to a provider say so in ``replay_note`` (the replay
    runs without them: ``drop_provider_requests``)."""
    return ledger.with_columns(
        pl.when(pl.col("prefill_pool").str.starts_with(API_PREFIX)).then(pl.lit(PROVIDER_NOTE))
        .otherwise(pl.col("replay_note")).alias("replay_note"))


def without_providers(plan_json: Mapping[str, object]) -> dict[str, object]:
    """plan.json without provider pools and routes (what the replay runs): the remaining routes
    of a class split with a provider get their fractions renormalised; a class served only by
    providers is dropped."""
    out = dict(plan_json)

    def rows(key: str) -> list[dict[str, Any]]:
        return cast("list[dict[str, Any]]", plan_json.get(key, []))

    out["pools"] = [p for p in rows("pools") if not is_provider_pool(p["pool_id"])]
    out["fleet"] = [p for p in rows("fleet") if not is_provider_pool(p["pool_id"])]
    kept = [r for r in rows("routes") if not is_provider_pool(r["prefill_pool"])]
    total: dict[str, float] = {}
    for r in kept:
        total[r["class_id"]] = total.get(r["class_id"], 0.0) + float(r["fraction"])
    out["routes"] = [{**r, "fraction": float(r["fraction"]) / total[r["class_id"]]} for r in kept]
    return out
