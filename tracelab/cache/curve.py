"""Reuse curves: LRU hit ratio against KV capacity, per-tier advice, per-request cache hits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from tracelab.cache.hits import RequestHits, compute_request_hits
from tracelab.cache.sampling import (
    AUTO_SHARDS_REFERENCES,
    capacity_grid,
    collect_references,
    measure_shards_error,
)
from tracelab.cache.scan import SampledRefs
from tracelab.cache.sessions import SessionTurns, compute_session_curve
from tracelab.cache.stack import (
    compute_stack_distances,
    hit_ratios_from_sorted,
    sort_warm,
)
from tracelab.cache.tiers import (
    TIER_TARGETS,
    TierAdvice,
    load_memory_tiers,
    prefill_tokens_per_s,
    recommend_tiers,
)
from tracelab.cache.turns import TurnHits
from tracelab.errors import ConfigError

DEFAULT_ASSUMED_MODEL = "llama-3.1-8b"
KNEE_FRACTIONS = (0.5, 0.8, 0.9)
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
    method_how: str = ""
    distances: RequestHits | TurnHits | None = field(default=None, repr=False, compare=False)
    # tier advice for other tier boundaries (capacities, blocks, fastest tier first)
    retier: Callable[[list[int]], list[TierAdvice]] | None = field(
        default=None, repr=False, compare=False)

    def _hits(self) -> RequestHits | TurnHits:
        if self.distances is None:
            msg = "this ReuseResult kept no distances; call compute_cache_hits(frame, capacity)"
            raise ConfigError(msg)
        return self.distances

    def compute_cache_hits(self, capacity_blocks: int) -> pl.LazyFrame:
        """Per-request LRU hits at ``capacity_blocks`` from the distances already computed.

        ``request_id``, ``cache_hit_tokens`` per input row, in input order (null without
        evidence). Exact when ``method`` is ``exact``; under ``shards`` an unbiased estimate
        (see ``tracelab.cache.hits``). Lazy: stream it, or prefer the row-keyed variant.
        """
        return self._hits().compute_cache_hits(capacity_blocks)

    def compute_cache_hits_by_row(self, capacity_blocks: int) -> pl.DataFrame:
        """``row`` (position in the input frame), ``cache_hit_tokens``: evidence rows only."""
        return self._hits().compute_cache_hits_by_row(capacity_blocks)

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
    model_counts: pl.DataFrame, model_map: Mapping[str, str] | None, assume_model: str | None
) -> tuple[str | None, str, int | None, float | None]:
    """(model_id, how, kv_bytes_per_token, active_params_b) for the cache's capacity in bytes."""
    from tracelab.hardware.registry import load_models, match_model

    models = load_models()
    ids: Counter[str] = Counter()
    for name, count in model_counts.drop_nulls("model").iter_rows():  # one row per model
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


def _knee_blocks(warm_sorted: np.ndarray, fraction: float, adjust: float = 0.0) -> int:
    """Smallest capacity (blocks) reaching ``fraction`` of the hits an infinite cache gets.

    ``warm_sorted``: the sorted distances of the warm (reused) counted reads. ``adjust``:
    SHARDS-adj's expected minus actual sample count, credited to every capacity >= 1 (as in
    ``hit_ratios_from_sorted``), so the knees sit on the adjusted curve; 0 when exact.
    """
    if warm_sorted.size == 0:
        return 0
    needed = fraction * (warm_sorted.size + adjust) - adjust
    k = min(max(int(np.ceil(needed - 1e-9)), 1), warm_sorted.size)
    return int(np.ceil(warm_sorted[k - 1])) + 1


