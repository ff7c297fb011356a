"""Reuse curves: LRU hit ratio against KV capacity, per-tier advice, per-request cache hits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from tracelab.cache.blocks import BlockRefs, compute_block_references
from tracelab.cache.stack import (
    compute_hit_ratios,
    compute_previous_reference,
    compute_shards_distances,
    compute_stack_distances,
)
from tracelab.cache.tiers import (
    TIER_TARGETS,
    TierAdvice,
    load_memory_tiers,
    prefill_tokens_per_s,
    recommend_tiers,
)
from tracelab.errors import ConfigError

DEFAULT_ASSUMED_MODEL = "llama-3.1-8b"
KNEE_FRACTIONS = (0.5, 0.8, 0.9)
# SHARDS error is measured against the exact curve on the first references of the stream.
SHARDS_CHECK_REFERENCES = 1_000_000
CURVE_SCHEMA = {
    "capacity_blocks": pl.Int64(),
    "capacity_tokens": pl.Int64(),
    "capacity_bytes": pl.Int64(),
    "hit_ratio": pl.Float64(),
}


@dataclass(frozen=True)
class ReuseResult:
    """A trace's prefix-reuse curve and what it means for KV memory.

    ``curve`` and ``knees`` have columns capacity_blocks, capacity_tokens, capacity_bytes
    (for ``model_id``; null when no model), hit_ratio (share of block reads that hit an LRU
    cache of that capacity); ``knees`` adds ``fraction`` of the achievable (infinite-cache)
    hit ratio reached.
    """

    evidence: str
    method: str
    sample_rate: float | None
    block_tokens: int | None
    n_references: int
    n_distinct: int
    reuse_ratio_infinite: float | None
    curve: pl.DataFrame
    knees: pl.DataFrame
    sampling_error: dict[str, float] | None
    model_id: str | None
    model_how: str
    kv_bytes_per_token: int | None
    prefill_how: str | None
    tiers: list[TierAdvice] = field(default_factory=list)
    rejected: pl.DataFrame = field(default_factory=pl.DataFrame)
    rows_without_evidence: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict matching ``schemas/cache.schema.json``."""
        return {
            "evidence": self.evidence,
            "method": {
                "name": self.method,
                "sample_rate": self.sample_rate,
                "error": self.sampling_error,
            },
            "block_tokens": self.block_tokens,
            "n_references": self.n_references,
            "n_distinct": self.n_distinct,
            "reuse_ratio_infinite": self.reuse_ratio_infinite,
            "model": {
                "id": self.model_id,
                "how": self.model_how,
                "kv_bytes_per_token": self.kv_bytes_per_token,
            },
            "curve": self.curve.to_dicts(),
            "knees": self.knees.to_dicts(),
            "tiers": [t.to_dict() for t in self.tiers],
            "prefill_rate_source": self.prefill_how,
            "rows_rejected": self.rejected.height,
            "rows_without_evidence": self.rows_without_evidence,
        }


def _resolve_model(
    refs: BlockRefs, model_map: Mapping[str, str] | None, assume_model: str | None
) -> tuple[str | None, str, int | None, float | None]:
    """(model_id, how, kv_bytes_per_token, active_params_b) for the cache's capacity in bytes."""
    from tracelab.hardware.registry import load_models, match_model

    models = load_models()
    ids: Counter[str] = Counter()
    for name, count in refs.requests["model"].drop_nulls().value_counts().iter_rows():
        model_id = match_model(name, model_map, None, models)[0]
        if model_id is not None:
            ids[model_id] += count
    if ids:
        model_id, _ = ids.most_common(1)[0]
        how = "from the trace" if len(ids) == 1 else f"most requests' model of {len(ids)} models"
    else:
        model_id = assume_model or DEFAULT_ASSUMED_MODEL
        how = f"assumed (no known model in the trace): {model_id}"
    if model_id not in models:
        msg = f"model '{model_id}' is not in the registry; pick one from `tracelab models`"
        raise ConfigError(msg)
    spec = models[model_id]
    return model_id, how, spec.kv_bytes_per_token, spec.active_params_b


def _capacity_grid(n_distinct: int, requested: Sequence[int] | None) -> np.ndarray:
    """Powers of two up to the distinct-block count, that count, and every requested capacity."""
    grid = [1 << k for k in range(max(n_distinct, 1).bit_length()) if (1 << k) <= n_distinct]
    grid.append(max(n_distinct, 1))
    return np.unique(np.asarray(grid + list(requested or []), dtype=np.int64))


def _knee_blocks(dist: np.ndarray, fraction: float) -> int:
    """Smallest capacity (blocks) reaching ``fraction`` of the hits an infinite cache gets."""
    warm = np.sort(dist[dist >= 0])
    if warm.size == 0:
        return 0
    k = max(int(np.ceil(fraction * warm.size - 1e-9)), 1)
    return int(np.ceil(warm[k - 1])) + 1


