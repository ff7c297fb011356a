"""attach_by_position: per-row values computed apart, attached by the row's position."""

from __future__ import annotations

import polars as pl
import pytest

from tracelab.positions import attach_by_position

FRAME = pl.LazyFrame({"_p": [10, 11, 12, 13], "x": [1, 2, 3, 4]})


@pytest.mark.parametrize(
    ("positions", "values", "expected"),
    [
        ([10, 11, 12, 13], ["a", "b", "c", "d"], ["a", "b", "c", "d"]),  # dense, in order
        ([11, 10, 13, 12], ["b", "a", "d", "c"], ["a", "b", "c", "d"]),  # dense, shuffled
        ([13, 11], ["d", "b"], [None, "b", None, "d"]),  # sparse
        ([9, 11, 14], ["z", "b", "z"], [None, "b", None, None]),  # outside the range: ignored
    ],
)
def test_values_land_on_their_positions(positions: list[int], values: list[str],
                                        expected: list[str | None]) -> None:
    table = pl.DataFrame({"_p": positions, "v": values})
    out = attach_by_position(FRAME, table, "_p", 4, offset=10).collect()
    assert out.get_column("v").to_list() == expected
    assert out.get_column("x").to_list() == [1, 2, 3, 4]
