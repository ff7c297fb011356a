"""The report replays the fleet by default: what was replayed, TTFT/TPOT per SLO mode against
the targets, utilisation per pool over time, what the simulator leaves out; and the ledger
carries each replayed request's replica and simulated times."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import REPO_ROOT, invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelab.plan.ledger import attach_replay, route_unit
from tracelab.plan.slo import Slo
from tracelab.simulate.distributions import CDF_POINTS, NOT_MODELLED, compute_distributions
from tracelab.simulate.requests import busiest_window

MOONCAKE = REPO_ROOT / "sample_traces" / "sample.mooncake.jsonl"
OPTIONS = ["--assume-model", "llama-3.1-8b"]


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("replay") / "r"
    result = invoke(CliRunner(), ["report", str(MOONCAKE), *OPTIONS, "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def test_the_report_replays_by_default_and_says_what(reported: Path) -> None:
    replay = json.loads((reported / "summary.json").read_text())["plan"]["replay"]
    assert replay["window"]["name"] == "whole trace"
    assert replay["window"]["requests"] == sum(d["requests"] for d in replay["distributions"])
    assert replay["window"]["requests"] > 0
    for d in replay["distributions"]:
        assert len(d["cdf_ttft_s"]) == len(CDF_POINTS) or d["served"] == 0
        assert d["cdf_ttft_s"] == sorted(d["cdf_ttft_s"])
        assert d["p50_ttft_s"] <= d["p90_ttft_s"] <= d["p99_ttft_s"]
    pools = {p["pool_id"] for p in replay["pools"]}
    assert pools
    assert {b["pool_id"] for b in replay["timeline"]} <= pools
    assert all(0 <= b["busy"] <= 1 + 1e-9 for b in replay["timeline"])
    md = (reported / "report.md").read_text()
    section = md[md.index("## Replay of the fleet"):]
    section = section[:section.index("\n## ", 5)]
    assert f"({replay['window']['requests']:,} requests)" in section
    assert "TTFT p50 / p90 / p99" in section
    assert "The simulator does not model:" in section
    assert NOT_MODELLED[0] in section
    for chart in ("replay_latency", "pool_busy"):
        assert f"charts/{chart}.svg" in section
        assert (reported / "charts" / f"{chart}.svg").is_file()
        assert f'id="chart-{chart}"' in (reported / "report.html").read_text()


def test_no_replay_says_the_fleet_was_not_replayed(runner, tmp_path) -> None:
    out = tmp_path / "r"
    result = invoke(runner, ["report", str(MOONCAKE), *OPTIONS, "--no-replay", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "replay" not in json.loads((out / "summary.json").read_text())["plan"]
    assert "The fleet was not replayed" in (out / "report.md").read_text()


def test_the_ledger_carries_the_replayed_times(runner, tmp_path) -> None:
    result = invoke(runner, ["plan", str(MOONCAKE), *OPTIONS, "-o", str(tmp_path / "p")])
    assert result.exit_code == 0, result.stderr
    ledger = pl.read_parquet(tmp_path / "p" / "ledger.parquet")
    plan = json.loads((tmp_path / "p" / "plan.json").read_text())
    replayed = ledger.filter(pl.col("replay_note") == "replayed")
    assert replayed.height == plan["replay"]["window"]["requests"] - plan["replay"]["unserved"]
    assert replayed["ttft_s"].is_not_null().all()
    assert (replayed["replica"] >= 0).all()
    assert (replayed["e2e_s"] >= replayed["ttft_s"]).all()
    assert (replayed["queue_s"] >= 0).all()
    assert ledger.filter(pl.col("replay_note") != "replayed")["ttft_s"].is_null().all()


def test_attach_replay_marks_requests_outside_the_window() -> None:
    ledger = pl.LazyFrame({"request_id": ["a", "b", "c"], "replica": [None, None, None],
                           "queue_s": [None] * 3, "ttft_s": [None] * 3, "tpot_s": [None] * 3,
                           "e2e_s": [None] * 3, "replay_note": ["x"] * 3},
                          schema_overrides={c: pl.Float64 for c in
                                            ("queue_s", "ttft_s", "tpot_s", "e2e_s")})
    replayed = pl.DataFrame({"request_id": ["c", "a"], "replica": [1, 0],
                             "queue_s": [0.0, 0.5], "ttft_s": [0.1, None],
                             "tpot_s": [0.01, None], "e2e_s": [1.0, None],
                             "served": [True, False]})
    out = attach_replay(ledger, replayed, "busiest 10 s").collect()
    assert out["request_id"].to_list() == ["a", "b", "c"]
    assert out["replica"].to_list() == [0, None, 1]
    assert out["ttft_s"].to_list() == [None, None, 0.1]
    assert out["replay_note"].to_list() == [
        "replayed, not served: no replica could hold it",
        "not replayed: outside the replayed window (busiest 10 s)", "replayed"]


def test_distributions_by_hand() -> None:
    requests = pl.DataFrame({
        "slo_mode": ["interactive"] * 5,
        "ttft_s": [0.1, 0.2, 0.3, 0.4, None], "tpot_s": [0.01, 0.02, 0.03, 0.04, None],
        "served": [True, True, True, True, False],
        "meets_ttft": [True, True, True, False, False],
        "meets_tpot": [True, True, False, False, False],
        "meets_slo": [True, True, False, False, False]})
    slos = {"interactive": Slo(mode="interactive", ttft_s=0.35, tpot_s=0.025)}
    (d,) = compute_distributions(requests, slos)
    assert (d["requests"], d["served"]) == (5, 4)
    assert d["ttft_target_s"] == 0.35
    assert d["tpot_target_s"] == 0.025
    assert d["p50_ttft_s"] == pytest.approx(0.25)  # linear between 0.2 and 0.3
    assert d["p99_tpot_s"] == pytest.approx(0.0397)
    assert (d["meets_ttft"], d["meets_tpot"], d["attainment"]) == (0.6, 0.4, 0.4)
    assert d["cdf_ttft_s"][0] == 0.1
    assert d["cdf_ttft_s"][-1] == 0.4


def _frame(arrival: list[float]) -> pl.LazyFrame:
    n = len(arrival)
    return pl.LazyFrame({"request_id": [str(i) for i in range(n)], "arrival_s": arrival,
                         "prefill_tokens": [100] * n, "output_tokens": [10] * n})


def test_a_short_trace_is_replayed_whole() -> None:
    window, about = busiest_window(_frame([5.0, 6.0, 100.0]))
    assert about == {"name": "whole trace", "start_s": 5.0, "end_s": 100.0, "requests": 3,
                     "busiest_hour_requests": 3}
    assert window["arrival_s"].to_list() == [0.0, 1.0, 95.0]


def test_simulate_s_busiest_hour_of_a_short_trace_keeps_its_last_arrival() -> None:
    from tracelab.simulate.requests import select_window

    short = _frame([5.0, 6.0, 100.0]).collect()
    assert select_window(short, "busiest-hour")["arrival_s"].to_list() == [0.0, 1.0, 95.0]
    # Two hours at one request a second: the hour is half-open, as busiest_window's is.
    long = _frame([float(t) for t in range(7200)]).collect()
    assert select_window(long, "busiest-hour").height == 3600


def test_a_busy_hour_over_the_budget_replays_a_shorter_busiest_window() -> None:
    # 1 request/s for two hours, and a burst of 50 requests in the second at 4,000 s.
    arrival = [float(t) for t in range(7200)] + list(np.linspace(4000.0, 4000.9, 50))
    window, about = busiest_window(_frame(sorted(arrival)), max_requests=100)
    assert about["busiest_hour_requests"] > 3600
    assert about["name"].startswith("busiest ")
    assert about["name"] != "busiest hour"
    assert 50 <= about["requests"] <= 100
    assert about["start_s"] <= 4000.0
    assert about["end_s"] > 4000.9
    assert window.height == about["requests"]
    assert window["arrival_s"].min() >= 0


def test_route_unit_keys_fallback_ids_by_content() -> None:
    """Two copies of one file under other names: ingest's FILE:ROW ids differ, the rows
    do not, so the ledger and the simulator route them the same way."""
    rows = {"arrival_ts": [1, 2], "model": ["m", "m"], "input_tokens": [10, 20],
            "source_row": [0, 1]}
    a = pl.DataFrame({"request_id": ["a.jsonl:0", "a.jsonl:1"], **rows})
    b = pl.DataFrame({"request_id": ["b.jsonl:0", "b.jsonl:1"], **rows})
    key_a = a.select(route_unit(a.columns))["route_u"]
    key_b = b.select(route_unit(b.columns))["route_u"]
    assert key_a.to_list() == key_b.to_list()
    assert key_a.n_unique() == 2
    assert ((key_a >= 0) & (key_a < 1)).all()
    logged = pl.DataFrame({"request_id": ["x", "y"], **rows})
    assert logged.select(route_unit(logged.columns))["route_u"].to_list() == \
        logged.select(route_unit())["route_u"].to_list()  # a logged id is hashed as it is


@pytest.mark.parametrize(("hour_s", "max_requests"), [(3600.0, 300), (600.0, 10**9),
                                                      (10**6, 10**9)])
def test_the_labelled_window_is_the_window_of_every_request(hour_s, max_requests) -> None:
    """``busiest_labeled_window`` reads only the window's labelled rows the second time
    (by arrival_ts, then the exact test); it returns the same rows, columns and dict as
    ``busiest_window`` over every request."""
    from polars.testing import assert_frame_equal

    from tracelab.commands._options import load_inputs
    from tracelab.labels import load_label_config, materialise_labels
    from tracelab.simulate.requests import busiest_labeled_window, scan_replay_requests

    trace = load_inputs([REPO_ROOT / "sample_traces" / "sample.canonical.parquet"], None, False)
    labeled = materialise_labels(trace, config=load_label_config(), model_map=None,
                                 assume_model=None)
    want, about = busiest_window(scan_replay_requests(labeled), hour_s, max_requests)
    got, got_about = busiest_labeled_window(labeled, "labels", hour_s, max_requests)
    assert got_about == about
    assert 0 < got.height < labeled.select(pl.len()).collect().item() or hour_s > 3600
    assert_frame_equal(got, want)


def test_a_burst_over_the_budget_within_one_second_replays_its_first_requests() -> None:
    """The window stops shrinking at 1 s; a burst of more than ``max_requests`` inside one
    second (a session-heavy synth day put 57,289 requests in its last second, replayed 40
    times: 267 CPU-s) replays its first ``max_requests`` requests, and says so."""
    arrival = [float(t) for t in range(7200)] + list(np.linspace(4000.0, 4000.5, 500))
    window, about = busiest_window(_frame(sorted(arrival)), max_requests=100)
    assert about["requests"] == window.height == 100
    assert about["name"] == "the first 100 of the 501 requests of the busiest 1.0 s"
    assert about["start_s"] <= 4000.0 < about["end_s"]
    assert window["arrival_s"].is_sorted()
    at_once = busiest_window(_frame([float(t) for t in range(7200)] + [4000.0] * 300),
                             max_requests=100)[0]
    assert at_once.height == 100  # equal arrivals cannot be cut by time


def _every_window(t: np.ndarray, work: np.ndarray, length: float) -> tuple[float, float]:
    """The busiest window measured at every arrival (the definition ``_busiest`` prunes)."""
    order = np.argsort(t, kind="stable")
    t, work = t[order], work[order]
    if t[-1] - t[0] <= length:
        return float(t[0]), float(t[-1])
    cum = np.cumsum(work).astype(float)
    total = cum[np.searchsorted(t, t + length, side="left") - 1] - np.r_[0.0, cum[:-1]]
    best = int(np.argmax(total))
    return float(t[best]), float(t[best] + length)


@given(st.integers(0, 2**32 - 1), st.integers(1, 2000), st.integers(0, 300),
       st.sampled_from([1.0, 3.0, 7.3, 3600.0]), st.booleans())
@settings(max_examples=300, deadline=None)
def test_the_pruned_window_search_finds_the_window_every_arrival_would(seed, n, burst, length,
                                                                     coarse):
    """Measuring only the windows whose bins can hold the most work finds the same window
    (ties: the first) as measuring every one: a background of ``n`` arrivals over 30 s and
    a burst of ``burst`` within 0.5 s, shuffled; with ``coarse`` arrivals on 0.1 s ticks,
    so arrivals and windows tie."""
    from tracelab.simulate.requests import _arrivals, _busiest

    rng = np.random.default_rng(seed)
    at = rng.uniform(0, 25)
    t = rng.permutation(np.r_[rng.uniform(0, 30, n), at + rng.uniform(0, 0.5, burst)])
    if coarse:
        t = np.round(t, 1)
    work = rng.integers(0, 5, len(t))
    frame = pl.DataFrame({"arrival_s": t, "prefill_tokens": work,
                          "output_tokens": np.zeros_like(work)})
    assert _busiest(*_arrivals(frame), length) == _every_window(t, work, length)