def _measure_shards_error(
    block_ids: np.ndarray, counted: np.ndarray, rate: float
) -> dict[str, float]:
    """Max and mean |SHARDS - exact| hit ratio over the grid, on the stream's first references."""
    n = min(block_ids.size, SHARDS_CHECK_REFERENCES)
    ids, cnt = block_ids[:n], counted[:n]
    exact = compute_stack_distances(ids)
    caps = _capacity_grid(int(np.unique(ids).size), None)
    caps = caps[caps >= 1 / rate]  # below 1/R blocks a sampled distance cannot resolve capacity
    if caps.size == 0:
        caps = np.asarray([max(int(np.unique(ids).size), 1)])
    approx, mask = compute_shards_distances(ids, rate)
    sampled = compute_hit_ratios(approx, caps, cnt[mask], expected_total=rate * cnt.sum())
    err = np.abs(sampled - compute_hit_ratios(exact, caps, cnt))
    return {"subset_references": float(n), "min_capacity_blocks": float(caps.min()),
            "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean())}  # fmt: skip


def _span_hours(requests: pl.DataFrame) -> float | None:
    ts = requests["arrival_ts"].drop_nulls()
    if ts.len() < 2:
        return None
    span = (ts.max() - ts.min()).total_seconds() / 3600.0  # type: ignore[operator,union-attr]
    return span or None


def compute_reuse_curve(
    frame: pl.LazyFrame,
    capacities_blocks: Sequence[int] | None = None,
    sample_rate: float | None = None,
    model_map: Mapping[str, str] | None = None,
    assume_model: str | None = None,
) -> ReuseResult:
    """LRU hit ratio against capacity for a canonical request frame (exact, or SHARDS at ``sample_rate``)."""
    if any(c < 1 for c in capacities_blocks or []):
        msg = f"capacities {list(capacities_blocks or [])}: every capacity must be at least 1 block"
        raise ConfigError(msg)
    if sample_rate is not None and not 0 < sample_rate <= 1:
        msg = f"sample rate {sample_rate}: must be in (0, 1], e.g. --sample-rate 0.01"
        raise ConfigError(msg)
    refs = compute_block_references(frame)
    empty = pl.DataFrame(schema=CURVE_SCHEMA)
    if refs.evidence == "none" or refs.n_references == 0:
        return ReuseResult(
            refs.evidence, "none", None, refs.block_tokens, 0, 0, None, empty,
            empty.with_columns(pl.lit(None, dtype=pl.Float64()).alias("fraction")),
            None, None, "no reuse evidence", None, None, rejected=refs.rejected,
            rows_without_evidence=refs.rows_without_evidence,
        )  # fmt: skip
    block_tokens = refs.block_tokens or 1
    counted = refs.counted
    prev = compute_previous_reference(refs.block_ids)
    reads = int(counted.sum())
    reuse_ratio = float(((prev >= 0) & counted).sum()) / reads
    n_distinct = int(np.unique(refs.block_ids[counted]).size)
    if sample_rate is None:
        method, error, expected = "exact", None, None
        dist = compute_stack_distances(refs.block_ids)[counted]
    else:
        method = "shards"
        error = _measure_shards_error(refs.block_ids, counted, sample_rate)
        approx, mask = compute_shards_distances(refs.block_ids, sample_rate)
        dist = approx[counted[mask]]
        expected = sample_rate * reads

    model_id, model_how, kv_bpt, active_b = _resolve_model(refs, model_map, assume_model)
    bytes_per_block = float(block_tokens * (kv_bpt or 0))

    def frame_at(caps: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "capacity_blocks": caps,
                "capacity_tokens": caps * block_tokens,
                "capacity_bytes": caps * int(bytes_per_block),
                "hit_ratio": compute_hit_ratios(dist, caps, expected_total=expected),
            },
            schema=CURVE_SCHEMA,
        )

    curve = frame_at(_capacity_grid(n_distinct, capacities_blocks))
    knee_caps = [_knee_blocks(dist, f) for f in (*KNEE_FRACTIONS, 1.0)]
    knees = frame_at(np.asarray(knee_caps[:-1], dtype=np.int64)).with_columns(
        pl.Series("fraction", KNEE_FRACTIONS)
    )
    rate, prefill_how = prefill_tokens_per_s(model_id or DEFAULT_ASSUMED_MODEL, active_b)
    targets = [_knee_blocks(dist, f) for f in TIER_TARGETS]
    advice = recommend_tiers(
        load_memory_tiers(), targets,
        lambda caps: compute_hit_ratios(dist, np.asarray(caps), expected_total=expected),
        bytes_per_block, block_tokens, rate, reads, _span_hours(refs.requests),
    )  # fmt: skip
    return ReuseResult(
        evidence=refs.evidence, method=method, sample_rate=sample_rate, block_tokens=block_tokens,
        n_references=reads, n_distinct=n_distinct, reuse_ratio_infinite=reuse_ratio,
        curve=curve, knees=knees, sampling_error=error, model_id=model_id, model_how=model_how,
        kv_bytes_per_token=kv_bpt, prefill_how=prefill_how, tiers=advice,
        rejected=refs.rejected, rows_without_evidence=refs.rows_without_evidence,
    )  # fmt: skip


def compute_cache_hits(frame: pl.LazyFrame, capacity_blocks: int) -> pl.LazyFrame:
    """Per request: prompt tokens whose blocks hit an LRU cache of ``capacity_blocks`` blocks.

    Columns ``request_id``, ``cache_hit_tokens`` (Int64). Requests without reuse evidence get
    null (no credit); rejected rows are absent. Exact stack distances, O(n log n).
    """
    if capacity_blocks < 0:
        msg = f"capacity {capacity_blocks} blocks: must be 0 or more"
        raise ConfigError(msg)
    refs = compute_block_references(frame)
    n = refs.requests.height
    if refs.evidence == "none":
        nulls = pl.Series("cache_hit_tokens", [None] * n, dtype=pl.Int64())
        return refs.requests.select("request_id").with_columns(nulls).lazy()
    dist = compute_stack_distances(refs.block_ids)
    hit = refs.counted & (dist >= 0) & (dist < capacity_blocks)
    per_request = np.bincount(refs.request_index, weights=refs.hit_tokens * hit, minlength=n)
    has_refs = np.bincount(refs.request_index, minlength=n) > 0
    tokens = pl.DataFrame({"hits": per_request.astype(np.int64), "has": has_refs}).select(
        pl.when(pl.col("has")).then(pl.col("hits")).alias("cache_hit_tokens")
    )
    return refs.requests.select("request_id").hstack(tokens).lazy()
