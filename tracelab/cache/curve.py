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
    compute_shards_mask,
    compute_stack_distances,
    hit_ratios_from_sorted,
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
# With no sample rate given, streams of more block references than this are SHARDS-sampled
# at R = AUTO_SHARDS_REFERENCES / references, so about this many sampled references are
# processed (exact stack distances cost ~1 s per million references on one core).
AUTO_SHARDS_REFERENCES = 1 << 22  # 4,194,304
CURVE_SCHEMA = {
    "capacity_blocks": pl.Int64(),
    "capacity_tokens": pl.Int64(),
    "capacity_bytes": pl.Int64(),
    "hit_ratio": pl.Float64(),
}


@dataclass(frozen=True)
class RequestDistances:
    """Per-reference stack distances of the block reads, kept to credit hits to requests.

    ``request_index``, ``hit_tokens`` and ``distance`` are aligned over the counted block reads
    (all of them when exact; the SHARDS-sampled ones, distances scaled by 1/R, otherwise).
    ``has_references`` and ``max_hit_tokens`` are per request of ``requests`` (full stream).
    """

    requests: pl.DataFrame
    evidence: str
    request_index: np.ndarray
    hit_tokens: np.ndarray
    distance: np.ndarray
    has_references: np.ndarray
    max_hit_tokens: np.ndarray
    sample_rate: float | None

    def compute_cache_hits(self, capacity_blocks: int) -> pl.LazyFrame:
        """Per request: prompt tokens whose blocks hit an LRU cache of ``capacity_blocks`` blocks.

        Columns ``request_id``, ``cache_hit_tokens`` (Int64); null for requests without reuse
        evidence. Exact (``sample_rate`` None): a read hits iff 0 <= distance < capacity.
        SHARDS (a ratio estimate): a request gets the tokens all its block reads could save
        times the hit share of its sampled reads' tokens, or times the hit share over all
        sampled reads when none of its reads was sampled; rounded. Sums over many requests
        follow the sampled curve; one request's value is noisy (~R of its blocks sampled).
        """
        if capacity_blocks < 0:
            msg = f"capacity {capacity_blocks} blocks: must be 0 or more"
            raise ConfigError(msg)
        n = self.requests.height
        if self.evidence == "none":
            nulls = pl.Series("cache_hit_tokens", [None] * n, dtype=pl.Int64())
            return self.requests.select("request_id").with_columns(nulls).lazy()
        hit = (self.distance >= 0) & (self.distance < capacity_blocks)
        tokens = np.bincount(self.request_index, weights=self.hit_tokens * hit, minlength=n)
        if self.sample_rate is not None:
            sampled = np.bincount(self.request_index, weights=self.hit_tokens, minlength=n)
            overall = float(tokens.sum()) / max(float(sampled.sum()), 1.0)
            share = np.divide(tokens, sampled, out=np.full(n, overall), where=sampled > 0)
            tokens = np.rint(share * self.max_hit_tokens)
        column = pl.DataFrame({"hits": tokens.astype(np.int64), "has": self.has_references}).select(
            pl.when(pl.col("has")).then(pl.col("hits")).alias("cache_hit_tokens")
        )
        return self.requests.select("request_id").hstack(column).lazy()


