"""The whole busiest hour, replayed once: when the repair replayed a shorter window of an
hour holding more than the replay takes, plan.json says what the repaired fleet attains
over all of it (the busiest 158 s of a 200k-request synthetic hour met 99.4%, the hour
98.5%)."""

from __future__ import annotations

import polars as pl

from tracelab.pipeline import Pipeline, PipelineOptions
from tracelab.simulate.requests import MAX_REPLAY_REQUESTS
from tracelab.synth import generate_trace


def test_a_window_shorter_than_the_hour_is_checked_over_the_hour(tmp_path):
    path = tmp_path / "hour.parquet"
    generate_trace(MAX_REPLAY_REQUESTS + 5_000, seed=3).write_parquet(path)
    pipe = Pipeline([path], PipelineOptions(verify=True, schedule="none"))
    plan = pipe.plan()
    assert plan is not None
    assert plan.replay is not None
    replay = plan.replay
    assert replay["window"]["name"].startswith("busiest ")
    assert replay["window"]["requests"] <= MAX_REPLAY_REQUESTS
    hour = replay["hour"]
    assert hour["requests"] == MAX_REPLAY_REQUESTS + 5_000  # the trace is the hour
    assert 0.0 <= hour["attained_with_infeasible"] <= hour["attained"] <= 1.0
    assert hour["attainment_target_met"] == (hour["attained"] >= replay["target"])
    # The ledger's simulated times stay the window's (the repair's final replay).
    replayed = plan.ledger.lazy().filter(pl.col("replay_note") == "replayed")
    assert replayed.select(pl.len()).collect().item() == replay["window"]["requests"]


def test_the_report_says_what_the_hour_attains(tmp_path):
    from tracelab.report.fmt import hour_note

    replay = {"hour": {"requests": 200_000, "attained": 0.9847, "attainment_target_met": False}}
    note = hour_note(replay)
    assert "200,000 requests" in note
    assert "98.47%" in note
    assert "misses the target" in note
    assert hour_note({}) == ""


def test_a_whole_trace_replay_has_no_hour_check(tmp_path):
    path = tmp_path / "small.parquet"
    generate_trace(2_000, seed=1).write_parquet(path)
    plan = Pipeline([path], PipelineOptions(verify=True, schedule="none")).plan()
    assert plan is not None
    assert plan.replay is not None
    assert plan.replay["window"]["name"] == "whole trace"
    assert "hour" not in plan.replay
