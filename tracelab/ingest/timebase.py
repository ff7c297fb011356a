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

from collections.abc import Sequence
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
    # The stretches of the (aligned) time axis the input files cover: each file's first to
    # last arrival per time base, overlapping ones merged, in order (µs since the epoch).
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def covered_us(self) -> int:
        """Microseconds the files cover (the spans' total)."""
        return sum(b - a for a, b in self.spans)

    @property
    def gap_us(self) -> int:
        """Microseconds between the spans: time no input file logged."""
        return (self.spans[-1][1] - self.spans[0][0] - self.covered_us) if self.spans else 0


def compute_bases_exprs(keep: pl.Expr | None = None) -> list[pl.Expr]:
    """Aggregations over the rows where ``keep`` holds (all rows: None): rows with an
    absolute arrival, with a relative one, without one, and the first absolute arrival (µs
    since the epoch). They fit in another query's pass (ingest's rejected-rows pass)."""
    kept = pl.lit(True) if keep is None else keep
    timed = pl.col("arrival_ts").is_not_null() & kept
    absolute = timed & (pl.col("time_base") == "absolute")
    relative = timed & (pl.col("time_base") == "relative")
    return [
        absolute.sum().alias("absolute_rows"),
        relative.sum().alias("relative_rows"),
        (pl.col("arrival_ts").is_null() & kept).sum().alias("untimed_rows"),
        pl.col("arrival_ts").filter(absolute).min().dt.epoch("us").alias("absolute_start_us"),
        pl.col("arrival_ts").filter(absolute).max().dt.epoch("us").alias("absolute_end_us"),
        pl.col("arrival_ts").filter(relative).min().dt.epoch("us").alias("relative_start_us"),
        pl.col("arrival_ts").filter(relative).max().dt.epoch("us").alias("relative_end_us"),
    ]


def combine(rows: list[dict[str, int | None]]) -> TimeBases:
    """The time bases of several parts (rows of :func:`compute_bases_exprs`), with
    ``shift_us`` set when they mix calendar and relative times."""
    starts = [r["absolute_start_us"] for r in rows if r["absolute_start_us"] is not None]
    absolute = sum(int(r["absolute_rows"] or 0) for r in rows)
    relative = sum(int(r["relative_rows"] or 0) for r in rows)
    start = min(starts) if starts else None
    shift = start if absolute and relative else None
    pieces = []
    for r in rows:  # one row per file: its stretch per time base, absolute ones shifted
        for base, by in (("absolute", shift or 0), ("relative", 0)):
            lo, hi = r.get(f"{base}_start_us"), r.get(f"{base}_end_us")
            if lo is not None and hi is not None:
                pieces.append((int(lo) - by, int(hi) - by))
    return TimeBases(
        absolute_rows=absolute,
        relative_rows=relative,
        untimed_rows=sum(int(r["untimed_rows"] or 0) for r in rows),
        absolute_start_us=start,
        shift_us=shift,
        spans=merge_spans(pieces),
    )


def covered_windows(spans: Sequence[tuple[int, int]], width_us: float, origin_us: int = 0
                    ) -> int:
    """Windows of ``width_us`` counted from ``origin_us`` that some of ``spans`` (disjoint,
    in order; µs) touches: the windows the input files observed, busy or idle."""
    count, reach = 0, -1
    for a, b in spans:
        start = max(int((a - origin_us) // width_us), reach + 1)
        end = int((b - origin_us) // width_us)
        if end >= start:
            count, reach = count + end - start + 1, end
    return count


def merge_spans(pieces: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """``pieces`` (start, end) in order, overlapping or touching ones merged."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(pieces):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


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


# Time between the files' spans (µs) below which it is not worth a line: one plan window.
NOTABLE_GAP_US = 60_000_000


def describe_gaps(bases: TimeBases) -> str | None:
    """One line when the input files leave time between them that no file logged (logs
    days or years apart), None otherwise."""
    if bases.gap_us <= NOTABLE_GAP_US:
        return None
    hours = (bases.spans[-1][1] - bases.spans[0][0]) / 3.6e9
    return (f"the input files cover {bases.covered_us / 3.6e9:,.2f} h in {len(bases.spans)} "
            f"stretches over {hours:,.1f} h: the plan's rates, percentiles and fleet hours "
            f"count only the covered time (the {bases.gap_us / 3.6e9:,.1f} h between the "
            "files were not logged, not idle)")


def describe(bases: TimeBases) -> str:
    """One line: how the input's time bases were handled (and, when the files leave time
    between them, that it is not counted: ``describe_gaps``)."""
    gaps = describe_gaps(bases)
    line = _describe_bases(bases)
    return line if gaps is None else f"{line}; {gaps}"


def _describe_bases(bases: TimeBases) -> str:
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