def _request_distances(
    refs: BlockRefs,
    dist: np.ndarray | None,
    rate: float | None,
    has_refs: np.ndarray,
    max_tokens: np.ndarray,
) -> RequestDistances:
    """Keep the counted reads' (request, tokens, distance) for per-request hits."""
    counted = refs.counted
    return RequestDistances(
        requests=refs.requests.select("request_id"), evidence=refs.evidence,
        request_index=refs.request_index[counted], hit_tokens=refs.hit_tokens[counted],
        distance=dist if dist is not None else np.zeros(0), has_references=has_refs,
        max_hit_tokens=max_tokens, sample_rate=rate,
    )  # fmt: skip


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
    method_how: str = ""
    distances: RequestDistances | None = field(default=None, repr=False, compare=False)

    def compute_cache_hits(self, capacity_blocks: int) -> pl.LazyFrame:
        """Per-request LRU hits at ``capacity_blocks`` from the distances already computed.

        Same columns and nulls as ``compute_cache_hits(frame, capacity_blocks)``. Exact when
        ``method`` is ``exact``; under ``shards`` see ``RequestDistances.compute_cache_hits``.
        """
        if self.distances is None:
            msg = "this ReuseResult kept no distances; call compute_cache_hits(frame, capacity)"
            raise ConfigError(msg)
        return self.distances.compute_cache_hits(capacity_blocks)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict matching ``schemas/cache.schema.json``."""
        return {
            "evidence": self.evidence,
            "method": {
                "name": self.method,
                "sample_rate": self.sample_rate,
                "error": self.sampling_error,
                "how": self.method_how,
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


def _knee_blocks(warm_sorted: np.ndarray, fraction: float) -> int:
    """Smallest capacity (blocks) reaching ``fraction`` of the hits an infinite cache gets.

    ``warm_sorted``: the sorted distances of the warm (reused) counted reads.
    """
    if warm_sorted.size == 0:
        return 0
    k = max(int(np.ceil(fraction * warm_sorted.size - 1e-9)), 1)
    return int(np.ceil(warm_sorted[k - 1])) + 1


def _auto_rate(n_refs: int, sample_rate: float | None) -> tuple[float | None, str]:
    """The SHARDS rate to use (None: exact) and why, said in the output."""
    if sample_rate is not None:
        return (
            (None, "exact: --sample-rate 1")
            if sample_rate == 1
            else (sample_rate, f"SHARDS at the given rate {sample_rate:g}")
        )
    if n_refs <= AUTO_SHARDS_REFERENCES:
        return None, f"exact: {n_refs:,} block references (SHARDS above {AUTO_SHARDS_REFERENCES:,})"
    rate = AUTO_SHARDS_REFERENCES / n_refs
    return rate, (
        f"SHARDS chosen automatically: {n_refs:,} block references > "
        f"{AUTO_SHARDS_REFERENCES:,}, rate {rate:.4g} samples about "
        f"{AUTO_SHARDS_REFERENCES:,}; pass --sample-rate 1 for exact"
    )


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
        none = np.zeros(refs.requests.height, dtype=bool)
        return ReuseResult(
            refs.evidence, "none", None, refs.block_tokens, 0, 0, None, empty,
            empty.with_columns(pl.lit(None, dtype=pl.Float64()).alias("fraction")),
            None, None, "no reuse evidence", None, None, rejected=refs.rejected,
            rows_without_evidence=refs.rows_without_evidence, method_how="no reuse evidence",
            distances=_request_distances(refs, None, None, none, none.astype(np.int64)),
        )  # fmt: skip
    block_tokens = refs.block_tokens or 1
    n = refs.requests.height
    has_refs = np.bincount(refs.request_index, minlength=n) > 0
    reads = refs.n_references
    rate, method_how = _auto_rate(refs.block_ids.size, sample_rate)
    if rate is None:
        method, error, expected = "exact", None, None
        prev = compute_previous_reference(refs.block_ids)
        counted = refs.counted
        reuse_ratio: float = float(((prev >= 0) & counted).sum()) / reads
        n_distinct = (
            int((prev[counted] < 0).sum())
            if counted.all()
            else int(np.unique(refs.block_ids[counted]).size)
        )
        dist = compute_stack_distances(refs.block_ids, prev)[counted]
        del prev
        max_tokens = np.zeros(0, dtype=np.int64)
    else:
        method, expected = "shards", rate * reads
        error = _measure_shards_error(refs.block_ids, refs.counted, rate)
        max_tokens = np.bincount(
            refs.request_index, weights=refs.hit_tokens * refs.counted, minlength=n
        )
        refs = refs.sampled(compute_shards_mask(refs.block_ids, rate))
        counted = refs.counted
        scaled = compute_stack_distances(refs.block_ids).astype(np.float64)
        scaled[scaled > 0] /= rate
        dist = scaled[counted]
        # estimates from the sample: distinct blocks scaled by 1/R, and the infinite-cache
        # hit ratio with SHARDS-adj (as every point of the curve)
        n_distinct = round(np.unique(refs.block_ids[counted]).size / rate)
        reuse_ratio = float(
            compute_hit_ratios(dist, np.asarray([np.inf]), expected_total=expected)[0]
        )
    distances = _request_distances(refs, dist, rate, has_refs, max_tokens)
    warm = np.sort(dist[dist >= 0])

    def ratios(caps: Any) -> np.ndarray:
        return hit_ratios_from_sorted(warm, dist.size, np.asarray(caps), expected)

    model_id, model_how, kv_bpt, active_b = _resolve_model(refs, model_map, assume_model)
    bytes_per_block = float(block_tokens * (kv_bpt or 0))

    def frame_at(caps: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "capacity_blocks": caps,
                "capacity_tokens": caps * block_tokens,
                "capacity_bytes": caps * int(bytes_per_block),
                "hit_ratio": ratios(caps),
            },
            schema=CURVE_SCHEMA,
        )

    curve = frame_at(_capacity_grid(n_distinct, capacities_blocks))
    knee_caps = [_knee_blocks(warm, f) for f in KNEE_FRACTIONS]
    knees = frame_at(np.asarray(knee_caps, dtype=np.int64)).with_columns(
        pl.Series("fraction", KNEE_FRACTIONS)
    )
    prefill_rate, prefill_how = prefill_tokens_per_s(model_id or DEFAULT_ASSUMED_MODEL, active_b)
    targets = [_knee_blocks(warm, f) for f in TIER_TARGETS]
    advice = recommend_tiers(
        load_memory_tiers(), targets, ratios,
        bytes_per_block, block_tokens, prefill_rate, reads, refs.span_hours,
    )  # fmt: skip
    return ReuseResult(
        evidence=refs.evidence, method=method, sample_rate=rate, block_tokens=block_tokens,
        n_references=reads, n_distinct=n_distinct, reuse_ratio_infinite=reuse_ratio,
        curve=curve, knees=knees, sampling_error=error, model_id=model_id, model_how=model_how,
        kv_bytes_per_token=kv_bpt, prefill_how=prefill_how, tiers=advice,
        rejected=refs.rejected, rows_without_evidence=refs.rows_without_evidence,
        method_how=method_how, distances=distances,
    )  # fmt: skip


def compute_cache_hits(frame: pl.LazyFrame, capacity_blocks: int) -> pl.LazyFrame:
    """Per request: prompt tokens whose blocks hit an LRU cache of ``capacity_blocks`` blocks.

    Columns ``request_id``, ``cache_hit_tokens`` (Int64). Requests without reuse evidence get
    null (no credit); rejected rows are absent. Exact stack distances, O(n log n), whatever
    the trace size. After ``compute_reuse_curve`` use ``ReuseResult.compute_cache_hits``,
    which reuses its distances instead of recomputing them.
    """
    if capacity_blocks < 0:
        msg = f"capacity {capacity_blocks} blocks: must be 0 or more"
        raise ConfigError(msg)
    refs = compute_block_references(frame)
    n = refs.requests.height
    has_refs = np.bincount(refs.request_index, minlength=n) > 0
    dist = compute_stack_distances(refs.block_ids)[refs.counted]
    none = np.zeros(0, dtype=np.int64)
    return _request_distances(refs, dist, None, has_refs, none).compute_cache_hits(capacity_blocks)
