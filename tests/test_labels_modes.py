"""Mode from behaviour: sessions of people and of agents, jobs handed over whole, and the
time of day as weak evidence only. Every fixture is small enough to check by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from test_labels_support import EDGE, HARDWARE, at, frame

from tracelab.errors import ConfigError
from tracelab.features import compute_features
from tracelab.labels import LabelConfig, compute_labels, load_label_config


def _labels(lf: pl.LazyFrame, config: LabelConfig | None = None) -> pl.DataFrame:
    features = compute_features(lf, hardware=HARDWARE)
    return compute_labels(features, config or load_label_config(), edge_devices=EDGE).collect()


def _modes(out: pl.DataFrame) -> dict[str, str]:
    return dict(zip(out["request_id"], out["label_mode"], strict=True))


def _session(name: str, starts: list[float], e2e: float, inputs: list[int],
             streaming: bool | None = None) -> dict[str, list[object]]:
    n = len(starts)
    return {
        "request_id": [f"{name}{i + 1}" for i in range(n)],
        "session_id": [name] * n,
        "arrival_ts": [at(s) for s in starts],
        "e2e_latency_s": [e2e] * n,
        "is_streaming": [streaming] * n,
        "input_tokens": inputs,
        "output_tokens": [50] * n,
    }


def _concat(*parts: dict[str, list[object]]) -> pl.LazyFrame:
    return frame(**{key: [v for part in parts for v in part[key]] for key in parts[0]})


def test_human_session_labels_every_turn_first_included() -> None:
    # Think times 30 - 5 = 25 s and 100 - 35 = 65 s: median 45 s, in 1-1800 s.
    out = _labels(_concat(_session("h", [0, 30, 100], 5.0, [100, 200, 300])))
    assert out["label_mode"].to_list() == ["interactive"] * 3
    assert out.item(0, "label_mode_reason") == (
        "turn 1 of a session whose median think time 45.0 s over 2 gap(s) is human "
        "(1–1800 s) → interactive")
    assert out.item(0, "session_gaps") == 2
    assert out.item(0, "session_think_median_s") == pytest.approx(45.0)


def test_agent_loop_is_agentic_even_when_streamed() -> None:
    # Gaps 2.2 - 2 = 0.2, 4.5 - 4.2 = 0.3, 7.0 - 6.5 = 0.5 s: median 0.3 s < 1 s; context
    # 150 → 300 → 450 → 650 grows after 3 of 3 gaps.
    out = _labels(_concat(_session("a", [0, 2.2, 4.5, 7.0], 2.0, [100, 250, 400, 600],
                                   streaming=True)))
    assert out["label_mode"].to_list() == ["agentic"] * 4
    assert out.item(0, "label_mode_reason") == (
        "turn 1 of a session whose median think time 0.3 s over 3 gap(s) is machine speed "
        "(< 1 s) and whose context grew after 100% of them (≥ 80%) → agentic")
    assert out.item(0, "session_growing_share") == 1.0


def test_machine_speed_without_growth_or_loop_is_not_agentic() -> None:
    flat = _session("f", [0, 2.2, 4.5, 7.0], 2.0, [100, 100, 100, 100])  # no growth
    short = _session("s", [0, 2.2], 2.0, [100, 250])  # one gap: not a loop
    out = _labels(_concat(flat, short))
    assert set(out["label_mode"].to_list()) == {"unknown"}
    growth = dict(zip(out["request_id"], out["session_growing_share"], strict=True))
    assert (growth["f1"], growth["s1"]) == (0.0, 1.0)


def test_turn_think_time_still_counts_when_the_session_median_is_not_human() -> None:
    # Gaps 3595 s and 20 s: median 1807.5 s > 1800 s, so no session evidence; the turn
    # after 20 s is still a person's.
    out = _labels(_concat(_session("e", [0, 3600, 3625], 5.0, [10, 20, 30])))
    assert out["label_mode"].to_list() == ["unknown", "unknown", "interactive"]
    assert out.item(2, "label_mode_reason") == (
        "turn 3 of session after 20.0 s think time (human range 1–1800 s) → interactive")


def test_job_without_arrival_times_is_batch() -> None:
    n_a, n_b = 8, 7
    out = _labels(frame(
        request_id=[f"a{i}" for i in range(n_a)] + [f"b{i}" for i in range(n_b)] + ["s0"],
        tenant_id=["A"] * n_a + ["B"] * n_b + ["A"],
        is_streaming=[None] * (n_a + n_b) + [True],
        input_tokens=[50] * (n_a + n_b + 1),
        output_tokens=[900] * (n_a + n_b + 1),
    ))
    modes = _modes(out)
    assert {modes[f"a{i}"] for i in range(n_a)} == {"batch"}
    assert {modes[f"b{i}"] for i in range(n_b)} == {"unknown"}  # 7 < 8
    assert modes["s0"] == "interactive"  # streamed: not part of the job
    assert out.item(0, "label_mode_reason") == (
        "8 requests of one tenant in this file with no arrival time, not streamed (a job "
        "handed over whole) ≥ 8 → batch")


def test_time_of_day_only_corroborates_a_burst() -> None:
    night = datetime(2024, 5, 1, 3, 0, 0, tzinfo=UTC)
    day = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)
    arrivals = [night + timedelta(seconds=0.1 * i) for i in range(5)]
    arrivals += [day + timedelta(seconds=0.1 * i) for i in range(5)]
    arrivals += [night + timedelta(seconds=30)]  # alone at night: no burst, no label
    out = _labels(frame(
        tenant_id=["T"] * 11, is_streaming=[False] * 11, arrival_ts=arrivals,
        input_tokens=[10] * 11, output_tokens=[10] * 11,
    ))
    assert out["label_mode"].to_list() == ["batch"] * 5 + ["unknown"] * 6
    assert out.item(0, "label_mode_reason") == (
        "5 non-streaming requests of one tenant in the same second (≥ 4, below 8) at 3 h UTC, "
        "in the off-hours 0–6 h (weak evidence, only with the burst) → batch")


def test_session_evidence_does_not_depend_on_row_order() -> None:
    lf = _concat(_session("h", [0, 30, 100], 5.0, [100, 200, 300]),
                 _session("a", [0, 2.2, 4.5, 7.0], 2.0, [100, 250, 400, 600]))
    base = _labels(lf).sort("request_id")
    shuffled = _labels(lf.collect().sample(fraction=1.0, shuffle=True, seed=3).lazy())
    columns = ["request_id", "label_mode", "label_mode_reason", "session_think_median_s"]
    assert base.select(columns).equals(shuffled.sort("request_id").select(columns))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[mode]\nbatch_co_submitted_weak_min = 8\n", "mode.batch_co_submitted_weak_min = 8"),
        ("[mode]\noff_hours_start_utc = 7\n", "mode.off_hours_start_utc = 7 must be below"),
        ("[mode]\nagentic_growing_min_share = 2\n", "field 'agentic_growing_min_share'"),
    ],
)
def test_mode_thresholds_are_checked(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(".", r"\.")):
        load_label_config(path)
