"""Hand-computed fixtures for every feature (coefficients in test_labels_support)."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from test_labels_support import HARDWARE, at, frame

from tracelab.features import FEATURE_NAMES, compute_features, describe_features


def _features(lf: pl.LazyFrame, **kwargs: object) -> pl.DataFrame:
    return compute_features(lf, hardware=HARDWARE, **kwargs).collect()  # type: ignore[arg-type]


def test_registry_matches_columns_and_describes_units() -> None:
    table = describe_features()
    assert table.get_column("name").to_list() == list(FEATURE_NAMES)
    assert table.filter(pl.col("name") == "kv_bytes").item(0, "unit") == "bytes"
    out = _features(frame(input_tokens=[10], output_tokens=[1], arrival_ts=[at(0)]))
    assert out.columns[-len(FEATURE_NAMES):] == list(FEATURE_NAMES)


def test_token_features() -> None:
    out = _features(frame(
        input_tokens=[1000, 1500, 100, None],
        cached_input_tokens=[200, None, 0, None],
        output_tokens=[100, 13, 0, None],
        reasoning_tokens=[40, None, 0, None],
    ))
    expected = pl.DataFrame({
        "prefill_tokens": [800, 1500, 100, None],
        "cached_share": [0.2, None, 0.0, None],
        "decode_tokens": [100, 13, 0, None],
        "prefill_decode_ratio": [8.0, 1500 / 13, None, None],
        "context_tokens": [1100, 1513, 100, None],
        "reasoning_share": [0.4, None, None, None],
    })
    assert_frame_equal(out.select(expected.columns), expected)


def test_model_facts_and_work_per_phase() -> None:
    out = _features(frame(
        model=["tiny", "mystery", None, "big-70b"],
        input_tokens=[1000, 1500, 1500, 1000],
        cached_input_tokens=[200, None, None, None],
        output_tokens=[100, 13, 13, 10],
    ))
    assert out.get_column("model_id").to_list() == ["tiny-8b", None, None, "big-70b"]
    assert out.get_column("model_match").to_list() == ["exact", "unknown", "unknown", "exact"]
    assert out.get_column("kv_bytes").to_list() == [1100 * 131_072.0, None, None, 1010 * 327_680.0]
    assert out.get_column("work_model_id").to_list() == ["tiny-8b", "tiny-8b", "tiny-8b", "big-70b"]
    assert out.get_column("work_model_assumed").to_list() == [False, True, True, False]
    assert out.get_column("work_device").unique().to_list() == ["ref-gpu"]
    # prefill: 800*2.5e-5 + 800^2*1e-9 = 0.02064 s; decode: 100*(2.5e-4 + 5e-8*(1000+50)).
    prefill = out.get_column("prefill_device_s").to_list()
    decode = out.get_column("decode_device_s").to_list()
    assert prefill[0] == pytest.approx(0.02064)
    assert decode[0] == pytest.approx(0.03025)
    assert out.item(0, "prefill_work_share") == pytest.approx(0.02064 / (0.02064 + 0.03025))
    # Code-completion shape 1500/13 is prefill-heavy by work, 0.039750 vs 0.0037441 s.
    assert prefill[1] == pytest.approx(1500 * 2.5e-5 + 1500**2 * 1e-9)
    assert decode[1] == pytest.approx(13 * (2.5e-4 + 5e-8 * 1506.5))
    # big-70b costs 8x per token (hand-made coefficients).
    assert prefill[3] == pytest.approx(8 * (1000 * 2.5e-5 + 1000**2 * 1e-9))


def test_model_map_and_assume_model() -> None:
    lf = frame(model=["mystery", None], input_tokens=[10, 10], output_tokens=[1, 1])
    out = _features(lf, model_map={"mystery": "big-70b"}, assume_model="tiny-8b")
    assert out.get_column("model_id").to_list() == ["big-70b", "tiny-8b"]
    assert out.get_column("model_match").to_list() == ["mapped", "assumed"]
    assert out.get_column("work_model_assumed").to_list() == [False, False]


def test_sessions_turns_context_and_think_time() -> None:
    out = _features(frame(
        request_id=["b", "a", "c", "d"],
        session_id=["s", "s", "s", None],
        arrival_ts=[at(10), at(0), at(40), at(5)],
        e2e_latency_s=[2.0, 3.0, None, 1.0],
        input_tokens=[200, 100, 300, 5],
        output_tokens=[20, 10, 30, 5],
    ))
    expected = pl.DataFrame({
        "turn_index": [2, 1, 3, None],
        "session_turns": [3, 3, 3, None],
        "session_context_tokens": [330, 110, 660, None],
        # b: 10 - (0 + 3) = 7 s; c: 40 - (10 + 2) = 28 s; first turn: none.
        "think_time_s": [7.0, None, 28.0, None],
    })
    assert_frame_equal(out.select(expected.columns), expected)


def test_sessions_when_session_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions are sorted on a hash of session_id; a collision (forced here: every session
    hashes to its length) must fall back to sorting on the string, with the same result."""
    from tracelab.features import context

    lf = frame(
        request_id=["p", "q", "r", "s", "t", "u"],
        session_id=["ab", "cd", "ab", "cd", "ab", "x"],
        arrival_ts=[at(0), at(1), at(5), at(7), at(5), at(3)],
        input_tokens=[10, 20, 30, 40, 50, 60],
        output_tokens=[1, 2, 3, 4, 5, 6],
    )
    columns = ["turn_index", "session_turns", "session_context_tokens", "think_time_s"]
    exact = _features(lf).select(columns)
    monkeypatch.setattr(context, "session_hash", lambda sid: sid.str.len_bytes())
    assert_frame_equal(_features(lf).select(columns), exact)
    # ab: p(0) then r and t tie at 5 s and are ordered by source_row (r first).
    assert exact.get_column("turn_index").to_list() == [1, 1, 2, 2, 3, 1]


