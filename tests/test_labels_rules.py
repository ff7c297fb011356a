"""Hand-computed fixtures for every label rule, its reason and the threshold config."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from test_labels_support import EDGE, HARDWARE, at, frame

from tracelab.errors import ConfigError
from tracelab.features import compute_features
from tracelab.labels import LabelConfig, compute_labels, load_label_config


def _labels(lf: pl.LazyFrame, config: LabelConfig | None = None, **kw: object) -> pl.DataFrame:
    features = compute_features(lf, hardware=HARDWARE, **kw)  # type: ignore[arg-type]
    return compute_labels(features, config or load_label_config(), edge_devices=EDGE).collect()


def test_phase_by_work_not_token_ratio() -> None:
    out = _labels(frame(
        model=["tiny"] * 4,
        input_tokens=[1500, 1000, 100, None],
        output_tokens=[13, 130, 2000, None],
    ))
    assert out.get_column("label_phase").to_list() == [
        "prefill-heavy", "balanced", "decode-heavy", None]
    reasons = out.get_column("label_phase_reason").to_list()
    # 1500*2.5e-5 + 1500^2*1e-9 = 39.75 ms; 13*(2.5e-4 + 5e-8*1506.5) = 4.2 ms; 90%.
    assert reasons[0] == (
        "prefill 90% of device-time (39.8 ms vs 4.2 ms on ref-gpu, tiny-8b) ≥ 75% → prefill-heavy")
    assert reasons[1].endswith("between 25% and 75% → balanced")
    assert reasons[2].endswith("≤ 25% → decode-heavy")
    assert reasons[3] == "token counts missing → no phase"


def test_phase_reason_says_when_the_work_model_is_assumed() -> None:
    out = _labels(frame(input_tokens=[1500], output_tokens=[13]))
    assert "on ref-gpu, tiny-8b assumed)" in out.item(0, "label_phase_reason")


def test_context_bands_at_their_edges() -> None:
    out = _labels(frame(input_tokens=[2000, 2000, 8000, 32000, 32000],
                        output_tokens=[48, 49, 192, 768, 769]))
    assert out.get_column("label_context").to_list() == [
        "short", "medium", "medium", "long", "very-long"]
    assert out.item(0, "label_context_reason") == "context 2048 tokens ≤ 2048 → short"
    assert out.item(4, "label_context_reason") == "context 32769 tokens > 32768 → very-long"


def test_mode_evidence_in_order() -> None:
    out = _labels(frame(
        request_id=["batch", "stream", "ttft", "t1", "t2", "f1", "f2", "f3", "none"],
        endpoint=["batch", "chat", None, None, None, None, None, None, None],
        is_streaming=[True, True, None, None, None, False, False, False, None],
        ttft_s=[None, None, 0.25, None, None, None, None, None, None],
        session_id=[None, None, None, "s", "s", None, None, None, None],
        arrival_ts=[at(0), at(0), at(0), at(0), at(30), at(50), at(50.1), at(50.2), at(0)],
        e2e_latency_s=[None, None, None, 5.0, None, None, None, None, None],
        input_tokens=[10] * 9,
        output_tokens=[10] * 9,
    ), LabelConfig(batch_co_submitted_min=3))
    assert out.get_column("label_mode").to_list() == [
        "batch", "interactive", "interactive", "interactive", "interactive",
        "batch", "batch", "batch", "unknown"]
    reasons = out.get_column("label_mode_reason").to_list()
    assert reasons[0] == "endpoint = batch → batch"
    assert reasons[2] == "TTFT logged (0.25 s) → interactive"
    # The first turn has no think time of its own: it inherits its session's (25 s).
    assert reasons[3] == (
        "turn 1 of a session whose median think time 25.0 s over 1 gap(s) is human "
        "(1–1800 s) → interactive")
    assert reasons[4].startswith("turn 2 of a session whose median think time 25.0 s")
    assert reasons[5] == "3 non-streaming requests of one tenant in the same second ≥ 3 → batch"
    assert reasons[8] == "no streaming, TTFT, session or batch evidence → unknown"


def test_model_size() -> None:
    out = _labels(frame(model=["tiny", "big-70b", "mystery", None],
                        input_tokens=[1] * 4, output_tokens=[1] * 4))
    assert out.get_column("label_model").to_list() == ["small", "large", "unknown", "unknown"]
    assert out.item(0, "label_model_reason") == (
        "8.0 B active parameters (tiny-8b) ≤ 8.5 B → small")
    assert "model 'mystery' not in the registry" in out.item(2, "label_model_reason")
    assert out.item(3, "label_model_reason").startswith("model not logged")


def test_placement_needs_small_short_interactive_and_memory() -> None:
    out = _labels(frame(
        model=["tiny", "tiny", "big-70b", "tiny", "tiny"],
        is_streaming=[True, None, True, True, True],
        input_tokens=[1000, 1000, 1000, 5000, 1000],
        output_tokens=[100, 100, 100, 100, 100],
    ))
    assert out.get_column("label_placement").to_list() == [
        "edge-eligible", "datacenter", "datacenter", "datacenter", "edge-eligible"]
    # 16e9 weight bytes + 1100 * 131072 KV bytes = 16.14 GB ≤ 0.8 * 32 GB on edge-32.
    assert out.item(0, "label_placement_reason") == (
        "small model, short context, interactive; weights + KV 16.1 GB ≤ 25.6 GB usable on "
        "edge-32 → edge-eligible")
    assert out.item(1, "label_placement_reason") == (
        "use is unknown, not interactive → datacenter")
    assert out.item(2, "label_placement_reason") == "model is large → datacenter"
    assert out.item(3, "label_placement_reason") == "context is medium → datacenter"


def test_placement_reports_a_memory_miss() -> None:
    tiny_edge = pl.DataFrame({"device": ["pico"], "mem_gb": [10.0]})
    features = compute_features(
        frame(model=["tiny"], is_streaming=[True], input_tokens=[10], output_tokens=[1]),
        hardware=HARDWARE,
    )
    out = compute_labels(features, LabelConfig(), edge_devices=tiny_edge).collect()
    assert out.item(0, "label_placement") == "datacenter"
    assert out.item(0, "label_placement_reason") == (
        "weights + KV 16.0 GB > 8.0 GB usable on the largest edge device → datacenter")


def test_default_config_matches_dataclass_defaults() -> None:
    assert load_label_config() == LabelConfig()


def test_config_overrides_a_subset(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[phase]\nprefill_heavy_min_share = 0.6\n")
    cfg = load_label_config(path)
    assert cfg.prefill_heavy_min_share == 0.6
    assert cfg.decode_heavy_max_share == 0.25
    assert cfg.source == str(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[phase]\nprefill_heavy = 0.6\n", "unknown key 'phase.prefill_heavy'"),
        ("[colour]\nx = 1\n", "unknown key 'colour'"),
        ("[context]\nshort_max_tokens = 'big'\n", "[context] field 'short_max_tokens'"),
        ("[context]\nshort_max_tokens = 9000\n", "context.short_max_tokens = 9000 must be below"),
        ("[phase]\nprefill_heavy_min_share = 0.2\n", "phase.decode_heavy_max_share = 0.25"),
        ("[phase\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_label_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert needle in message
