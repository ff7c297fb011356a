"""The cache credit is bounded by the fleet's memory; session-only reuse is an estimate."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from tracelab.cache.credit import (
    CreditBound,
    compute_credit_bound,
    credit_capacity,
    is_estimate,
)
from tracelab.cache.tiers import MemoryTier, load_memory_tiers
from tracelab.hardware.catalog import load_catalog
from tracelab.hardware.perf import PerfModel


def _tier(tier_id: str, order: int, gb_per_node: float | None = None) -> MemoryTier:
    return MemoryTier(tier_id, tier_id.upper(), order, 10.0, 1e-6, 0.01, True, "test",
                      gb_per_node, 8 if gb_per_node else None)  # fmt: skip


def test_bound_is_hbm_left_after_weights_and_running_batch_plus_host_tiers() -> None:
    perf = PerfModel(load_catalog())
    fleet = pl.DataFrame({"device_id": ["h100-sxm"], "model_id": ["llama-3.1-8b"],
                          "replicas": [3], "devices": [12]})  # fmt: skip
    tiers = [_tier("hbm", 1), _tier("host_dram", 2, 1000.0), _tier("network", 4)]
    kv_token = 131_072.0  # llama-3.1-8b, bf16: 32 layers x 8 KV heads x 128 x 2 x 2 bytes
    bound = compute_credit_bound(fleet, perf, "bf16", 16, kv_token, {"llama-3.1-8b": 2000.0},
                                 tiers)  # fmt: skip
    free = perf.kv_capacity_tokens("h100-sxm", "llama-3.1-8b", "bf16", 4)
    batch = perf.max_batch("h100-sxm", "llama-3.1-8b", 2000, "bf16", None, 4)
    assert bound.pools[0]["running_batch"] == batch
    hbm = int(max(free - batch * 2000, 0) * kv_token * 3 // (16 * kv_token))
    assert bound.tiers["hbm"] == hbm
    # 12 devices fill two 8-device nodes of 1,000 GB host DRAM; the network store is not held
    assert bound.tiers["host_dram"] == int(2 * 1000e9 // (16 * kv_token))
    assert "network" not in bound.tiers
    assert bound.blocks == hbm + bound.tiers["host_dram"]


def test_credit_capacity_says_which_bound_applied() -> None:
    bound = CreditBound({"hbm": 10, "host_dram": 90}, names={"hbm": "HBM", "host_dram": "DRAM"})
    assert credit_capacity(100, bound) == (100, None)
    capacity, how = credit_capacity(1_000, bound)
    assert capacity == 100
    assert how is not None
    assert "100 blocks (HBM 10; DRAM 90)" in how


def test_session_structure_alone_is_an_estimate() -> None:
    assert is_estimate("sessions", provider_counts=False)
    assert not is_estimate("sessions", provider_counts=True)
    assert not is_estimate("prefix_blocks", provider_counts=False)


def test_shipped_host_tiers_give_a_size_per_node() -> None:
    sized = {t.id: t.gb_per_node for t in load_memory_tiers() if t.gb_per_node}
    assert set(sized) == {"host_dram", "local_nvme"}


@pytest.fixture(scope="module")
def sessions_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tracelab.synth import generate_trace

    path = tmp_path_factory.mktemp("credit") / "sessions.parquet"
    generate_trace(3000, seed=5, span_s=86_400, mix="sessions").drop(
        "synth_workload").write_parquet(path)
    return path


def test_pipeline_credits_session_estimate_only_when_asked(sessions_trace: Path) -> None:
    from tracelab.pipeline import run_pipeline

    plain = run_pipeline([sessions_trace]).summary["cache"]
    assert plain["estimate"] is True
    assert plain["capacity_blocks"] is None
    assert "estimate" in plain["credit"]
    asked = run_pipeline([sessions_trace], credit_session_reuse=True,
                         cache_capacity=10**12).summary  # fmt: skip
    cache = asked["cache"]
    assert cache["capacity_blocks"] == cache["credit_bound"]["blocks"] < 10**12
    assert "bounded by the recommended fleet's memory" in cache["credit"]
    assert cache["hit_tokens"] > 0
    held = 0
    for tier in cache["tiers"]:  # the tier table recommends no more than the fleet holds
        held += cache["credit_bound"]["tiers"].get(tier["tier"], 0)
        assert tier["to_blocks"] <= held
    assert not math.isnan(asked["plan"]["usd_per_hour"])