def test_sessions_in_time_order_take_a_stable_sort_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows already in turn order are only sorted by session (stably); the values must be
    those of the full sort on (session, arrival, source row, file)."""
    from tracelab.features import context

    lf = frame(
        request_id=["p", "q", "r", "s", "t", "u"],
        session_id=["ab", "cd", "ab", "ab", "cd", "x"],
        arrival_ts=[at(0), at(1), at(5), at(5), at(7), at(9)],
        source_row=[1, 2, 3, 4, 5, 6],
        input_tokens=[10, 20, 30, 40, 50, 60],
        output_tokens=[1, 2, 3, 4, 5, 6],
    )
    columns = ["turn_index", "session_turns", "session_context_tokens", "think_time_s"]
    real, taken = context._in_turn_order, []

    def spy(keyed: pl.DataFrame) -> bool:
        taken.append(real(keyed))
        return taken[-1]

    monkeypatch.setattr(context, "_in_turn_order", spy)
    fast = _features(lf).select(columns)
    assert taken == [True]
    monkeypatch.setattr(context, "_in_turn_order", lambda keyed: False)
    assert_frame_equal(fast, _features(lf).select(columns))
    assert fast.get_column("turn_index").to_list() == [1, 1, 2, 3, 2, 1]


def test_evidence_features() -> None:
    out = _features(frame(
        arrival_ts=[at(0.1), at(0.5), at(0.9), at(1.2), None],
        is_streaming=[False, False, False, True, None],
        tenant_id=["t", "t", "u", "t", "t"],
        ttft_s=[None, None, None, 0.2, None],
        endpoint=["batch", "chat", None, "chat", "chat"],
        input_tokens=[1] * 5,
        output_tokens=[1] * 5,
    ))
    assert out.get_column("has_ttft").to_list() == [False, False, False, True, False]
    assert out.get_column("is_batch_endpoint").to_list() == [True, False, None, False, False]
    assert out.get_column("co_submitted").to_list() == [2, 2, 1, None, None]
    assert out.get_column("hour_utc").to_list() == [9, 9, 9, 9, None]


def test_hour_is_null_for_relative_time() -> None:
    lf = frame(arrival_ts=[at(0)], time_base=["relative"], input_tokens=[1], output_tokens=[1])
    assert _features(lf).item(0, "hour_utc") is None


def test_arrival_windows_rates_cv_and_dispersion() -> None:
    # Window [09:00:00, 09:00:10): arrivals at 0, 1, 1, 4 s; window [10, 20): one at 12 s.
    out = _features(frame(
        arrival_ts=[at(0), at(1), at(1), at(4), at(12)],
        input_tokens=[10, 20, 30, 40, 50],
        output_tokens=[0, 0, 0, 0, 0],
    ), window_s=10.0)
    assert out.get_column("window_requests_per_s").to_list() == [0.4] * 4 + [0.1]
    assert out.get_column("window_tokens_per_s").to_list() == [10.0] * 4 + [5.0]
    # Gaps 1, 0, 3 s: mean 4/3, sample std sqrt(7/3) → cv = sqrt(7/3) / (4/3).
    cv = (7 / 3) ** 0.5 / (4 / 3)
    assert out.get_column("window_interarrival_cv").to_list()[:4] == pytest.approx([cv] * 4)
    assert out.item(4, "window_interarrival_cv") is None
    # Per-second counts over 10 bins: 1, 2, 1 and seven 0s: mean 0.4, var 6/10 - 0.16 = 0.44.
    assert out.get_column("window_dispersion").to_list() == pytest.approx([1.1] * 4 + [0.9])
