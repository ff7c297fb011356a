"""Time bases: rows with calendar times and rows with relative offsets on one axis, on purpose.

A relative-time source (Mooncake, BurstGPT, an offsets column) stores each arrival as an
offset after 1970-01-01T00:00:00Z (``schemas/request.schema.json``); an absolute one stores
a real UTC instant. Merged as they come, one input holding both puts 1970 beside 2026 on
one time axis: a span of 56 years, windows and timelines over the empty decades between.

The rule, applied by ``tracelab.ingest.read_trace`` to the accepted rows: when the rows of
one input have both time bases, every absolute-time row is shifted by the same amount, so
the first of them arrives at offset 0, and becomes a relative-time row. The absolute rows
keep their spacing among themselves (they share one real clock); each relative source keeps
its offsets from its own start. The result is one relative axis that starts at 0 for both
kinds, i.e. the sources are replayed side by side; no calendar date is invented and hour-of-
day evidence is not used for the shifted rows. :func:`describe` says what was done in one
line, for the summary and the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TimeBases:
    """Accepted rows per time base and the first absolute arrival (µs since the epoch).

    ``shift_us``: what was subtracted from every absolute row's arrival (None: nothing was
    shifted, because the rows do not mix time bases)."""

    absolute_rows: int = 0
    relative_rows: int = 0
    untimed_rows: int = 0
    absolute_start_us: int | None = None
    shift_us: int | None = None


def compute_bases_exprs(keep: pl.Expr | None = None) -> list[pl.Expr]:
    """Aggregations over the rows where ``keep`` holds (all rows: None): rows with an
    absolute arrival, with a relative one, without one, and the first absolute arrival (µs
    since the epoch). They fit in another query's pass (ingest's rejected-rows pass)."""
    kept = pl.lit(True) if keep is None else keep
    timed = pl.col("arrival_ts").is_not_null() & kept
    absolute = timed & (pl.col("time_base") == "absolute")
    return [
        absolute.sum().alias("absolute_rows"),
        (timed & (pl.col("time_base") == "relative")).sum().alias("relative_rows"),
        (pl.col("arrival_ts").is_null() & kept).sum().alias("untimed_rows"),
        pl.col("arrival_ts").filter(absolute).min().dt.epoch("us").alias("absolute_start_us"),
    ]


def combine(rows: list[dict[str, int | None]]) -> TimeBases:
    """The time bases of several parts (rows of :func:`compute_bases_exprs`), with
    ``shift_us`` set when they mix calendar and relative times."""
    starts = [r["absolute_start_us"] for r in rows if r["absolute_start_us"] is not None]
    absolute = sum(int(r["absolute_rows"] or 0) for r in rows)
    relative = sum(int(r["relative_rows"] or 0) for r in rows)
    start = min(starts) if starts else None
    return TimeBases(
        absolute_rows=absolute,
        relative_rows=relative,
        untimed_rows=sum(int(r["untimed_rows"] or 0) for r in rows),
        absolute_start_us=start,
        shift_us=start if absolute and relative else None,
    )


def read_bases(frame: pl.LazyFrame) -> TimeBases:
    """The time bases of ``frame``'s rows, with ``shift_us`` set when they are mixed."""
    return combine([frame.select(compute_bases_exprs()).collect(engine="streaming")
                    .row(0, named=True)])


def align(frame: pl.LazyFrame, shift_us: int | None) -> pl.LazyFrame:
    """``frame`` with its absolute rows moved onto the relative axis (see the module
    docstring); unchanged when ``shift_us`` is None."""
    if shift_us is None:
        return frame
    absolute = pl.col("time_base") == "absolute"
    shift = pl.duration(microseconds=shift_us)
    return frame.with_columns(
        pl.when(absolute).then(pl.col("arrival_ts") - shift).otherwise(pl.col("arrival_ts"))
        .alias("arrival_ts"),
        pl.when(absolute).then(pl.lit("relative")).otherwise(pl.col("time_base"))
        .alias("time_base"),
    )


def _iso(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(bases: TimeBases) -> str:
    """One line: how the input's time bases were handled."""
    untimed = (f"; {bases.untimed_rows:,} rows without an arrival time are in no rate, "
               "window or timeline" if bases.untimed_rows and
               (bases.absolute_rows or bases.relative_rows) else "")
    if bases.shift_us is not None:
        return (f"mixed time bases aligned: the {bases.absolute_rows:,} rows with calendar "
                f"times (first at {_iso(bases.shift_us)}) were shifted to start at 0 beside "
                f"the {bases.relative_rows:,} rows with relative offsets, one relative axis "
                f"(no calendar date){untimed}")
    if bases.absolute_rows:
        return f"one time base: calendar times (UTC){untimed}"
    if bases.relative_rows:
        return f"one time base: relative offsets (no calendar date){untimed}"
    return ("no arrival times: arrival rates, the timeline and the fleet plan (which needs "
            "rates) were skipped")
