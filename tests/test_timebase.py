"""Time bases: calendar and relative times never share one axis by accident; no times at all
still gives labels and lengths, with what was skipped said in one line."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tests.conftest import invoke
from tracelab.ingest import read_trace, scan_trace
from tracelab.ingest.timebase import TimeBases, describe

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
def mixed(tmp_path):
    """Two calendar-time rows 10 s apart (2026) and two relative rows at 0 and 1.5 s."""
    (tmp_path / "abs.csv").write_text(
        "request_id,arrival_ts,model,input_tokens,output_tokens\n"
        "a1,2026-01-05T09:00:00Z,llama-3.1-8b,100,10\n"
        "a2,2026-01-05T09:00:10Z,llama-3.1-8b,200,20\n"
    )
    (tmp_path / "rel.jsonl").write_text(
        '{"timestamp": 0, "input_length": 300, "output_length": 30, "hash_ids": [1]}\n'
        '{"timestamp": 1500, "input_length": 400, "output_length": 40, "hash_ids": [1, 2]}\n'
    )
    return tmp_path


def _offsets(frame: pl.DataFrame) -> dict[str, float]:
    return {rid: (ts - EPOCH).total_seconds()
            for rid, ts in frame.select("request_id", "arrival_ts").iter_rows()}


def test_mixed_bases_share_one_relative_axis_from_zero(mixed):
    trace = read_trace(mixed)
    frame = trace.frame.collect()
    offsets = _offsets(frame)
    assert offsets["a1"] == 0.0
    assert offsets["a2"] == 10.0
    assert sorted(v for k, v in offsets.items() if k.startswith("rel")) == [0.0, 1.5]
    assert frame["time_base"].unique().to_list() == ["relative"]
    bases = trace.time_bases
    assert (bases.absolute_rows, bases.relative_rows, bases.untimed_rows) == (2, 2, 0)
    assert bases.shift_us == int((datetime(2026, 1, 5, 9, tzinfo=UTC) - EPOCH).total_seconds()
                                 * 1e6)
    note = describe(bases)
    assert note == ("mixed time bases aligned: the 2 rows with calendar times (first at "
                    "2026-01-05T09:00:00Z) were shifted to start at 0 beside the 2 rows with "
                    "relative offsets, one relative axis (no calendar date)")
    assert _offsets(scan_trace(mixed).collect()) == offsets


def test_one_time_base_is_left_alone(mixed):
    (mixed / "rel.jsonl").unlink()
    trace = read_trace(mixed)
    assert trace.time_bases.shift_us is None
    assert trace.frame.collect()["arrival_ts"].min() == datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert describe(trace.time_bases) == "one time base: calendar times (UTC)"


def test_describe_every_case():
    assert describe(TimeBases(relative_rows=3)) == (
        "one time base: relative offsets (no calendar date)")
    assert describe(TimeBases(absolute_rows=3, untimed_rows=2)) == (
        "one time base: calendar times (UTC); 2 rows without an arrival time are in no "
        "rate, window or timeline")
    assert describe(TimeBases(untimed_rows=5)).startswith("no arrival times: ")


def test_report_on_mixed_bases_spans_seconds_not_decades(runner, mixed, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    result = invoke(runner, ["report", str(mixed), "-o", str(out), "--assume-model",
                             "llama-3.1-8b"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["time"]["span_s"] == 10.0
    assert summary["time"]["time_base"] == "relative"
    assert summary["time"]["note"].startswith("mixed time bases aligned: the 2 rows")
    assert "mixed time bases aligned" in (out / "report.md").read_text()


def test_report_without_arrival_times_skips_the_plan_and_says_so(runner, tmp_path):
    path = tmp_path / "untimed.csv"
    path.write_text("model,input_tokens,output_tokens\n"
                    "llama-3.1-8b,100,10\nllama-3.1-8b,1000,5\nllama-3.1-8b,50,200\n")
    out = tmp_path / "out"
    result = invoke(runner, ["report", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plan"] is None
    assert summary["workload"]["requests"] == 3
    assert summary["workload"]["tokens"]["input_tokens"] == 1150
    assert summary["arrivals"]["requests_per_s_mean"] is None
    assert summary["timeline"]["requests"] == []
    assert summary["time"]["note"].startswith("no arrival times: ")
    assert any("no request has an arrival time" in n for n in summary["assumptions"]["notes"])
    assert "no arrival times" in result.output


def test_sample_anthropic_trace_reports(runner, tmp_path):
    from tests.conftest import REPO_ROOT

    out = tmp_path / "out"
    result = invoke(runner, ["report", str(REPO_ROOT / "sample_traces" /
                                             "sample.anthropic.jsonl"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["workload"]["requests"] == 296


def test_partially_timed_trace_counts_untimed_rows(tmp_path):
    path = tmp_path / "part.csv"
    path.write_text("arrival_ts,input_tokens,output_tokens\n2026-01-05T09:00:00Z,1,1\n,2,2\n")
    bases = read_trace(path).time_bases
    assert (bases.absolute_rows, bases.untimed_rows) == (1, 1)
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert bases.absolute_start_us == (start - EPOCH) // timedelta(microseconds=1)


def test_local_executor_aligns_like_the_whole_frame(runner, mixed, tmp_path_factory):
    spans = []
    for extra in ([], ["--executor", "local"]):
        out = tmp_path_factory.mktemp("report") / "out"
        result = invoke(runner, ["report", str(mixed), "-o", str(out), "--assume-model",
                                 "llama-3.1-8b", *extra])
        assert result.exit_code == 0, result.output
        spans.append(json.loads((out / "summary.json").read_text())["time"])
    assert spans[0] == spans[1]
    assert spans[0]["span_s"] == 10.0


def test_plan_on_mixed_bases_says_how_they_were_aligned(runner, mixed):
    result = invoke(runner, ["plan", str(mixed), "--assume-model", "llama-3.1-8b", "--json"])
    assert result.exit_code == 0, result.output
    assert "note: mixed time bases aligned: the 2 rows with calendar times" in result.stderr


def test_the_tours_report_on_every_sample_aligns_time_bases_and_says_so(runner, tmp_path):
    """The README tour's ``tracelab report sample_traces/ -o out/``: calendar, relative and
    untimed rows in one run (its replay once hit a polars panic on the several files'
    unevenly chunked columns)."""
    from tests.conftest import REPO_ROOT

    out = tmp_path / "out"
    result = invoke(runner, ["report", str(REPO_ROOT / "sample_traces"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["workload"]["requests"] == summary["input"]["rows_accepted"]
    assert summary["time"]["note"].startswith("mixed time bases aligned: ")
    assert summary["plan"]["replay"]["window"]["requests"] > 0


def test_spans_merge_and_count_the_windows_they_touch():
    from tracelab.ingest.timebase import covered_windows, merge_spans

    assert merge_spans([(50, 60), (0, 10), (10, 20), (55, 70)]) == ((0, 20), (50, 70))
    # Windows of 10 from 0: [0, 20] touches 0, 1, 2; [50, 70] touches 5, 6, 7.
    assert covered_windows(((0, 20), (50, 70)), 10) == 6
    assert covered_windows(((0, 25), (28, 31)), 10) == 4  # window 2 counted once
    bases = TimeBases(absolute_rows=2, spans=((0, 3_600_000_000), (10**13, 10**13 + 1)))
    assert describe(bases).startswith("one time base: calendar times (UTC); the input files "
                                      "cover 1.00 h in 2 stretches over ")


def test_logs_a_year_apart_are_planned_on_the_hours_they_cover(runner, tmp_path):
    """Two one-hour logs a year apart: the year between them is not idle time (it made the
    fleet '100% idle' at $8,797 per 1M tokens on Azure 2023 beside a 2026 log)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    for name, start in (("a", "2025-01-06T09:00:00Z"), ("b", "2026-01-05T09:00:00Z")):
        made = invoke(runner, ["synth", "-n", "400", "--start", start,
                               "-o", str(folder / f"{name}.parquet")])
        assert made.exit_code == 0, made.output
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.parquet").write_bytes((folder / "a.parquet").read_bytes())
    result = invoke(runner, ["plan", str(folder), "--no-replay", "--json"])
    assert result.exit_code == 0, result.output
    assert "the input files cover 2.00 h in 2 stretches over 8,73" in result.stderr
    doc = json.loads(result.stdout)
    alone = json.loads(invoke(runner, ["plan", str(one), "--no-replay", "--json"]).stdout)
    assert doc["span_hours"] == pytest.approx(2.0, rel=0.01)
    # Twice the requests over twice the covered hours: about the same rates, not ~0.
    assert doc["usd_per_mtok"] < 3 * alone["usd_per_mtok"]


def test_the_time_between_logs_is_not_an_inter_arrival_gap():
    """Two stretches of arrivals every second, 1 h apart: the inter-arrival CV is 0 (the
    one 3,600 s gap between the files made it 75.9 on the sample folder)."""
    from tracelab.report.summary import _arrivals

    us = 1_000_000
    first = [i * us for i in range(100)]
    second = [3_700 * us + i * us for i in range(100)]
    times = first + second
    gaps = [(b - a) / us for a, b in itertools.pairwise(times)]
    arr = {"window_s": 60.0, "gap_n": len(gaps), "gap_sum_s": (times[-1] - times[0]) / us,
           "gap_sumsq_s2": sum(g * g for g in gaps), "window_min": 0, "window_max": 63,
           "window_counts": {"60": 2, "40": 2}}
    spans = ((first[0], first[-1]), (second[0], second[-1]))
    out = _arrivals(arr, spans)
    assert out["interarrival_mean_s"] == pytest.approx(1.0)
    assert out["interarrival_cv"] == pytest.approx(0.0, abs=1e-9)
    assert _arrivals(arr)["interarrival_cv"] > 5  # as one stretch, the gap dominates
