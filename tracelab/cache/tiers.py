"""KV memory tiers: cost to hold KV bytes, time to bring a hit back, and per-tier advice.

Tier figures live in ``tracelab/data/memory_tiers.toml`` (sourced from the project's hardware
reference, §3), validated against ``schemas/cache.schema.json#/$defs/memory_tiers``.

Recompute cost (the alternative to a hit) is prefill time on the reference device, H100 SXM:
``tracelab.hardware.perf.PerfModel.prefill_s`` when the performance model is installed, else
the first approximation measured on one H100 for Llama-3-8B (``calibration/h100/llama-8b.csv``:
35,964 / 38,310 / 34,779 tokens/s at 512 / 2,048 / 8,192-token prompts, so ~36k tokens/s),
scaled by 8.03 B / the model's active parameters (prefill is compute-bound, FLOPs ∝ params).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracelab.errors import ConfigError
from tracelab.resources import data_path, schema_path

H100_8B_PREFILL_TOKENS_PER_S = 36_000.0
LLAMA_8B_ACTIVE_PARAMS_B = 8.03
REFERENCE_DEVICE = "h100-sxm"
REFERENCE_PROMPT_TOKENS = 2048
HOURS_PER_MONTH = 730.0
GB = 1e9


@dataclass(frozen=True)
class MemoryTier:
    """One tier. ``usd_per_gb_hour`` is the cost to hold one GB (1e9 bytes) of KV for an hour."""

    id: str
    name: str
    order: int
    bandwidth_gb_s: float
    latency_s: float
    usd_per_gb_hour: float
    estimate: bool
    source: str
    gb_per_node: float | None = None  # capacity per server node (host tiers), when known
    devices_per_node: int | None = None

    def reload_s(self, n_bytes: float) -> float:
        """Seconds to bring ``n_bytes`` of KV back to the GPU: latency + bytes / bandwidth."""
        return self.latency_s + n_bytes / (self.bandwidth_gb_s * GB)


def _usd_per_gb_hour(entry: Mapping[str, Any]) -> float:
    if "usd_per_gb_hour" in entry:
        return float(entry["usd_per_gb_hour"])
    if "usd_per_gb_month" in entry:
        return float(entry["usd_per_gb_month"]) / HOURS_PER_MONTH
    return float(entry["usd_per_gb"]) / float(entry["amortisation_hours"])


def load_memory_tiers(path: Path | None = None) -> list[MemoryTier]:
    """Tiers from ``path`` (default: the shipped file), fastest first; ConfigError if invalid."""
    import jsonschema

    source = path or data_path("memory_tiers.toml")
    try:
        raw = tomllib.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"{source}: cannot read memory tiers ({exc}); pass a valid TOML file"
        raise ConfigError(msg) from None
    schema = json.loads(schema_path("cache.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        {**schema["$defs"]["memory_tiers"], "$defs": schema["$defs"]}
    )
    error = next(iter(validator.iter_errors(raw)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        msg = f"{source}: field {where}: {error.message}; see schemas/cache.schema.json"
        raise ConfigError(msg)
    tiers = [
        MemoryTier(
            id=tier_id,
            name=entry["name"],
            order=int(entry["order"]),
            bandwidth_gb_s=float(entry["bandwidth_gb_s"]),
            latency_s=float(entry["latency_s"]),
            usd_per_gb_hour=_usd_per_gb_hour(entry),
            estimate=bool(entry.get("estimate", False)),
            source=entry["source"],
            gb_per_node=float(entry["gb_per_node"]) if "gb_per_node" in entry else None,
            devices_per_node=int(entry["devices_per_node"]) if "devices_per_node" in entry
            else None,
        )
        for tier_id, entry in raw["tiers"].items()
    ]
    return sorted(tiers, key=lambda t: t.order)


def prefill_tokens_per_s(model_id: str, active_params_b: float | None) -> tuple[float, str]:
    """Reference-device prefill rate (tokens/s) and how it was obtained (said in the output)."""
    try:
        from tracelab.hardware.catalog import load_catalog
        from tracelab.hardware.perf import PerfModel

        seconds = PerfModel(load_catalog()).prefill_s(
            REFERENCE_DEVICE, model_id, 1, REFERENCE_PROMPT_TOKENS
        )
        how = f"PerfModel.prefill_s({REFERENCE_DEVICE}, {model_id}, 1, {REFERENCE_PROMPT_TOKENS})"
        return REFERENCE_PROMPT_TOKENS / float(seconds), how
    except (ImportError, AttributeError, KeyError, ValueError):
        scale = LLAMA_8B_ACTIVE_PARAMS_B / (active_params_b or LLAMA_8B_ACTIVE_PARAMS_B)
        how = (
            "first approximation: ~36k tokens/s measured on one H100 for Llama-3-8B "
            f"(calibration/h100/llama-8b.csv) x 8.03B/{active_params_b or 8.03:g}B active params"
        )
        return H100_8B_PREFILL_TOKENS_PER_S * scale, how


# Share of the achievable (infinite-cache) hits each tier's capacity should reach, fastest
# first: the hot set to 50% in HBM, to 80% in host DRAM, to 90% on NVMe, the rest networked.
TIER_TARGETS = (0.5, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class TierAdvice:
    """What one tier should hold: a slice of the reuse curve, its cost and its payoff."""

    tier: MemoryTier
    from_blocks: int
    to_blocks: int
    capacity_bytes: float
    hit_ratio_added: float
    hold_usd_per_hour: float
    reload_s_per_block: float
    recompute_s_per_block: float
    saved_prefill_s_per_hour: float | None

    @property
    def worth_it(self) -> bool:
        """Reloading a block from this tier is faster than recomputing it."""
        return self.reload_s_per_block < self.recompute_s_per_block

    def to_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier.id,
            "name": self.tier.name,
            "from_blocks": self.from_blocks,
            "to_blocks": self.to_blocks,
            "capacity_gb": self.capacity_bytes / GB,
            "hit_ratio_added": self.hit_ratio_added,
            "hold_usd_per_hour": self.hold_usd_per_hour,
            "reload_s_per_block": self.reload_s_per_block,
            "recompute_s_per_block": self.recompute_s_per_block,
            "saved_prefill_s_per_hour": self.saved_prefill_s_per_hour,
            "worth_it": self.worth_it,
            "estimate": self.tier.estimate,
            "source": self.tier.source,
        }

    def sentence(self) -> str:
        gb = self.capacity_bytes / GB
        verdict = "reload beats recompute" if self.worth_it else "recompute is faster than reload"
        return (
            f"{self.tier.name}: hold {gb:,.2f} GB more (blocks {self.from_blocks:,}–{self.to_blocks:,}) "
            f"for +{100 * self.hit_ratio_added:.1f} points of hit ratio at ${self.hold_usd_per_hour:,.4f}/h; "
            f"{verdict} ({self.reload_s_per_block * 1e3:.3f} ms vs {self.recompute_s_per_block * 1e3:.2f} ms per block)"
        )


def recommend_tiers(
    tiers: list[MemoryTier],
    knee_blocks: list[int],
    hit_ratio_at: Any,
    bytes_per_block: float,
    block_tokens: int,
    prefill_rate: float,
    n_references: int,
    span_hours: float | None,
) -> list[TierAdvice]:
    """Split the curve across tiers at ``knee_blocks`` (capacities reaching TIER_TARGETS).

    ``hit_ratio_at(list_of_capacities) -> list_of_ratios`` evaluates the LRU curve.
    """
    bounds = [0, *knee_blocks]
    advice = []
    for i, tier in enumerate(tiers[: len(knee_blocks)]):
        lo, hi = bounds[i], max(bounds[i], bounds[i + 1])
        before, after = hit_ratio_at([lo, hi])
        added = float(after - before)
        cap_bytes = (hi - lo) * bytes_per_block
        saved = None
        if span_hours:
            saved = added * n_references * block_tokens / prefill_rate / span_hours
        advice.append(
            TierAdvice(
                tier=tier,
                from_blocks=lo,
                to_blocks=hi,
                capacity_bytes=cap_bytes,
                hit_ratio_added=added,
                hold_usd_per_hour=cap_bytes / GB * tier.usd_per_gb_hour,
                reload_s_per_block=tier.reload_s(bytes_per_block),
                recompute_s_per_block=block_tokens / prefill_rate,
                saved_prefill_s_per_hour=saved,
            )
        )
    return advice
