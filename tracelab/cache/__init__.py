"""Prefix and KV-cache reuse: block references, LRU stack distances, reuse curves, tiers.

The plan and report stages call ``compute_reuse_curve`` (one streaming scan; SHARDS-sampled
above ``AUTO_SHARDS_REFERENCES`` block references) and ``ReuseResult.compute_cache_hits_by_row``.
"""

from __future__ import annotations

from tracelab.cache.blocks import SESSION_BLOCK_TOKENS, BlockRefs, compute_block_references
from tracelab.cache.curve import ReuseResult, compute_cache_hits, compute_reuse_curve
from tracelab.cache.hits import RequestHits
from tracelab.cache.stack import (
    compute_hit_ratios,
    compute_shards_distances,
    compute_stack_distances,
)
from tracelab.cache.tiers import MemoryTier, TierAdvice, load_memory_tiers

__all__ = [
    "SESSION_BLOCK_TOKENS",
    "BlockRefs",
    "MemoryTier",
    "RequestHits",
    "ReuseResult",
    "TierAdvice",
    "compute_block_references",
    "compute_cache_hits",
    "compute_hit_ratios",
    "compute_reuse_curve",
    "compute_shards_distances",
    "compute_stack_distances",
    "load_memory_tiers",
]
