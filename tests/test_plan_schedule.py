"""Schedules: replica counts per window of the day, their lead times, floors, the replay with
replicas in service over time, and a day/night trace where the schedule beats the static
fleet at the attainment target."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sim_fixtures import DEVICE, MODEL, colocated, perf_model, requests

from tracelab.cli import app
from tracelab.plan.schedule import (
    LoadFigures,
    availability,
    first_counts,
    lead_time,
    load_figures,
    windows_covered,
)
from tracelab.simulate import PoolSpec, simulate
from tracelab.synth.generate import generate_trace

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def test_lead_time_is_weight_bytes_over_the_slower_of_storage_and_host_links() -> None:
    perf = perf_model()
    # llama-3.1-70b: 70.6e9 parameters × 2 bytes (bf16) = 141.2 GB; 8 × 64 GB/s of PCIe5
    # beats one 7.45 GB/s NVMe drive, so the drive decides: 141.2 / 7.45 = 18.953 s.
    big = PoolSpec("p", DEVICE, "llama-3.1-70b", 8, 2, "colocated")
    lead = lead_time(perf, big, load_figures())
    assert lead.weight_bytes == pytest.approx(141.2e9)
    assert lead.load_gbs == pytest.approx(7.45)
    assert lead.lead_s == pytest.approx(141.2 / 7.45)
    assert "storage" in lead.source
    # At fp8 the weights halve; with storage faster than the link, one 64 GB/s PCIe5 link
    # decides: 8.03 GB (llama-3.1-8b, 8.03e9 × 1 byte) / 64 GB/s = 0.1255 s.
    small = PoolSpec("q", DEVICE, MODEL, 1, 1, "colocated", "fp8")
    fast = lead_time(perf, small, LoadFigures(1000.0, "test", "2026-12-02"))
    assert fast.weight_bytes == pytest.approx(8.03e9)
    assert fast.lead_s == pytest.approx(8.03 / 64)
    assert "host link" in fast.source


def test_added_replicas_serve_one_lead_time_after_their_window_starts() -> None:
    # A trace from 00:30 UTC to 02:43:20: windows 0, 1, 2 of the day; 1 → 3 replicas at 01:00
    # (from 1800 s into the replay), serving at 1800 + 20; down to 2 at 02:00 at once.
    counts = {0: 1, 1: 3, 2: 2}
    assert windows_covered(8000.0, 1800.0, 3600.0) == [0, 1, 2]
    assert availability(counts, 8000.0, 1800.0, 3600.0, 20.0) == (
        (0.0, 1), (1800.0, 1), (1820.0, 3), (5400.0, 2))
    # Warmed up ahead (lead 0): the count holds from the window's start.
    assert availability(counts, 8000.0, 1800.0, 3600.0, 0.0) == (
        (0.0, 1), (1800.0, 3), (5400.0, 2))


def test_first_counts_scale_the_static_count_and_keep_the_floor() -> None:
    shape = pl.DataFrame({"model_id": [MODEL] * 4, "hour": [0, 1, 2, 3],
                          "prefill": [1000.0, 500.0, 100.0, 0.0],
                          "decode": [100.0, 50.0, 10.0, 0.0]})
    pools = [PoolSpec("a", DEVICE, MODEL, 1, 4, "colocated"),
             PoolSpec("idle", DEVICE, MODEL, 1, 0, "colocated")]
    # 4 × (1, 0.5, 0.1, 0) rounded up: 4, 2, 1 (0.4 → 1), 0 → the floor.
    assert first_counts(pools, shape, [0, 1, 2, 3], floor=1) == {
        "a": {0: 4, 1: 2, 2: 1, 3: 1}, "idle": {0: 0, 1: 0, 2: 0, 3: 0}}
    assert first_counts(pools, shape, [0, 1, 2, 3], floor=0)["a"] == {0: 4, 1: 2, 2: 1, 3: 0}
    assert first_counts(pools, shape, [0, 1, 2, 3], floor=3)["a"] == {0: 4, 1: 3, 2: 3, 3: 3}


def test_a_replica_out_of_service_takes_no_request_and_drains_what_it_holds() -> None:
    fleet = colocated(2)
    pool = replace(fleet.pools[0], available=((0.0, 2), (10.0, 1), (20.0, 0), (30.0, 2)))
    frame = requests([0.0, 0.0, 12.0, 13.0, 25.0, 31.0, 31.0], 100, 4)
    replay = simulate(frame, replace(fleet, pools=(pool,)), perf_model())
    rep = dict(zip(replay.requests["request_id"], replay.requests["replica"], strict=True))
    # Two at 0 s go to both replicas; from 10 s only replica 0; at 25 s none is in service
    # (not served); from 30 s both again.
    assert [rep[f"r{i:07d}"] for i in range(7)] == [0, 1, 0, 0, -1, 0, 1]
    assert replay.requests.filter(pl.col("request_id") == "r0000004")["served"].item() is False


@cache
def _day_plan(commitment: str = "none"):
    """A day/night synthetic day: 8,000 chat requests over 24 h (diurnal amplitude 0.9: the
    15:00 UTC peak 19× the 03:00 trough), one model with long prompts, planned on H100s
    (with ``commitment``, a reserved base plus burst by the hour)."""
    from tracelab.pipeline import Pipeline, PipelineOptions

    frame = generate_trace(8000, seed=1, start="2026-01-05T00:00:00Z", span_s=86400,
                           mix="chat", diurnal=0.9)
    frame = frame.with_columns(pl.lit("llama-3.1-70b").alias("model"),
                               pl.col("input_tokens") * 8)
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    path = folder / "day.parquet"
    frame.write_parquet(path)
    options = PipelineOptions(only=("h100-sxm",), verify=True, commitment=commitment).validate()
    pipe = Pipeline([path], options)
    return pipe.plan(), path, pipe


def test_on_a_day_night_trace_the_schedule_costs_less_at_the_target() -> None:
    plan, _, _ = _day_plan()
    block = plan.schedule
    assert block["note"] == ""
    assert block["scheduled_usd_per_hour"] < block["static_usd_per_hour"]
    replayed = block["replay"]
    assert replayed["replayed"]
    assert replayed["requests"] == 8000
    assert replayed["attained"] >= replayed["target"] == 0.99
    table = plan.schedule_table
    assert table["hour"].n_unique() == 24
    static = dict(zip(plan.fleet["pool_id"], plan.fleet["replicas"], strict=True))
    # Never more than the static fleet, never under the floor, fewer at night than in the
    # afternoon.
    assert table.filter(pl.col("replicas") > pl.col("pool_id").replace_strict(static)).height == 0
    assert table["replicas"].min() >= 1
    per_hour = dict(table.group_by("hour").agg(pl.col("replicas").sum()).iter_rows())
    assert per_hour[3] < per_hour[15]
    mean = table["usd"].sum() / 24
    assert block["scheduled_usd_per_hour"] == pytest.approx(mean)


def test_a_committed_schedule_pays_its_reserved_base_every_hour_and_bursts_the_rest() -> None:
    plan, _, _ = _day_plan("1y")
    block = plan.schedule
    pool = plan.fleet["pool_id"][0]
    hours = plan.hours[pool]
    # The static fleet as the plan bought it: 2 replicas, 1 reserved ($2.38 × 8 GPUs per
    # hour), the second on demand ($3.78 × 8) in the hours its shape needs it.
    row = plan.fleet.row(0, named=True)
    assert (row["replicas"], row["reserved"], row["burst"]) == (2, 1, 1)
    assert (hours.reserved_usd, hours.burst_usd) == pytest.approx((2.38 * 8, 3.78 * 8))
    assert block["static_usd_per_hour"] == pytest.approx(plan.usd_per_hour)
    assert block["priced_at"].startswith("the static fleet as the plan bought it")
    # The schedule runs 1 or 2 replicas: the floor, 1, is reserved; the second bursts.
    table = plan.schedule_table
    assert block["reserved"] == {pool: 1}
    assert set(table["replicas"]) == {1, 2}
    expected = table.select(hours.reserved_usd + (pl.col("replicas") - 1) * hours.burst_usd)
    assert table["usd"].to_list() == pytest.approx(expected.to_series().to_list())
    assert block["scheduled_usd_per_hour"] == pytest.approx(table["usd"].sum() / 24)
    # The replayed schedule is the plan's: the same counts as on demand.
    from tracelab.report.schedule import schedule_line

    assert ("$30.38/h on average against $29.12/h static, both a reserved base plus burst by "
            "the hour (no saving: keep the static fleet)") in schedule_line(block)
    on_demand, _, _ = _day_plan()
    assert_frame_equal(table.select("hour", "pool_id", "replicas"),
                       on_demand.schedule_table.select("hour", "pool_id", "replicas"))


def test_plan_writes_the_schedule_and_a_short_trace_has_none(runner, tmp_path) -> None:
    _, path, _ = _day_plan()
    out = tmp_path / "plan"
    result = runner.invoke(app, ["plan", str(path), "--only", "h100-sxm", "-o", str(out),
                                 "--schedule-floor", "1"], env=ENV)
    assert result.exit_code == 0, result.output
    table = pl.read_csv(out / "schedule.csv")
    assert table.columns == ["hour", "pool_id", "replicas", "devices", "usd"]
    assert table.equals(pl.read_parquet(out / "schedule.parquet"))
    block = json.loads((out / "plan.json").read_text())["schedule"]
    assert block["lead_times"][0]["lead_s"] > 0
    assert block["lead_times"][0]["source"]
    assert "Schedule over the day" in result.stdout
    # The bundled sample spans one hour: one line says so, and no schedule table is written.
    short = runner.invoke(app, ["plan", "--json"], env=ENV)
    assert short.exit_code == 0
    assert "nothing to schedule" in json.loads(short.stdout)["schedule"]["note"]
    off = runner.invoke(app, ["plan", "--json", "--schedule", "none"], env=ENV)
    assert "schedule" not in json.loads(off.stdout)


def test_an_unknown_schedule_is_one_line_exit_2(runner) -> None:
    result = runner.invoke(app, ["plan", "--schedule", "weekly"], env=ENV)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "weekly" in result.stderr


def test_synth_day_night_amplitude() -> None:
    hours = (generate_trace(20000, seed=0, start="2026-01-05T00:00:00Z", span_s=86400,
                            mix="chat", diurnal=0.9)
             .group_by(pl.col("arrival_ts").dt.hour()).len())
    count = dict(hours.iter_rows())
    # Rate ∝ 1 + 0.9·cos(2π(h − 15)/24): the 15:00 hour ~19× the 03:00 one (bursts aside).
    assert count[15] > 8 * count[3]
    with pytest.raises(Exception, match="diurnal amplitude"):
        generate_trace(10, diurnal=1.5)



def test_the_report_shows_the_schedule_line_table_and_chart() -> None:
    from tracelab.report.schedule import chart_schedule, schedule_line, schedule_section

    rows = [{"hour": h, "pool_id": "p", "replicas": 2 if 11 <= h < 20 else 1, "devices": 8,
             "usd": 30.24 * (2 if 11 <= h < 20 else 1)} for h in range(24)]
    block = {"window_s": 3600.0, "note": "", "floor": 1, "static_usd_per_hour": 60.48,
             "scheduled_usd_per_hour": 41.58, "saving": 1 - 41.58 / 60.48,
             "prewarm_usd_per_hour": 0.0066, "rows": rows,
             "lead_times": [{"pool_id": "p", "weight_bytes": 141.2e9, "load_gbs": 7.45,
                             "lead_s": 18.95, "source": "storage"}],
             "replay": {"replayed": True, "requests": 8000, "target": 0.99, "attained": 0.9989,
                        "static_attained": 0.9991, "static_windows_missed": 0,
                        "attained_without_lag": 0.9989}}
    summary = {"plan": {"schedule": block}}
    line = schedule_line(block)
    assert "$41.58/h on average against $60.48/h static, both on demand (31.2% less)" in line
    assert "99.89% meet the SLO" in line
    section = schedule_section(summary)  # type: ignore[arg-type]
    assert section is not None
    table = next(b for b in section.blocks if hasattr(b, "rows"))
    assert table.rows[11] == ("11:00", "2", "$60.48")
    chart = chart_schedule(summary)  # type: ignore[arg-type]
    assert chart is not None
    assert chart.name == "schedule"
    assert chart.svg.startswith("<svg")
    assert "nothing to schedule" in schedule_line({"window_s": 3600.0,
                                                   "note": "nothing to schedule"})


def test_a_trace_over_the_replay_cap_is_sized_not_replayed(monkeypatch) -> None:
    from tracelab.plan import schedule_replay
    from tracelab.simulate.requests import scan_replay_requests

    plan, _, pipe = _day_plan()
    monkeypatch.setattr(schedule_replay, "MAX_SCHEDULE_REPLAY_REQUESTS", 100)
    fitted = schedule_replay.fit_schedule(
        plan, scan_replay_requests(pipe.features().frame), pipe.settings.perf_model(),
        pipe.settings.slos, offset_s=0.0)
    assert fitted.summary["replay"] == {
        "replayed": False, "note": "not replayed: 8,000 requests, over the 100 a whole-trace "
                                   "replay takes"}
    assert fitted.table is not None
    assert fitted.table["hour"].n_unique() == 24


def test_the_schedule_block_meets_the_plan_schema() -> None:
    import jsonschema

    from tracelab.resources import schema_path

    plan, _, _ = _day_plan()
    schema = json.loads(schema_path("plan.schema.json").read_text())
    doc = json.loads(json.dumps(plan.to_json(), default=str))
    jsonschema.validate(doc, schema)
    jsonschema.validate(doc["schedule"], schema["properties"]["schedule"])
