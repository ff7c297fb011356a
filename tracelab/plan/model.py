"""The fitted plan: fleet, costs, baselines, routes, ledger and every assumption behind them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

FLEET_SCHEMA: dict[str, pl.DataType] = {
    "device_id": pl.String(),
    "model_id": pl.String(),
    "replicas": pl.Int64(),
    "devices": pl.Int64(),
    "usd_per_hour": pl.Float64(),
    "role": pl.String(),
}


@dataclass
class Plan:
    """A tier-mix plan. Money in USD, time in hours unless the name says otherwise.

    ``fleet``: one row per (device, model, replica shape) with ``replicas``, ``devices``
    (replicas × devices per replica), ``usd_per_hour`` (for all its replicas) and ``role``
    (prefill, decode, colocated or prefill+decode). ``baselines``: ``h100`` and
    ``best_single`` (each None when infeasible) with their $/h and optimality gap.
    ``ledger``: one row per request, lazy (a plan over the input: ``sink_parquet`` it or
    aggregate it). ``ledger_groups``: the ledger summed per (class, route) — ``requests``,
    token totals, ``prefill_usd``/``decode_usd`` and the route's ``reason`` — from which
    ``ledger_usd``, ``tokens`` and ``rollup`` come.
    ``fleet_usd = usd_per_hour × span_hours = Σ ledger $ + idle_usd``.
    """

    fleet: pl.DataFrame
    usd_per_hour: float
    baselines: dict[str, dict[str, Any] | None]
    routes: pl.DataFrame
    classes: pl.DataFrame
    ledger: pl.LazyFrame
    ledger_groups: pl.DataFrame
    rollup: pl.DataFrame
    span_hours: float
    fleet_usd: float
    ledger_usd: float
    idle_usd: float
    tokens: int
    usd_per_mtok: float
    slos: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    assumptions: dict[str, Any] = field(default_factory=dict)

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

    def savings(self) -> dict[str, float | None]:
        """Fractional saving of the plan against each baseline (0.25 = 25 % cheaper)."""
        out: dict[str, float | None] = {}
        for key, base in self.baselines.items():
            cost = None if base is None else float(base["usd_per_hour"])
            out[key] = None if not cost else 1.0 - self.usd_per_hour / cost
        return out

    def to_json(self) -> dict[str, Any]:
        """Machine summary (``schemas/plan.schema.json``); the ledger itself is Parquet."""
        savings = self.savings()
        return {
            "usd_per_hour": self.usd_per_hour,
            "baseline_h100_usd_per_hour": self.baseline_h100_usd_per_hour,
            "best_single_device_usd_per_hour": self.best_single_device_usd_per_hour,
            "best_single_device_id": (self.baselines.get("best_single") or {}).get("device_id"),
            "savings_vs_h100": savings.get("h100"),
            "savings_vs_best_single": savings.get("best_single"),
            "span_hours": self.span_hours,
            "fleet_usd": self.fleet_usd,
            "ledger_usd": self.ledger_usd,
            "idle_usd": self.idle_usd,
            "tokens": self.tokens,
            "usd_per_mtok": self.usd_per_mtok,
            "requests": self.requests,
            "fleet": _records(self.fleet),
            "routes": _records(self.routes),
            "classes": _records(self.classes),
            "rollup": _records(self.rollup),
            "slos": self.slos,
            "settings": self.settings,
            "assumptions": self.assumptions,
        }


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dicts()]
