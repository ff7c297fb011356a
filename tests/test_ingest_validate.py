"""Bad rows go to the rejected frame with a reason; bad files are one-line errors."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelab.errors import InputFileError, RejectedRowsError
from tracelab.ingest import read_trace

BAD = (
    "request_id,input_tokens,output_tokens,cached_input_tokens,reasoning_tokens,ttft_s,e2e_latency_s,arrival_ts,status\n"
    "ok1,10,2,,,,,2024-05-10T00:00:00Z,\n"
    "neg,-1,2,,,,,,\n"
    "frac,1.5,2,,,,,,\n"
    "time,10,2,,,,,yesterday,\n"
    "cache,10,2,11,,,,,\n"
    "reason,10,2,,3,,,,\n"
    "ttft,10,2,,,2.0,1.0,,\n"
    "missing,,2,,,,,,ok\n"
    "failed,,,,,,,,error\n"
    "weird,10,2,,,,,,exploded\n"
    "whole,12.0,2,,,,,,OK\n"
)


def test_bad_rows_rejected_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    trace = read_trace(path)
    assert (trace.rows_read, trace.rows_accepted, trace.rows_rejected) == (11, 3, 8)
    expected = pl.DataFrame(
        {
            "source_file": [str(path)] * 8,
            "source_row": [2, 3, 4, 5, 6, 7, 8, 10],
            "field": [
                "input_tokens",
                "input_tokens",
                "arrival_ts",
                "cached_input_tokens",
                "reasoning_tokens",
                "ttft_s",
                "input_tokens",
                "status",
            ],
            "value": ["-1", "1.5", "yesterday", "11", "3", "2.0", None, "exploded"],
            "reason": [
                "token count is negative",
                "token count is not an integer",
                "time does not parse",
                "cached tokens exceed input tokens",
                "reasoning tokens exceed output tokens",
                "ttft exceeds end-to-end latency",
                "missing on a request with status ok",
                "unknown status (use one of ok, error, cancelled, timeout)",
            ],
        }
    )
    from polars.testing import assert_frame_equal

    assert_frame_equal(trace.rejected, expected)
    accepted = trace.frame.collect()
    assert accepted["request_id"].to_list() == ["ok1", "failed", "whole"]
    assert accepted["status"].to_list() == ["ok", "error", "ok"]
    assert accepted["input_tokens"].to_list() == [10, None, 12]


def test_strict_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    with pytest.raises(RejectedRowsError, match="8 row"):
        read_trace(path, strict=True)


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        (
            "x.jsonl",
            '{"input_tokens": 1, "output_tokens": 1}\n{oops\n',
            r"x\.jsonl: line 2: malformed JSON",
        ),
        ("y.csv", "foo,bar\n1,2\n", r"y\.csv: unknown format .*known formats: canonical"),
        (
            "z.csv",
            "TIMESTAMP,ContextTokens\n2024-01-01 00:00:00,1\n",
            r"required column\(s\) GeneratedTokens",
        ),
        ("w.txt", "hello", r"unknown file type"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, text: str, pattern: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputFileError, match=pattern) as info:
        read_trace(path)
    assert "\n" not in str(info.value)


def test_missing_path_and_unknown_forced_format(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_trace(tmp_path / "nope.csv")
    (tmp_path / "a.csv").write_text("input_tokens,output_tokens\n1,1\n")
    with pytest.raises(InputFileError, match="unknown format 'nope'"):
        read_trace(tmp_path / "a.csv", format="nope")


_cells = st.one_of(
    st.integers(min_value=-5, max_value=50).map(str),
    st.sampled_from(["", "1.5", "x", "7.0"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(_cells, _cells, _cells, st.sampled_from(["", "ok", "error", "bogus"])),
        max_size=12,
    )
)
def test_nothing_is_lost(tmp_path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    """read == accepted + rejected, and every input row lands in exactly one of them."""
    path = tmp_path / "prop.csv"
    lines = ["input_tokens,output_tokens,cached_input_tokens,status"]
    lines += [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    trace = read_trace(path)
    # A row with none of a request's fields (the status alone is not one: adapters fill it
    # in) is a blank line, neither read nor rejected (validate's rule 0).
    rows_given = [i for i, row in enumerate(rows, start=1) if any(row[:3])]
    assert trace.rows_read == len(rows_given) == trace.rows_accepted + trace.rows_rejected
    kept = trace.frame.collect()["source_row"].to_list()
    dropped = trace.rejected["source_row"].to_list()
    assert sorted(kept + dropped) == rows_given


def test_large_inputs_drop_the_same_rows_without_rerunning_the_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracelab.ingest.reader as reader

    path = tmp_path / "bad.csv"
    path.write_text(BAD)
    small = read_trace(path)
    monkeypatch.setattr(reader, "LARGE_BYTES", 0)
    large = read_trace(path)
    assert small.workdir is None
    assert large.workdir is not None
    assert large.rejected.equals(small.rejected)
    assert large.frame.collect().equals(small.frame.collect())
    pieces = [piece.collect() for piece in large.slices(4)]
    assert pl.concat(pieces).equals(small.frame.collect())
    # the sizes of the slices come from ingest's counts, without reading the slices
    assert large.slice_sizes(4) == [piece.height for piece in pieces]
    assert min(large.slice_sizes(4)) < 4  # a slice lost rejected rows
    assert small.slice_sizes(4) == [small.rows_accepted]


@pytest.mark.parametrize("ids", [["a", "b", "c"], ["a", None, "c"]])
def test_large_inputs_fall_back_to_file_and_row_only_where_an_id_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ids: list[str | None]
) -> None:
    import tracelab.ingest.reader as reader

    path = tmp_path / "ids.csv"
    lines = [f"{'' if i is None else i},10,2" for i in ids]
    path.write_text("request_id,input_tokens,output_tokens\n" + "\n".join(lines) + "\n")
    monkeypatch.setattr(reader, "LARGE_BYTES", 0)
    large = read_trace(path)
    assert [s.ids_complete for s in large.sources] == [None not in ids]
    want = [i if i is not None else f"ids.csv:{n}" for n, i in enumerate(ids, start=1)]
    assert large.frame.collect()["request_id"].to_list() == want
    assert pl.concat(p.collect() for p in large.slices(2))["request_id"].to_list() == want
