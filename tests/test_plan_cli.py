"""``tracelab plan``: a happy path over the bundled sample and one-line errors."""

from __future__ import annotations

import json

import polars as pl
import pytest
from conftest import invoke


def test_bad_slo_override_is_one_line_exit_2(runner):
    result = invoke(runner, ["plan", "--slo", "interactive.bogus=1"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: --slo 'interactive.bogus=1': unknown field")


def test_help_lists_the_what_if_options(runner):
    result = invoke(runner, ["plan", "--help"])
    assert result.exit_code == 0
    for option in ("--price", "--slo", "--exclude", "--only", "--growth", "--percentile",
                   "--catalog", "--profile", "--precision", "--window-s", "--model-map"):
        assert option in result.stdout


def test_plan_on_the_sample_writes_every_export(runner, tmp_path):
    pytest.importorskip("tracelab.hardware.perf", reason="the performance model is not merged yet")
    from tracelab.resources import default_sample_trace

    if not default_sample_trace().exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    result = invoke(runner, ["plan", "-o", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["usd_per_hour"] > 0
    assert doc["fleet_usd"] == pytest.approx(doc["ledger_usd"] + doc["idle_usd"])
    for name in ("fleet.csv", "fleet.parquet", "ledger.parquet", "plan.json"):
        assert (tmp_path / name).exists()
    ledger = pl.read_parquet(tmp_path / "ledger.parquet")  # streamed by sink_parquet
    assert ledger.columns == ["request_id", "class_id", "prefill_device", "decode_device",
                              "prefill_pool", "decode_pool", "prefill_usd", "decode_usd", "cache_hit_tokens", "prefill_tokens",
                              "decode_tokens", "reason", "replica", "queue_s", "ttft_s", "tpot_s", "e2e_s",
                              "replay_note"]
    assert ledger.height == doc["requests"]
    pools = {p["pool_id"] for p in doc["pools"]}
    assert set(ledger["prefill_pool"].drop_nulls()) | set(ledger["decode_pool"].drop_nulls()) <= pools
    assert {r["prefill_pool"] for r in doc["routes"]} <= pools
    assert len(pools) <= doc["settings"]["max_pools"]
    assert len({p["device_id"] for p in doc["pools"]}) <= 3
    assert ledger["prefill_usd"].sum() + ledger["decode_usd"].sum() == pytest.approx(
        doc["ledger_usd"], rel=1e-9)
    assert "HighsMipSolverData" not in result.stdout


def test_infeasible_slo_is_exit_2(runner):
    pytest.importorskip("tracelab.hardware.perf", reason="the performance model is not merged yet")
    result = invoke(runner, ["plan", "--slo", "interactive.tpot_s=0.00001",
                             "--slo", "unknown.tpot_s=0.00001"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: no device in the catalog can serve")


def test_plan_by_cluster_replays_its_cluster_classes(runner, tmp_path):
    """The replay reads the frame the plan was fitted on: with --by cluster, the clustered
    one (it read the unclustered features and refused the plan)."""
    pytest.importorskip("tracelab.hardware.perf", reason="the performance model is not merged yet")
    from tracelab.resources import default_sample_trace

    if not default_sample_trace().exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    result = invoke(runner, ["plan", "--by", "cluster", "-o", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["replay"]["requests"] > 0
    assert 0 <= doc["replay"]["attained"] <= 1


def test_the_terminal_plan_stays_readable_on_a_short_trace(runner):
    """The sample's ledger roll-up has ~180 rows: the terminal shows the dearest ones and
    says where the rest are; a trace too short for a schedule gets one line, not an empty
    table."""
    from tracelab.report.tables import ROLLUP_ROWS
    from tracelab.resources import default_sample_trace

    if not default_sample_trace().exists():
        pytest.skip("the bundled sample trace has not been generated yet")
    result = invoke(runner, ["plan"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"the {ROLLUP_ROWS} dearest of " in out
    assert "every row is in plan.json's rollup" in " ".join(out.split())
    assert "Schedule over the day" not in out
    assert "Schedule: the trace spans 1 h" in out
    assert len(out.splitlines()) < 200