def compute_reuse_curve(
    frame: pl.LazyFrame,
    capacities_blocks: Sequence[int] | None = None,
    sample_rate: float | None = None,
    model_map: Mapping[str, str] | None = None,
    assume_model: str | None = None,
) -> ReuseResult:
    """LRU hit ratio against capacity for a canonical request frame (exact, or SHARDS).

    One streaming scan of ``frame`` (see ``tracelab.cache.sampling``): only the sampled block
    references are held in memory. ``sample_rate`` None picks exact or SHARDS by size.
    """
    if any(c < 1 for c in capacities_blocks or []):
        msg = f"capacities {list(capacities_blocks or [])}: every capacity must be at least 1 block"
        raise ConfigError(msg)
    if sample_rate is not None and not 0 < sample_rate <= 1:
        msg = f"sample rate {sample_rate}: must be in (0, 1], e.g. 0.01"
        raise ConfigError(msg, param="sample_rate")
    refs, method_how, prepared = collect_references(frame, sample_rate, turns=True)
    if isinstance(refs, SessionTurns):
        if refs.n_reads:
            return _session_result(refs, prepared, capacities_blocks, sample_rate,
                                   model_map, assume_model)  # fmt: skip
        return _no_curve(refs, "sessions", prepared)
    if refs.evidence == "none" or refs.n_reads == 0:
        return _no_curve(refs, refs.evidence, prepared)
    rate = refs.rate
    block_tokens = refs.block_tokens or 1
    reads = refs.n_reads
    counted = refs.counted
    if rate is None:
        method, error, expected = "exact", None, None
        reads_d = compute_stack_distances(refs.block_ids)[counted]
        reuse_ratio: float = float((reads_d >= 0).sum()) / reads
        dist = reads_d.astype(np.float64)
        warm = sort_warm(reads_d).astype(np.float64)
    else:
        method, expected = "shards", rate * reads
        # the error check (exact distances of the first 2^19 references) runs in a worker
        # thread beside the sample's distances: numpy releases the GIL, so the two cores share
        # them (0.1 s less wall on 10M requests; the same CPU)
        with ThreadPoolExecutor(max_workers=1) as pool:
            check = pool.submit(measure_shards_error, prepared, refs, rate)
            reads_d = compute_stack_distances(refs.block_ids)[counted]
            error = check.result()
        dist = reads_d.astype(np.float64)
        dist[dist > 0] /= rate  # a sampled distance stands for 1/R blocks
        warm = sort_warm(reads_d).astype(np.float64) / rate
        # the infinite-cache hit ratio with SHARDS-adj (as every point of the curve)
        reuse_ratio = float(
            hit_ratios_from_sorted(warm, dist.size, np.asarray([np.inf]), expected)[0]
        )
    # distinct blocks read: their first references are cold (estimated by 1/R under SHARDS)
    n_distinct = (
        int((reads_d < 0).sum()) if counted.all() else int(np.unique(refs.block_ids[counted]).size)
    )
    if rate is not None:
        n_distinct = round(n_distinct / rate)
    distances = compute_request_hits(prepared, refs.evidence, refs.row, counted, refs.hit_tokens,
                                     dist, refs.evidence_rows, rate, refs.read_tokens)  # fmt: skip

    def ratios(caps: Any) -> np.ndarray:
        return hit_ratios_from_sorted(warm, dist.size, np.asarray(caps), expected)

    adjust = 0.0 if expected is None else expected - dist.size
    return _result(
        refs, ratios, lambda f: _knee_blocks(warm, f, adjust), capacities_blocks,
        model_map, assume_model,
        evidence=refs.evidence, method=method, sample_rate=rate, block_tokens=block_tokens,
        n_references=reads, n_distinct=n_distinct, reuse_ratio_infinite=reuse_ratio,
        sampling_error=error, rejected=refs.rejected,
        rows_without_evidence=refs.rows_without_evidence, method_how=method_how,
        distances=distances,
    )  # fmt: skip


def _no_curve(refs: SampledRefs | SessionTurns, evidence: str, prepared: pl.LazyFrame,
              ) -> ReuseResult:  # fmt: skip
    """No block read: no curve, no hits (rejects and rows without evidence still counted)."""
    empty = pl.DataFrame(schema=CURVE_SCHEMA)
    no_rows = np.zeros(0, dtype=np.int64)
    hits = compute_request_hits(prepared, evidence, no_rows, no_rows.astype(bool), no_rows,
                                None, no_rows, None)  # fmt: skip
    return ReuseResult(
        evidence, "none", None, refs.block_tokens, 0, 0, None, empty,
        empty.with_columns(pl.lit(None, dtype=pl.Float64()).alias("fraction")),
        None, None, "no reuse evidence", None, None, rejected=refs.rejected,
        rows_without_evidence=refs.rows_without_evidence, method_how="no reuse evidence",
        distances=hits,
    )  # fmt: skip


