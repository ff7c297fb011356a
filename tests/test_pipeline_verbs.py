"""Every verb asks one pipeline for its stages: the same trace and options give the same
numbers from ``tracelab plan`` and ``tracelab report``."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO_ROOT, invoke

MOONCAKE = REPO_ROOT / "sample_traces" / "sample.mooncake.jsonl"  # prefix hash blocks


@pytest.fixture
def label_config(tmp_path: Path) -> Path:
    path = tmp_path / "labels.toml"
    path.write_text("[context]\nshort_max_tokens = 1024\nmedium_max_tokens = 4096\n")
    return path


def test_plan_and_report_price_a_trace_with_prefix_reuse_the_same(runner, tmp_path,
                                                                   label_config):
    options = ["--assume-model", "llama-3.1-8b", "--config", str(label_config)]
    planned = invoke(runner, ["plan", str(MOONCAKE), *options, "-o", str(tmp_path / "p"),
                              "--json"])
    assert planned.exit_code == 0, planned.stderr
    plan = json.loads(planned.stdout)
    hits = pl.read_parquet(tmp_path / "p" / "ledger.parquet")["cache_hit_tokens"].sum()
    reported = invoke(runner, ["report", str(MOONCAKE), *options, "-o", str(tmp_path / "r"),
                               "--json"])
    assert reported.exit_code == 0, reported.stderr
    summary = json.loads(reported.stdout)
    assert hits > 0  # the cache stage's credit reached the plan
    assert summary["plan"]["cache_hit_tokens"] == hits
    assert round(summary["plan"]["usd_per_hour"], 2) == round(plan["usd_per_hour"], 2)
    assert summary["assumptions"]["defaults"]["label_config"] == "labels.toml (given)"


def test_the_plan_verb_takes_the_reports_cache_capacity(runner, tmp_path):
    result = invoke(runner, ["plan", str(MOONCAKE), "--assume-model", "llama-3.1-8b",
                             "--cache-capacity", "0", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert pl.read_parquet(tmp_path / "ledger.parquet")["cache_hit_tokens"].sum() == 0


def test_the_verify_slot_hands_the_plan_and_replay_requests_to_the_repair_loop(monkeypatch):
    import importlib.machinery
    import sys
    import types

    from tracelab.pipeline import Pipeline, PipelineOptions
    from tracelab.simulate import REQUEST_COLUMNS

    calls = []

    def verify_and_repair(plan, requests, perf, slos, target, window_name=None):
        calls.append(requests.collect_schema().names())
        assert target == 0.95
        return plan

    fake = types.ModuleType("tracelab.plan.repair")
    fake.__spec__ = importlib.machinery.ModuleSpec("tracelab.plan.repair", None)
    fake.verify_and_repair = verify_and_repair
    monkeypatch.setitem(sys.modules, "tracelab.plan.repair", fake)
    options = PipelineOptions(assume_model="llama-3.1-8b", verify=True, attainment=0.95)
    plan = Pipeline([MOONCAKE], options).plan()
    assert plan is not None
    assert calls
    assert set(REQUEST_COLUMNS) <= set(calls[0])


def test_simulate_replays_the_prefill_tokens_the_plan_charged(runner, tmp_path, label_config):
    options = ["--assume-model", "llama-3.1-8b", "--config", str(label_config)]
    planned = invoke(runner, ["plan", str(MOONCAKE), *options, "-o", str(tmp_path / "p")])
    assert planned.exit_code == 0, planned.stderr
    replayed = invoke(runner, ["simulate", str(MOONCAKE), *options, "--plan",
                               str(tmp_path / "p"), "-o", str(tmp_path / "s")])
    assert replayed.exit_code == 0, replayed.stderr
    ledger = pl.read_parquet(tmp_path / "p" / "ledger.parquet")
    replay = pl.read_parquet(tmp_path / "s" / "replay.parquet")
    both = ledger.join(replay, on="request_id", suffix="_replay")
    assert both.height == replay.height > 0
    assert ledger["cache_hit_tokens"].sum() > 0
    assert (both["prefill_tokens"].round() == both["prefill_tokens_replay"]).all()


def test_report_takes_the_plans_fleet_limits_and_replay(runner, tmp_path):
    """``report --replay`` with the plan's limits buys the fleet ``plan`` buys."""
    options = ["--assume-model", "llama-3.1-8b", "--max-device-types", "1",
               "--attainment", "0.95"]
    planned = invoke(runner, ["plan", str(MOONCAKE), *options, "--json"])
    assert planned.exit_code == 0, planned.stderr
    plan = json.loads(planned.stdout)
    reported = invoke(runner, ["report", str(MOONCAKE), *options, "--replay",
                               "-o", str(tmp_path / "r"), "--json"])
    assert reported.exit_code == 0, reported.stderr
    summary = json.loads(reported.stdout)
    assert len({row["device_id"] for row in summary["plan"]["fleet"]}) == 1
    assert round(summary["plan"]["usd_per_hour"], 2) == round(plan["usd_per_hour"], 2)
