"""``tracelab simulate``: a replay of the bundled sample through its own plan, and one-line
errors for a plan that is missing, malformed or does not fit the trace."""

from __future__ import annotations

import json

import polars as pl
import pytest
from conftest import invoke
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan")
    result = invoke(CliRunner(), ["plan", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def _one_line_error(result, starts: str) -> str:
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Error: {starts}"), lines[0]
    return lines[0]


def test_simulate_replays_the_sample_through_its_plan(runner, plan_dir, tmp_path):
    result = invoke(runner, ["simulate", "--plan", str(plan_dir), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "Replay —" in result.stdout
    assert "By class" in result.stdout
    assert "meets SLO" in result.stdout
    replay = pl.read_parquet(tmp_path / "replay.parquet")
    assert replay.height == 5000
    doc = json.loads((tmp_path / "replay.json").read_text())
    assert doc["requests"] == 5000
    assert 0 <= doc["attainment"]["overall"] <= 1
    assert not list(tmp_path.glob(".replay*"))  # no temporary file left behind
    plan = json.loads((plan_dir / "plan.json").read_text())
    assert {p["replicas"] for p in doc["pools"]} <= {r["replicas"] for r in plan["fleet"]} | {0}


def test_the_terminal_replay_keeps_pool_ids_whole_and_lists_the_worst_classes(runner, plan_dir):
    """80 columns: each pool id is printed whole (folded), not cut to "mi…"; of the
    sample's ~60 classes the CLASS_ROWS meeting their SLO least are listed, and the caption
    says the rest are in replay.json."""
    from tracelab.report.replay import CLASS_ROWS

    result = invoke(runner, ["simulate", "--plan", str(plan_dir)])
    assert result.exit_code == 0, result.stderr
    plan = json.loads((plan_dir / "plan.json").read_text())
    text = "".join(line.replace("│", "").replace(" ", "") for line in result.stdout.splitlines())
    for pool in plan["fleet"]:
        assert pool["pool_id"] in text
    assert f"{CLASS_ROWS} of " in result.stdout
    assert "every class in" in result.stdout
    assert len(result.stdout.splitlines()) < 150


def test_simulate_json_is_the_replay_summary(runner, plan_dir):
    result = invoke(runner, ["simulate", "--plan", str(plan_dir / "plan.json"), "--json",
                             "--window", "busiest-hour"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= {"attainment", "pools", "classes", "timeline", "backlog_at_last_arrival"}


def test_a_missing_plan_folder_is_one_line(runner, tmp_path):
    result = invoke(runner, ["simulate", "--plan", str(tmp_path / "nowhere")])
    _one_line_error(result, f"{tmp_path / 'nowhere'}: cannot read the plan")


def test_a_malformed_plan_json_is_one_line(runner, tmp_path):
    (tmp_path / "plan.json").write_text('{"fleet": [')
    line = _one_line_error(invoke(runner, ["simulate", "--plan", str(tmp_path)]),
                           f"{tmp_path / 'plan.json'}: not valid JSON")
    assert "line 1" in line


def test_a_model_without_a_pool_is_one_line(runner, tmp_path):
    pool = {"pool_id": "h100-sxm/llama-3.1-8b/x1/colocated", "device_id": "h100-sxm",
            "model_id": "llama-3.1-8b", "devices_per_replica": 1, "replicas": 1,
            "role": "colocated"}
    (tmp_path / "plan.json").write_text(json.dumps({"pools": [pool], "routes": []}))
    line = _one_line_error(invoke(runner, ["simulate", "--plan", str(tmp_path)]),
                           f"{tmp_path / 'plan.json'}: no pool serves model")
    assert "requests of the trace" in line


def test_bad_scheduler_options_are_one_line(runner, plan_dir):
    result = invoke(runner, ["simulate", "--plan", str(plan_dir), "--max-num-seqs", "512",
                             "--max-num-batched-tokens", "256"])
    _one_line_error(result, "max_num_batched_tokens 256 must exceed")
    _one_line_error(invoke(runner, ["simulate", "--plan", str(plan_dir), "--window", "day"]),
                    "--window 'day'")


def test_a_trace_without_model_names_is_one_line_not_an_empty_replay(runner, tmp_path):
    from conftest import REPO_ROOT

    mooncake = str(REPO_ROOT / "sample_traces" / "sample.mooncake.jsonl")  # logs no model
    plan = tmp_path / "plan"
    planned = invoke(runner, ["plan", mooncake, "--assume-model", "llama-3.1-8b", "--no-replay",
                              "-o", str(plan)])
    assert planned.exit_code == 0, planned.stderr
    line = _one_line_error(invoke(runner, ["simulate", mooncake, "--plan", str(plan)]),
                           f"{plan / 'plan.json'}: none of the trace's")
    assert "--assume-model" in line
    again = invoke(runner, ["simulate", mooncake, "--plan", str(plan), "--assume-model",
                            "llama-3.1-8b", "--json"])
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["requests"] > 0
