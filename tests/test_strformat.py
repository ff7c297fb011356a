"""``format_str`` gives ``pl.format``'s strings without its streaming panic."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_series_equal

from tests.conftest import REPO_ROOT
from tracelab.cache.blocks import prefix_reason_text
from tracelab.strformat import format_str


def test_same_text_and_nulls_as_pl_format():
    frame = pl.DataFrame({
        "n": [1, None, -3], "x": [0.5, 2.0, None], "s": ["a", "b", None],
        "e": pl.Series(["p", "q", "p"], dtype=pl.Enum(["p", "q"])), "b": [True, False, True],
    })  # fmt: skip
    ours = frame.select(format_str("{} / {}: {} {} {}!", "n", "x", "s", "e", pl.col("b")))
    theirs = frame.select(pl.format("{} / {}: {} {} {}!", "n", "x", "s", "e", pl.col("b")))
    assert_series_equal(ours.to_series(), theirs.to_series())
    assert ours.to_series().to_list() == ["1 / 0.5: a p true!", None, None]


def test_placeholders_must_match_values():
    with pytest.raises(ValueError, match="2 placeholders, 1 values"):
        format_str("{}-{}", "n")


def test_reason_texts_stream_over_the_filtered_labelled_frame_of_several_files():
    """pl.format panicked here ('assertion failed: i < self.len()'): integer and string
    columns of the sample folder's labelled frame, after a filter, on the streaming engine."""
    from tracelab.pipeline.run import Pipeline

    labeled = Pipeline([REPO_ROOT / "sample_traces"]).labeled().frame
    window = labeled.filter(pl.col("arrival_ts").is_not_null())
    out = window.select(
        prefix_reason_text(pl.lit(4, pl.Int8), 512, pl.col("input_tokens")).alias("reason"),
        format_str("{}@{}", "request_id", "source_row").alias("key"),
    ).collect(engine="streaming")
    eager = window.collect().select(
        pl.format("{} prefix blocks for {} input tokens: more than input_tokens/{}+1",
                  "input_tokens", "input_tokens", pl.lit(512)).alias("reason"),
        pl.format("{}@{}", "request_id", "source_row").alias("key"),
    )
    assert out.height == eager.height > 7000
    assert out.equals(eager)


def test_the_package_builds_its_texts_with_format_str():
    # synth/assemble.py formats ids on an eager frame of one generated table (no filter).
    allowed = {"strformat.py", "assemble.py"}
    users = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "tracelab").rglob("*.py")
                   if p.name not in allowed and "pl.format(" in p.read_text())
    assert users == []
