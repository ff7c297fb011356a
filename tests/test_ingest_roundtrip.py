"""Ingest round-trips: a canonical frame written as Parquet, CSV or JSONL reads back equal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tracelab.ingest import read_trace
from tracelab.ingest.writer import write_frame
from tracelab.resources import default_sample_trace
from tracelab.schema import CANONICAL_SCHEMA, conform

_PROVENANCE = ["source_file", "source_row", "source_format"]
_EPOCH = datetime(2026, 1, 5, 9, tzinfo=UTC)


@st.composite
def _request(draw: st.DrawFn, i: int) -> dict:
    status = draw(st.sampled_from(["ok", "ok", "ok", "error", "cancelled", "timeout"]))
    tokens_known = status == "ok" or draw(st.booleans())
    inp = draw(st.integers(0, 200_000)) if tokens_known else None
    out = draw(st.integers(0, 8_000)) if tokens_known else None
    cached = draw(st.one_of(st.none(), st.integers(0, inp))) if inp is not None else None
    reasoning = draw(st.one_of(st.none(), st.integers(0, out))) if out is not None else None
    e2e = draw(st.one_of(st.none(), st.floats(0, 600, allow_nan=False)))
    ttft = None if e2e is None else draw(st.one_of(st.none(), st.floats(0, 1).map(lambda f: f * e2e)))
    blocks = draw(st.one_of(st.none(), st.lists(st.integers(0, 2**40), max_size=6)))
    return {
        "request_id": f"r{i}",
        "arrival_ts": _EPOCH + timedelta(microseconds=draw(st.integers(0, 86_400_000_000))),
        "time_base": "absolute",
        "model": draw(st.one_of(st.none(), st.sampled_from(["llama-3.1-8b", "gpt-oss-120b"]))),
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_tokens": reasoning,
        "ttft_s": ttft,
        "e2e_latency_s": e2e,
        "is_streaming": draw(st.one_of(st.none(), st.booleans())),
        "session_id": draw(st.one_of(st.none(), st.sampled_from(["s1", "s2"]))),
        "prefix_hash_blocks": blocks,
        "prefix_block_tokens": None if blocks is None else 512,
        "status": status,
    }


@st.composite
def _frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 25))
    rows = [draw(_request(i)) for i in range(n)]
    frame = pl.DataFrame(rows, schema={k: CANONICAL_SCHEMA[k] for k in rows[0]})
    return conform(frame.lazy()).drop(_PROVENANCE).collect()


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=_frames())
def test_canonical_frames_round_trip(tmp_path: Path, suffix: str, frame: pl.DataFrame) -> None:
    path = tmp_path / f"trace{suffix}"
    write_frame(frame, path)
    trace = read_trace([path])
    assert trace.rows_rejected == 0
    back = trace.frame.collect().select(frame.columns)
    assert_frame_equal(back, frame, check_exact=False, rel_tol=1e-9)


def test_inspect_with_no_input_describes_the_bundled_sample(runner) -> None:
    result = invoke(runner, ["inspect", "--json"])
    assert result.exit_code == 0, result.output
    import json

    summary = json.loads(result.stdout)
    assert list(summary["files"]) == [str(default_sample_trace())]
    assert summary["rows"]["read"] == summary["rows"]["accepted"] + summary["rows"]["rejected"]
    assert summary["rows"]["read"] == pl.scan_parquet(default_sample_trace()).select(pl.len()).collect().item()
