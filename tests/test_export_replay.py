"""Replay exports: exact records on a hand-made trace, and export → ingest round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from conftest import invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelab.export import compute_replay, write_replay
from tracelab.ingest import read_trace

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _trace(tmp_path, rows):
    frame = pl.DataFrame(
        rows, schema={"request_id": pl.String, "arrival_ts": pl.Datetime("us", "UTC"),
                      "input_tokens": pl.Int64, "output_tokens": pl.Int64,
                      "prefix_hash_blocks": pl.List(pl.UInt64), "session_id": pl.String},
        orient="row")
    path = tmp_path / "trace.parquet"
    frame.write_parquet(path)
    return path


ROWS = [
    ("secret-a", T0 + timedelta(seconds=1), 1000, 5, [987654321, 42], "user-session-1"),
    ("secret-b", T0, 600, 6, [987654321], "user-session-1"),
    ("secret-c", T0 + timedelta(seconds=2, microseconds=500), 10, 7, None, None),
    ("secret-d", None, 5, 8, None, "user-session-2"),
]


def test_mooncake_records_are_exact(tmp_path):
    trace = read_trace(_trace(tmp_path, ROWS))
    result = compute_replay(trace.frame, "mooncake", rate_scale=2.0)
    assert result.dropped == 1
    assert result.frame.to_dicts() == [
        {"timestamp": 0.0, "input_length": 600, "output_length": 6, "hash_ids": [0]},
        {"timestamp": 500.0, "input_length": 1000, "output_length": 5, "hash_ids": [0, 1]},
        {"timestamp": 1000.25, "input_length": 10, "output_length": 7, "hash_ids": [2]},
    ]


def test_exports_are_anonymised(tmp_path, runner):
    path = _trace(tmp_path, ROWS)
    for target in ("mooncake", "aiperf", "guidellm"):
        out = tmp_path / f"{target}.jsonl"
        result = invoke(runner, ["export", str(path), "--to", target, "-o", str(out)])
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert "secret" not in text
        assert "user-session" not in text
        assert "987654321" not in text
    sessions = [json.loads(line).get("session_id") for line in
                (tmp_path / "aiperf.jsonl").read_text().splitlines()]
    assert sessions[0] == sessions[1] is not None
    assert sessions[2] is None


@pytest.mark.parametrize(("target", "fmt"), [("mooncake", None), ("aiperf", None),
                                              ("guidellm", "guidellm")])
def test_export_then_ingest_gives_the_same_tokens_and_times(tmp_path, runner, target, fmt):
    source = tmp_path / "src.parquet"
    assert invoke(runner, ["ingest", "-o", str(source)]).exit_code == 0  # the bundled sample
    out = tmp_path / f"{target}.jsonl"
    assert invoke(runner, ["export", str(source), "--to", target, "-o", str(out)]).exit_code == 0
    before = read_trace(source).frame.collect().sort("arrival_ts", maintain_order=True)
    after = read_trace(out, format=fmt).frame.collect()
    assert after.height == before.height
    for frame in (before, after):
        start = frame["arrival_ts"].min()
        frame.insert_column(0, ((frame["arrival_ts"] - start).dt.total_microseconds())
                            .alias("offset_us"))
    # a failed request's unknown output is replayed as 0 tokens (the tools need a length)
    for name in ("input_tokens", "output_tokens"):
        assert after[name].to_list() == before[name].fill_null(0).to_list()
    assert after["offset_us"].to_list() == before["offset_us"].to_list()
    if target == "aiperf":  # sessions survive as hashes: the same grouping
        pairs = pl.DataFrame({"was": before["session_id"], "now": after["session_id"]})
        distinct = pairs.unique().height
        assert distinct == pairs["was"].n_unique() == pairs["now"].n_unique()
        assert pairs.filter(pl.col("was").is_null())["now"].null_count() == \
            before["session_id"].null_count()


def test_prefix_sharing_survives_the_round_trip(tmp_path):
    trace = read_trace(_trace(tmp_path, ROWS[:3]))
    out = tmp_path / "m.jsonl"
    write_replay(compute_replay(trace.frame, "mooncake"), out)
    blocks = read_trace(out).frame.collect()["prefix_hash_blocks"].to_list()
    assert blocks == [[0], [0, 1], [2]]  # the first two share their first 512-token block


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 5000), st.integers(0, 500)),
                min_size=1, max_size=30))
def test_round_trip_property(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("rt")
    frame = pl.DataFrame(
        [(f"r{i}", T0 + timedelta(microseconds=us), i_, o) for i, (us, i_, o) in enumerate(rows)],
        schema={"request_id": pl.String, "arrival_ts": pl.Datetime("us", "UTC"),
                "input_tokens": pl.Int64, "output_tokens": pl.Int64}, orient="row")
    path = tmp / "t.parquet"
    frame.write_parquet(path)
    out = tmp / "m.jsonl"
    write_replay(compute_replay(read_trace(path).frame, "mooncake"), out)
    back = read_trace(out).frame.collect()
    want = frame.sort("arrival_ts", maintain_order=True)
    offsets = (want["arrival_ts"] - want["arrival_ts"].min()).dt.total_microseconds()
    got = (back["arrival_ts"] - back["arrival_ts"].min()).dt.total_microseconds()
    assert got.to_list() == offsets.to_list()
    assert back["input_tokens"].to_list() == want["input_tokens"].to_list()


def test_label_and_cluster_select_one_class(tmp_path, runner):
    out = tmp_path / "i.jsonl"
    result = invoke(runner, ["export", "--to", "mooncake", "--label", "mode=interactive",
                             "-o", str(out)])
    assert result.exit_code == 0, result.output
    from tracelab.labels import label_trace
    from tracelab.resources import default_sample_trace

    labeled = label_trace(read_trace(default_sample_trace()).frame).frame.collect()
    want = labeled.filter(pl.col("label_mode") == "interactive").height
    assert len(out.read_text().splitlines()) == want
    out = tmp_path / "c.jsonl"
    assert invoke(runner, ["export", "--cluster", "0", "-o", str(out)]).exit_code == 0
    assert len(out.read_text().splitlines()) == labeled.filter(pl.col("cluster") == 0).height


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "vllm"], "unknown export target 'vllm'"),
    (["--rate-scale", "0"], "rate scale 0.0 is not a positive number"),
    (["--label", "mode"], "is not AXIS=VALUE"),
    (["--label", "mode=fast"], "mode takes one of interactive"),
    (["--label", "colour=red"], "unknown label axis 'colour'"),
    (["--label", "mode=batch", "--cluster", "1"], "not both"),
])
def test_export_errors_are_one_line(tmp_path, runner, args, message):
    result = invoke(runner, ["export", *args, "-o", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_label_that_selects_nothing_says_so_not_that_arrivals_are_missing(tmp_path, runner):
    """No hand-made row is 'batch', and they have arrival times: the Azure 2023 trace's
    'export --label mode=interactive' (no row is) once blamed missing arrival times."""
    trace = _trace(tmp_path, ROWS)
    result = invoke(runner, ["export", str(trace), "--label", "mode=batch",
                             "-o", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert "--label mode=batch matches none of the requests" in result.output
    assert "arrival time" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.jsonl").exists()