def _session_result(
    turns: SessionTurns, prepared: pl.LazyFrame, capacities_blocks: Sequence[int] | None,
    sample_rate: float | None, model_map: Mapping[str, str] | None, assume_model: str | None,
) -> ReuseResult:  # fmt: skip
    """``compute_reuse_curve`` for session evidence, from its turns in closed form."""
    got = compute_session_curve(turns, prepared, sample_rate)
    warm = float(got.cum[-1]) if got.cum.size else 0.0
    return _result(
        turns, got.ratios, got.knee, capacities_blocks, model_map, assume_model,
        evidence="sessions", method="exact" if got.rate is None else "shards",
        sample_rate=got.rate, block_tokens=turns.block_tokens, n_references=turns.n_reads,
        n_distinct=got.n_distinct,
        reuse_ratio_infinite=warm / got.n_reads if got.n_reads else 0.0,
        sampling_error=got.error, rejected=turns.rejected,
        rows_without_evidence=turns.rows_without_evidence, method_how=got.how,
        distances=got.hits,
    )  # fmt: skip


def _result(
    refs: SampledRefs | SessionTurns, ratios: Callable[[Any], np.ndarray],
    knee: Callable[[float], int], capacities_blocks: Sequence[int] | None,
    model_map: Mapping[str, str] | None, assume_model: str | None, **fields: Any,
) -> ReuseResult:  # fmt: skip
    """The curve, knees and tier advice of a reuse pass (``ratios``: hit ratio at capacities,
    ``knee``: smallest capacity reaching a share of the achievable hits)."""
    block_tokens, n_distinct = fields["block_tokens"], fields["n_distinct"]
    model_id, model_how, kv_bpt, active_b = _resolve_model(
        refs.model_counts, model_map, assume_model
    )
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

    curve = frame_at(capacity_grid(n_distinct, capacities_blocks))
    knee_caps = [knee(f) for f in KNEE_FRACTIONS]
    knees = frame_at(np.asarray(knee_caps, dtype=np.int64)).with_columns(
        pl.Series("fraction", KNEE_FRACTIONS)
    )
    prefill_rate, prefill_how = prefill_tokens_per_s(model_id or DEFAULT_ASSUMED_MODEL, active_b)
    tiers = load_memory_tiers()

    def retier(targets: list[int]) -> list[TierAdvice]:
        return recommend_tiers(tiers, targets, ratios, bytes_per_block, block_tokens,
                               prefill_rate, fields["n_references"], refs.span_hours)  # fmt: skip

    return ReuseResult(
        curve=curve, knees=knees, model_id=model_id, model_how=model_how,
        kv_bytes_per_token=kv_bpt, prefill_how=prefill_how,
        tiers=retier([knee(f) for f in TIER_TARGETS]), retier=retier, **fields,
    )


def compute_cache_hits(frame: pl.LazyFrame, capacity_blocks: int) -> pl.LazyFrame:
    """Per request: prompt tokens whose blocks hit an LRU cache of ``capacity_blocks`` blocks.

    Columns ``request_id``, ``cache_hit_tokens`` (Int64), one row per input row in input
    order; null for requests without reuse evidence and for rejected rows. Exact stack
    distances whatever the trace size (the whole reference stream is held in memory). After
    ``compute_reuse_curve`` use ``ReuseResult.compute_cache_hits``, which reuses its distances.
    """
    if capacity_blocks < 0:
        msg = f"capacity {capacity_blocks} blocks: must be 0 or more"
        raise ConfigError(msg)
    refs, _, prepared = collect_references(frame, sample_rate=1)
    dist = compute_stack_distances(refs.block_ids)[refs.counted].astype(np.float64)
    hits = compute_request_hits(prepared, refs.evidence, refs.row, refs.counted,
                                refs.hit_tokens, dist, refs.evidence_rows, None)  # fmt: skip
    return hits.compute_cache_hits(capacity_blocks)


__all__ = ["AUTO_SHARDS_REFERENCES", "ReuseResult", "compute_cache_hits", "compute_reuse_curve"]
