"""ServeGen offline batch tasks: request order only, no arrival times, nothing invented."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tracelab.ingest import read_trace
from tracelab.schema import CANONICAL_SCHEMA

SERVEGEN = (
    '{"request_id": 0, "type": "text", "input_length": 61, "output_length": 2370, "duration": 14000}\n'
    '{"request_id": 1, "type": "text", "input_length": 54, "output_length": 2031, "duration": 11630}\n'
)
# Mooncake records share input_length/output_length: they must still be read as Mooncake.
MOONCAKE = '{"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [0]}\n'


def test_servegen_offline_records(tmp_path: Path) -> None:
    path = tmp_path / "trace_d.jsonl"
    path.write_text(SERVEGEN)
    trace = read_trace(path)
    assert trace.formats == {str(path): "servegen"}
    frame = trace.frame.collect()
    assert frame.select(list(CANONICAL_SCHEMA)).schema == pl.Schema(CANONICAL_SCHEMA)
    assert frame["request_id"].to_list() == ["0", "1"]
    assert frame["input_tokens"].to_list() == [61, 54]
    assert frame["output_tokens"].to_list() == [2370, 2031]
    assert frame["e2e_latency_s"].to_list() == [14.0, 11.63]
    assert frame["request_type"].to_list() == ["text", "text"]
    for name in ("arrival_ts", "time_base", "is_streaming", "tenant_id", "model", "endpoint"):
        assert frame[name].null_count() == 2, name


def test_mooncake_still_detected_beside_servegen(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(MOONCAKE)
    assert read_trace(path).formats == {str(path): "mooncake"}


def test_servegen_trace_d_excerpt(shared_dir: Path) -> None:
    trace = read_trace(shared_dir / "traces" / "servegen-offline" / "trace_d.head.jsonl")
    assert set(trace.formats.values()) == {"servegen"}
    assert (trace.rows_read, trace.rows_accepted) == (2_615, 2_615)
    frame = trace.frame.collect()
    assert frame["arrival_ts"].null_count() == frame.height
    # Request order is the file's order: request_id 0 .. 2614.
    assert frame["request_id"].cast(pl.Int64).to_list() == list(range(2_615))
    assert frame["input_tokens"].median() == 56.0
    assert frame["output_tokens"].median() == 1485.0
