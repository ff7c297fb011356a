"""Report aggregates and summary.json: exact numbers on a tiny frame, merging, determinism."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelab.errors import InputFileError
from tracelab.report.aggregate import choose_bucket_s, compute_aggregates, merge_aggregates
from tracelab.report.histogram import bucket_edges, histogram_quantile
from tracelab.report.summary import (
    canonicalize,
    drop_wall_clock,
    dump_summary,
    finalize_summary,
    read_summary,
    round_sig,
    validate_summary,
)
from tracelab.schema import conform

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)


def labeled_frame() -> pl.LazyFrame:
    """Four requests, hand-computable: arrivals 0, 10, 30, 130 s; one failed request."""
    return conform(pl.LazyFrame({
        "request_id": ["a", "b", "c", "d"],
        "arrival_ts": [T0 + timedelta(seconds=s) for s in (0, 10, 30, 130)],
        "time_base": ["absolute"] * 4,
        "model": ["m-8b", "m-8b", "m-70b", None],
        "input_tokens": [100, 1000, 10, None],
        "output_tokens": [10, 100, 0, None],
        "status": ["ok", "ok", "ok", "error"],
    })).with_columns(
        model_id=pl.Series(["llama-3.1-8b", "llama-3.1-8b", "llama-3.1-70b", None]),
        model_match=pl.Series(["alias", "alias", "alias", "unknown"]),
        prefill_tokens=pl.Series([100, 1000, 10, None]),
        decode_tokens=pl.Series([10, 100, 0, None]),
        prefill_device_s=pl.Series([0.5, 2.0, 0.25, 0.0]),
        decode_device_s=pl.Series([0.5, 1.0, 0.0, 0.0]),
        label_phase=pl.Series(["balanced", "prefill-heavy", "prefill-heavy", "unknown"]),
        label_mode=pl.Series(["interactive", "interactive", "batch", "unknown"]),
        cluster=pl.Series([0, 1, 1, None], dtype=pl.Int64),
        cluster_name=pl.Series(["chat", "code", "code", None]),
    )


def fake_plan() -> dict:
    return {
        "usd_per_hour": 10.0, "usd_per_mtok": 2.0, "span_hours": 1.0, "fleet_usd": 10.0,
        "ledger_usd": 6.0, "idle_usd": 4.0, "tokens": 5_000_000, "cache_hit_tokens": 0,
        "baselines": {
            "h100": {"device_id": "h100-sxm", "label": "all on h100-sxm (colocated)",
                     "usd_per_hour": 20.0, "usd_per_mtok": 4.0},
            "best_single": None,
        },
        "savings": {"h100": 0.5, "best_single": None},
        "fleet": [{"device_id": "h100-sxm", "model_id": "llama-3.1-8b", "role": "colocated",
                   "replicas": 2, "devices": 2, "usd_per_hour": 10.0}],
        "token_flow": [
            {"label": "chat", "phase": "prefill", "device": "h100-sxm", "tokens": 300, "usd": 1.0},
            {"label": "chat", "phase": "decode", "device": "groq", "tokens": 100, "usd": 2.0},
            {"label": "code", "phase": "prefill", "device": "h100-sxm", "tokens": 900, "usd": 3.0},
            {"label": "code", "phase": "cache-hit", "device": "cache", "tokens": 50, "usd": 0.0},
        ],
        "top_reasons": [{"reason": "cheapest route", "requests": 3, "usd": 6.0}],
        "settings": {"by": "labels", "percentile": 95.0, "optimality_gap": 0.0},
    }


def fake_cache() -> dict:
    return {
        "evidence": "prefix_blocks", "method": "exact", "sample_rate": None,
        "sampling_error": None, "block_tokens": 512, "n_references": 8, "n_distinct": 4,
        "reuse_ratio_infinite": 0.5, "model": None,
        "capacity_blocks": 4, "capacity_tokens": 2048, "hit_tokens": 512,
        "curve": [{"capacity_blocks": c, "capacity_tokens": 512 * c, "hit_ratio": h}
                  for c, h in ((1, 0.1), (2, 0.3), (4, 0.45), (8, 0.5))],
        "knees": [], "tiers": [], "rows_rejected": 0,
    }


def fake_assumptions() -> dict:
    return {"prices": [], "slos": {}, "efficiencies": {"source": "defaults", "values": {}},
            "model_mapping": [], "defaults": {}, "notes": ["a note"]}


def fake_inputs() -> dict:
    return {"files": ["t.parquet"], "formats": {"t.parquet": "canonical"},
            "rows_read": 5, "rows_accepted": 4, "rows_rejected": 1,
            "rejected_reasons": {"negative tokens": 1}}


def fake_summary(**extra) -> dict:
    """A complete summary (tiny frame + hand-made plan and cache sections)."""
    summary = finalize_summary(
        compute_aggregates(labeled_frame()), inputs=fake_inputs(), plan=fake_plan(),
        cache=fake_cache(), assumptions=fake_assumptions(), version="0.1.0",
        generated_at="2026-01-01T00:00:00Z", elapsed_s=1.0,
    )
    summary.update(extra)
    return json.loads(dump_summary(summary))


def test_totals_and_status_are_exact():
    s = fake_summary()
    w = s["workload"]
    assert w["requests"] == 4
    assert w["status"] == {"error": 1, "ok": 3}
    assert w["tokens"]["input_tokens"] == 1110
    assert w["tokens"]["output_tokens"] == 110
    assert w["tokens"]["total_tokens"] == 1220
    assert w["work_s"] == {"prefill_s": 2.75, "decode_s": 1.5}
    assert w["prefill_work_share"] == round_sig(2.75 / 4.25)
    assert w["lengths"]["input_tokens"]["count"] == 3
    assert w["lengths"]["input_tokens"]["mean"] == 370.0


def test_label_mix_shares_are_exact():
    phase = {r["value"]: r for r in fake_summary()["labels"]["label_phase"]}
    assert list(phase) == ["balanced", "prefill-heavy", "unknown"]
    assert phase["prefill-heavy"]["requests"] == 2
    assert phase["prefill-heavy"]["share_requests"] == 0.5
    assert phase["prefill-heavy"]["tokens"] == 1110
    assert phase["prefill-heavy"]["share_tokens"] == round_sig(1110 / 1220)
    assert phase["prefill-heavy"]["work_s"] == 3.25
    assert phase["balanced"]["share_work"] == round_sig(1.0 / 4.25)


def test_clusters_models_and_unassigned_rows():
    s = fake_summary()
    assert [(c["cluster"], c["name"], c["requests"]) for c in s["clusters"]] == [
        (0, "chat", 1), (1, "code", 2), (None, "unclustered", 1)]
    models = {m["model"]: (m["model_id"], m["match"], m["requests"]) for m in s["models"]}
    assert models == {"<none>": (None, "unknown", 1), "m-70b": ("llama-3.1-70b", "alias", 1),
                      "m-8b": ("llama-3.1-8b", "alias", 2)}


def test_time_and_arrivals_are_exact():
    s = fake_summary()
    assert s["time"] == {"time_base": "absolute", "start": "2026-01-05T09:00:00.000000Z",
                         "end": "2026-01-05T09:02:10.000000Z", "span_s": 130.0,
                         "note": None}
    a = s["arrivals"]
    # 60 s windows from 09:00: counts 3, 0... → windows [3, 0, 1]: mean 4/3, var 14/9.
    assert a["windows"] == 3
    assert a["requests_per_s_mean"] == round_sig(4 / 3 / 60)
    assert a["requests_per_s_max"] == round_sig(3 / 60)
    assert a["index_of_dispersion"] == round_sig((14 / 9) / (4 / 3))
    # gaps 10, 20, 100: mean 130/3, population std sqrt(10500/3 - (130/3)^2)
    mean = 130 / 3
    assert a["interarrival_cv"] == round_sig((10500 / 3 - mean**2) ** 0.5 / mean)


def test_timeline_is_dense_from_first_bucket():
    t = fake_summary()["timeline"]
    assert t["bucket_s"] == 5  # 130 s span: 5 s buckets give 27 ≤ 120
    assert len(t["requests"]) == 27
    assert sum(t["requests"]) == 4
    assert t["requests"][0] == 1
    assert t["requests"][2] == 1
    assert t["requests"][26] == 1
    assert t["series"]["label_mode"]["batch"][6] == 1


def test_choose_bucket_s():
    assert choose_bucket_s(0) == 1
    assert choose_bucket_s(3600) == 30
    assert choose_bucket_s(86_400) == 900
    assert choose_bucket_s(10**9) == 604_800


def test_histogram_quantile_interpolates_in_the_bucket():
    assert histogram_quantile({}, 0.5) is None
    assert histogram_quantile({"-1": 4}, 0.5) == 0.0
    low, high = bucket_edges(480)
    assert (low, high) == (100.0, pytest.approx(10 ** (481 / 240)))
    assert histogram_quantile({"480": 2}, 0.5) == pytest.approx((low * high) ** 0.5)
    # Every quantile lies inside its bucket: within one bucket width (0.96%) of the value.
    assert histogram_quantile({"720": 1}, 0.99) == pytest.approx(1000, rel=0.01)
    # Clamped to what was observed.
    assert histogram_quantile({"720": 1}, 0.99, 1000, 1000) == 1000.0


def test_length_quantiles_stay_within_one_percent_and_the_data():
    """Inputs 1000..1019 (the issue's case): p99 never passes the largest value, and every
    quantile is within 1% of the exact one."""
    import polars as pl

    from tracelab.report.aggregate import compute_aggregates
    from tracelab.report.summary import finalize_summary

    values = list(range(1000, 1020))
    frame = pl.DataFrame({"input_tokens": values, "output_tokens": values, "status": "ok",
                          "model": "m",
                          "arrival_ts": [None] * 20}, schema_overrides={
                              "arrival_ts": pl.Datetime("us", "UTC")})
    summary = finalize_summary(compute_aggregates(frame), inputs=fake_inputs(),
                               assumptions=fake_assumptions())
    info = summary["workload"]["lengths"]["input_tokens"]
    exact = pl.Series(values).quantile
    assert info["p99"] <= 1019
    for q in (50, 90, 99):
        assert info[f"p{q}"] == pytest.approx(exact(q / 100, "nearest"), rel=0.01)


def test_rounding_and_canonical_json():
    assert round_sig(1234567.891) == 1234570.0
    assert round_sig(float("nan")) is None
    assert canonicalize({"b": (1.23456789, 2), "a": float("inf")}) == {
        "b": [1.23457, 2], "a": None}
    text = dump_summary({"b": 1, "a": 0.1 + 0.2})
    assert text == '{\n  "a": 0.3,\n  "b": 1\n}\n'


def test_summary_validates_and_round_trips(tmp_path):
    s = fake_summary()
    validate_summary(s)
    path = tmp_path / "summary.json"
    path.write_text(dump_summary(s))
    assert read_summary(path) == s
    assert "generated_at" not in drop_wall_clock(s)


def test_a_sampled_cache_section_validates():
    """A sampled curve carries its error estimate as an object of numbers."""
    s = fake_summary()
    s["cache"].update(method="shards", sample_rate=0.1,
                      sampling_error={"subset_references": 40.0, "max_abs_error": 0.02})
    validate_summary(s)
    s["cache"]["sampling_error"] = 0.02
    with pytest.raises(InputFileError, match="cache/sampling_error"):
        validate_summary(s)


def test_not_a_summary_is_a_one_line_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"kind": "something-else"}')
    with pytest.raises(InputFileError, match=r"not a tracelab summary\.json"):
        read_summary(path)
    bad = fake_summary()
    bad["workload"]["requests"] = "many"
    path.write_text(json.dumps(bad))
    with pytest.raises(InputFileError, match="workload/requests"):
        read_summary(path)


def test_row_order_does_not_change_the_summary():
    frame = labeled_frame()
    a = finalize_summary(compute_aggregates(frame), inputs=fake_inputs(),
                         assumptions=fake_assumptions())
    b = finalize_summary(compute_aggregates(frame.reverse()), inputs=fake_inputs(),
                         assumptions=fake_assumptions())
    assert dump_summary(a) == dump_summary(b)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=4))
def test_merging_partitions_gives_the_whole(cut):
    """Aggregates of two partitions, merged, equal the aggregates of the whole frame (counts,
    sums, histograms, label mixes) when cut on a window boundary."""
    frame = labeled_frame().collect()
    whole = compute_aggregates(frame.lazy(), bucket_s=5)
    left = compute_aggregates(frame.head(cut).lazy(), bucket_s=5) if cut else None
    right = compute_aggregates(frame.tail(4 - cut).lazy(), bucket_s=5) if cut < 4 else None
    parts = [p for p in (left, right) if p is not None]
    merged = parts[0] if len(parts) == 1 else merge_aggregates(parts[0], parts[1])
    for key in ("totals", "lengths", "labels", "clusters", "models", "timeline"):
        assert merged[key] == whole[key], key
    assert merged["span"]["arrival_us_min"] == whole["span"]["arrival_us_min"]
    assert merged["span"]["arrival_us_max"] == whole["span"]["arrival_us_max"]
