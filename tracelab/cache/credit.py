"""How much prefix cache the plan may credit: no more than the recommended fleet holds.

The reuse curve alone would credit any capacity (on a day of long sessions, its 80% knee is
tens of millions of blocks: terabytes of KV). The capacity the plan credits, and the tier
table's recommendation, are bounded by what the plan's replicas hold:

- HBM: per replica, device memory usable for KV (``PerfModel.kv_capacity_tokens``: after the
  weights) less the running decode batch's KV (``PerfModel.max_batch`` at the mean context
  of that model's requests, each holding that context): the batch the replica is sized for
  keeps its KV first;
- host DRAM and local NVMe: per node (``devices_per_node`` devices, ``gb_per_node`` each in
  ``data/memory_tiers.toml``), for tiers that are priced and give a per-node size.

Sizes are in the curve's blocks (``block_tokens`` tokens of the curve's model's KV).

Reuse inferred from session structure alone (no prefix blocks, and no provider cache
counts in the log) is an estimate: the plan credits it only when asked (``is_estimate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracelab.cache.tiers import GB, MemoryTier


@dataclass(frozen=True)
class CreditBound:
    """Blocks the fleet holds per tier (``tiers``: tier id -> blocks, fastest first) and the
    per-pool figures behind them (``pools``: device, model, replicas, HBM blocks)."""

    tiers: dict[str, int]
    pools: list[dict[str, Any]] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def blocks(self) -> int:
        """Every tier together: the most the plan may credit."""
        return sum(self.tiers.values())

    def describe(self) -> str:
        """One line: blocks per tier."""
        parts = [f"{self.names.get(t, t)} {n:,}" for t, n in self.tiers.items()]
        return f"{self.blocks:,} blocks ({'; '.join(parts) or 'no tier holds KV'})"

    def to_dict(self) -> dict[str, Any]:
        return {"blocks": self.blocks, "tiers": dict(self.tiers), "pools": list(self.pools)}


def is_estimate(evidence: str, provider_counts: bool) -> bool:
    """Reuse inferred from sessions alone: no prefix blocks and no cached-token counts."""
    return evidence == "sessions" and not provider_counts


def compute_credit_bound(
    fleet: pl.DataFrame, perf: Any, precision: str, block_tokens: int,
    kv_bytes_per_token: float, contexts: dict[str, float], tiers: list[MemoryTier],
) -> CreditBound:  # fmt: skip
    """The blocks the plan's ``fleet`` (``Plan.fleet``: device_id, model_id, replicas,
    devices) can hold for a prefix cache (see the module doc). ``contexts``: mean context
    tokens of each model's requests; ``kv_bytes_per_token``: the curve's model's."""
    from tracelab.hardware import roofline as rf

    block_bytes = block_tokens * kv_bytes_per_token
    hbm, pools = 0.0, []
    for row in fleet.iter_rows(named=True):  # one row per pool: a handful
        replicas, devices = int(row["replicas"]), int(row["devices"])
        if replicas < 1 or devices < 1:
            continue  # no accelerator (e.g. a per-token provider's pool): no cache held
        per_replica = max(devices // replicas, 1)
        device, model_id = row["device_id"], row["model_id"]
        kv_per_token = rf.kv_bytes(perf.model(model_id), precision)
        free = perf.kv_capacity_tokens(device, model_id, precision, per_replica)
        ctx = max(round(contexts.get(model_id, 0.0)), 1)
        batch = perf.max_batch(device, model_id, ctx, precision, None, per_replica)
        left = max(free - batch * ctx, 0.0) * kv_per_token * replicas
        hbm += left
        pools.append({"device_id": device, "model_id": model_id, "replicas": replicas,
                      "running_batch": batch, "context_tokens": ctx,
                      "hbm_free_blocks": int(left // block_bytes) if block_bytes > 0 else 0})  # fmt: skip
    held: dict[str, int] = {}
    for tier in tiers:
        if block_bytes <= 0:
            break
        if tier.id == "hbm":
            held[tier.id] = int(hbm // block_bytes)
        elif tier.gb_per_node and tier.devices_per_node and tier.usd_per_gb_hour > 0:
            nodes = _nodes(fleet, tier.devices_per_node)
            held[tier.id] = int(nodes * tier.gb_per_node * GB // block_bytes)
    return CreditBound(held, pools, {t.id: t.name for t in tiers})


def _nodes(fleet: pl.DataFrame, devices_per_node: int) -> int:
    """Nodes the fleet's devices fill, pool by pool (a pool does not share a node)."""
    return int(sum(math.ceil(int(d) / devices_per_node) for d in fleet["devices"] if d))


def credit_capacity(wanted: int, bound: CreditBound) -> tuple[int, str | None]:
    """(capacity to credit, which bound applied; None when ``wanted`` fits the fleet)."""
    if wanted <= bound.blocks:
        return wanted, None
    return bound.blocks, f"bounded by the recommended fleet's memory: {bound.describe()}"


def compute_plan_bound(reuse: Any, plan: Any, perf: Any, features: pl.LazyFrame,
                       tiers: list[MemoryTier] | None = None) -> CreditBound:  # fmt: skip
    """``compute_credit_bound`` for a fitted plan (``tracelab.plan.Plan``) and the labelled
    frame it was fitted on (mean context per model_id), at the curve's block size."""
    from tracelab.cache.tiers import load_memory_tiers

    contexts = dict(
        features.group_by(pl.col("model_id").cast(pl.String))
        .agg(pl.col("context_tokens").mean())
        .drop_nulls()
        .collect(engine="streaming")
        .iter_rows()
    )
    return compute_credit_bound(
        plan.fleet, perf, plan.settings.get("precision") or "bf16", reuse.block_tokens or 1,
        float(reuse.kv_bytes_per_token or 0), contexts,
        load_memory_tiers() if tiers is None else tiers,
    )


def replace_hits(features: pl.LazyFrame, hits: pl.DataFrame, key: str) -> pl.LazyFrame:
    """``features`` (rows in trace order) with ``cache_hit_tokens`` taken from ``hits``
    ([key = trace row, cache_hit_tokens]) instead; null where ``hits`` has no row."""
    from tracelab.positions import attach_by_position

    n = int(features.select(pl.len()).collect(engine="streaming").item())
    names = features.collect_schema().names()
    base = features.drop("cache_hit_tokens") if "cache_hit_tokens" in names else features
    attached = attach_by_position(base.with_row_index(key), hits, key, n).drop(key)
    return attached.select(names if "cache_hit_tokens" in names else [*names, "cache_hit_tokens"])


def bound_tiers(reuse: Any, bound: CreditBound) -> Any:
    """``reuse`` (a ``ReuseResult``) with its tier advice cut to what the fleet holds: each
    tier's upper boundary at most the blocks of that tier and the faster ones together (a
    tier the fleet does not hold, such as a networked store, adds nothing)."""
    from dataclasses import replace

    if reuse.retier is None or not reuse.tiers:
        return reuse
    held, targets = 0, []
    for advice in reuse.tiers:
        held += bound.tiers.get(advice.tier.id, 0)
        targets.append(min(advice.to_blocks, held))
    return replace(reuse, tiers=reuse.retier(targets))
