"""Features that need more than one row: sessions, batch evidence and arrival windows.

All use polars group_by / window expressions and joins on a private row index (``_row``),
so a request's values never depend on the order of the input rows. Times are seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import polars as pl

from tracelab.positions import attach_by_position
from tracelab.streaming import collect_all

ROW = "_row"
# compute_session_features' columns.
SESSION_FEATURES = ("turn_index", "session_turns", "session_context_tokens", "think_time_s")
# compute_arrival_features' columns.
WINDOW_FEATURES = ("window_requests_per_s", "window_tokens_per_s", "window_interarrival_cv",
                   "window_dispersion")
_US = 1_000_000.0


def _seconds(delta: pl.Expr) -> pl.Expr:
    return delta.dt.total_microseconds().cast(pl.Float64) / _US


def row_keys() -> list[pl.Expr]:
    """What the features that need other rows read of each row, collected once per frame
    (``compute_features``) for the session table and the co-submission counts: [_row,
    session_id, _sid, arrival_ts, source_row, _file, e2e_latency_s, context_tokens,
    tenant_id, _second]."""
    sid = pl.col("session_id")
    return [
        pl.col(ROW), sid, session_hash(sid).alias("_sid"), pl.col("arrival_ts"),
        pl.col("source_row"), pl.col("source_file").hash().alias("_file"),
        pl.col("e2e_latency_s"), pl.col("context_tokens"), pl.col("tenant_id"), _second_key(),
    ]


def compute_session_features(lf: pl.LazyFrame, keys: pl.DataFrame,
                             columns: Sequence[str] = SESSION_FEATURES,
                             table: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Add ``columns`` of turn_index, session_turns, session_context_tokens, think_time_s
    (null without a session_id: sessions are never inferred) to ``lf`` (``keys``: its
    ``row_keys``); see ``compute_session_table`` (``table``, when already computed). The
    table is attached by position, so the wide frame streams past it."""
    table = (compute_session_table(keys) if table is None else table).select(ROW, *columns)
    return attach_by_position(lf, table, ROW, keys.height)


def session_hash(session_id: pl.Expr) -> pl.Expr:
    """The key sessions are sorted on (``compute_session_table``); any collision is caught."""
    return session_id.hash()


def compute_session_table(keys: pl.DataFrame, extra: Sequence[str] = ()) -> pl.DataFrame:
    """[_row, turn_index, session_turns, session_context_tokens, think_time_s, *extra] of
    the rows with a session_id, from their ``row_keys``; ``extra``: key columns carried
    along (``_sid``, ``context_tokens``), in the table's order: sessions in runs, each in
    turn order.

    Turns are ordered by arrival_ts, then source_row, then source_file (by its hash), so the
    order never depends on the order of the input rows. Think time is this arrival minus the
    previous turn's end (its arrival + e2e_latency_s when known, else its arrival, which
    makes the gap an upper bound); it is negative when turns overlap.

    Sessions are grouped by sorting on a 64-bit hash of session_id rather than the string,
    and only numeric columns go through the sort (per 1M sessioned rows: 0.2 CPU-s against
    1.2 with the string). Turns without an arrival_ts come last in their session. The hash
    stands for the session only when no run of equal hashes holds two session_ids (two
    colliding sessions sort into one run, so some neighbours in it differ); otherwise the
    string is sorted.
    """
    keyed = keys.filter(pl.col("session_id").is_not_null())
    in_order = _in_turn_order(keyed)
    ordered = _sorted_turns(keyed, "_sid", in_order)
    sid, hashed = pl.col("session_id"), pl.col("_sid")
    # Exact, and cheaper than counting distinct strings (550K turns: 0.014 vs 0.031 CPU-s).
    if ordered.select(((sid != sid.shift(1)) & (hashed == hashed.shift(1))).any()).item():
        ordered = _sorted_turns(keyed, "session_id", in_order)
        key = "session_id"
    else:
        key = "_sid"
    # After the sort each session is a run of rows: values come from run starts and ends
    # with fills and a global cumulative sum, not from per-session windows (4x the grouping).
    session = pl.col(key)
    first = session.ne_missing(session.shift(1))
    last = session.ne_missing(session.shift(-1))
    idx = pl.int_range(pl.len(), dtype=pl.Int64)
    start = pl.when(first).then(idx).forward_fill()
    context = pl.col("context_tokens")
    running = context.fill_null(0).cum_sum()
    before = pl.when(first).then(running - context.fill_null(0)).forward_fill()
    prev_end = pl.col("arrival_ts").shift(1) + pl.duration(
        microseconds=(pl.col("e2e_latency_s").shift(1).fill_null(0.0) * _US).round(0).cast(pl.Int64)
    )
    return ordered.select(
        ROW,
        (idx - start + 1).alias("turn_index"),
        (pl.when(last).then(idx).backward_fill() - start + 1).alias("session_turns"),
        pl.when(context.is_null()).then(None).otherwise(running - before)
        .alias("session_context_tokens"),
        pl.when(first).then(None).otherwise(_seconds(pl.col("arrival_ts") - prev_end))
        .alias("think_time_s"),
        *extra,
    )


def _sorted_turns(keyed: pl.DataFrame, key: str, in_order: bool) -> pl.DataFrame:
    """The session table's inputs sorted into runs of one session (``key``), each in turn
    order. Turns without an arrival go last (``_late``): sort's nulls_last cost 5x.

    Rows already in turn order (``in_order``: ``_in_turn_order``; logs written in time
    order, the usual case) only need a stable sort on ``key``: per 550K turns 0.065 CPU-s
    against 0.12 for the five keys."""
    columns = [ROW, "session_id", "_sid", pl.col("arrival_ts").is_null().alias("_late"),
               "arrival_ts", "source_row", "_file", "e2e_latency_s", "context_tokens"]
    if in_order:
        return keyed.select(columns).sort(key, maintain_order=True)
    return keyed.select(columns).sort([key, "_late", "arrival_ts", "source_row", "_file"])


def _in_turn_order(keyed: pl.DataFrame) -> bool:
    """True when every arrival_ts is known and the rows ascend by (arrival_ts, source_row,
    _file): then the input order is the turn order within every session."""
    at, row, file = (pl.col(name) for name in ("arrival_ts", "source_row", "_file"))
    up = [col > col.shift(1) for col in (at, row, file)]
    same = [col == col.shift(1) for col in (at, row, file)]
    ascending = up[0] | (same[0] & (up[1] | (same[1] & (up[2] | same[2]))))
    return keyed.height < 2 or keyed.select(
        ascending.slice(1).all(ignore_nulls=False).fill_null(False)).item() is True


def compute_evidence_features(time_base: pl.Expr | None = None) -> list[pl.Expr]:
    """has_ttft, is_batch_endpoint, hour_utc (interactivity / batch evidence; row-wise).

    co_submitted needs other rows: ``compute_co_submitted``.
    """
    base = pl.col("time_base") if time_base is None else time_base
    return [
        pl.col("ttft_s").is_not_null().alias("has_ttft"),
        (pl.col("endpoint") == "batch").alias("is_batch_endpoint"),
        pl.when(base == "absolute")
        .then(pl.col("arrival_ts").dt.hour().cast(pl.Int64))
        .otherwise(None)
        .alias("hour_utc"),
    ]


def _second_key() -> pl.Expr:
    batchy = pl.col("is_streaming").not_() & pl.col("arrival_ts").is_not_null()
    return pl.when(batchy).then(pl.col("arrival_ts").dt.truncate("1s")).alias("_second")


def compute_co_submitted_counts(lf: pl.LazyFrame) -> pl.LazyFrame:
    """[tenant_id, _second, co_submitted]: non-streaming arrivals per tenant and whole second."""
    return _count_seconds(lf.select("tenant_id", _second_key()))


def _count_seconds(keys: pl.LazyFrame) -> pl.LazyFrame:
    return (
        keys.drop_nulls("_second")
        .group_by("tenant_id", "_second")
        .agg(pl.len().cast(pl.Int64).alias("co_submitted"))
    )


def compute_co_submitted(lf: pl.LazyFrame, keys: pl.DataFrame,
                         counts: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Add co_submitted: non-streaming requests of the same tenant (null tenant = one group)
    arriving in the same whole second; null unless is_streaming is false and arrival_ts known.

    ``keys``: ``lf``'s ``row_keys``. The counts are a group_by (``compute_co_submitted_counts``
    of the whole trace when ``lf`` is one part of it, else of ``keys``), joined to the keys
    in memory and attached by position, so the wide frame streams past.
    """
    on = ["tenant_id", "_second"]
    table = _count_seconds(keys.lazy().select(on)).collect() if counts is None else counts
    # Only rows with a second are looked up (the others stay null): in the 10M synthetic
    # trace 8% of rows, and the join per 1M rows 0.010 instead of 0.055 CPU-s.
    found = keys.select(ROW, *on).filter(pl.col("_second").is_not_null()).join(
        table, on=on, how="left", nulls_equal=True, maintain_order="left")
    return attach_by_position(lf, found.select(ROW, "co_submitted"), ROW, keys.height)


def compute_window_stats(lf: pl.LazyFrame, window_s: float) -> pl.LazyFrame:
    """[_window, window_requests_per_s, window_tokens_per_s, window_interarrival_cv,
    window_dispersion] per tumbling window of ``window_s`` seconds aligned to the epoch.

    Dispersion is the variance / mean of per-second counts over the window's
    ``window_s`` one-second bins (empty bins count as 0): 1 for Poisson arrivals.
    """
    every = _every(window_s)
    bins = window_s  # one-second bins per window
    keyed = lf.select(
        pl.col("arrival_ts").dt.truncate(every).alias("_window"),
        pl.col("arrival_ts").dt.truncate("1s").alias("_second"),
        "arrival_ts",
        "context_tokens",
    ).filter(pl.col("arrival_ts").is_not_null())
    gaps = _seconds(pl.col("arrival_ts").sort().diff()).drop_nulls()
    per_window = keyed.group_by("_window").agg(
        (pl.len() / window_s).alias("window_requests_per_s"),
        (pl.col("context_tokens").sum() / window_s).alias("window_tokens_per_s"),
        pl.when((pl.len() >= 3) & (gaps.mean() > 0))
        .then(gaps.std() / gaps.mean())
        .otherwise(None)
        .alias("window_interarrival_cv"),
        pl.len().alias("_n"),
        # Σ over the window's seconds of (arrivals in that second)²
        (pl.col("_second").unique_counts().cast(pl.Float64) ** 2).sum().alias("_c2"),
    )
    mean = pl.col("_n") / bins
    dispersion = (pl.col("_c2") / bins - mean**2) / mean
    return per_window.select(
        "_window",
        "window_requests_per_s",
        "window_tokens_per_s",
        "window_interarrival_cv",
        dispersion.alias("window_dispersion"),
    )


def _every(window_s: float) -> str:
    return f"{round(window_s * _US)}us"


def compute_arrival_features(
    lf: pl.LazyFrame, window_s: float, stats: pl.DataFrame | None = None
) -> pl.LazyFrame:
    """Add window_requests_per_s, window_tokens_per_s, window_interarrival_cv and
    window_dispersion (``compute_window_stats``) to every request by its window.

    ``stats`` (``compute_window_stats`` of the whole trace) is given when ``lf`` is one part
    of it.
    """
    table = compute_window_stats(lf, window_s) if stats is None else stats.lazy()
    return (
        lf.with_columns(pl.col("arrival_ts").dt.truncate(_every(window_s)).alias("_window"))
        .join(table, on="_window", how="left", maintain_order="left")
        .drop("_window")
    )


@dataclass(frozen=True)
class ContextTables:
    """The whole trace's per-window arrival statistics (None when not asked for) and
    per-(tenant, second) co-submission counts, for computing features one part of the trace
    at a time."""

    windows: pl.DataFrame | None
    co_submitted: pl.DataFrame


def compute_context_tables(frame: pl.LazyFrame, window_s: float,
                           windows: bool = True) -> ContextTables:
    """Both tables of ``frame`` (canonical columns), in bounded memory; ``windows=False``
    computes only the co-submission counts (for ``compute_features`` without the
    arrival-window columns).

    The window statistics need each window's arrivals sorted, which polars does in memory:
    over 100M requests at once that held 8 GiB. So a streaming pass first counts requests
    per window, then the windows are computed in runs of consecutive windows holding at most
    ``WINDOW_SLICE_ROWS`` requests, each run read with a filter on arrival_ts (row groups
    outside it are skipped by their statistics when the input is in time order). The
    co-submission counts are one streaming group_by.
    """
    if not windows:
        return ContextTables(windows=None, co_submitted=compute_co_submitted_counts(frame).collect(
            engine="streaming"))
    every = _every(window_s)
    counts_per_window, co_counts = collect_all([
        frame.select(pl.col("arrival_ts").dt.truncate(every).alias("_window"))
        .drop_nulls().group_by("_window").agg(pl.len().alias("_n")).sort("_window"),
        compute_co_submitted_counts(frame),
    ])
    tokens = frame.select(
        "arrival_ts", (pl.col("input_tokens") + pl.col("output_tokens")).alias("context_tokens")
    )
    parts = []
    for low, high in _window_runs(counts_per_window, window_s):  # runs of windows, not rows
        part = tokens.filter((pl.col("arrival_ts") >= low) & (pl.col("arrival_ts") < high))
        parts.append(compute_window_stats(part, window_s).collect())
    stats = (pl.concat(parts) if parts else compute_window_stats(tokens, window_s).collect())
    return ContextTables(windows=stats.sort("_window"), co_submitted=co_counts)


# Requests whose window statistics are computed at once (a few columns each, sorted per
# window in memory): ~0.4 GB of working memory.
WINDOW_SLICE_ROWS = 5_000_000


def _window_runs(counts: pl.DataFrame, window_s: float) -> list[tuple[Any, Any]]:
    """[start, end) instants of consecutive windows with ≤ WINDOW_SLICE_ROWS requests
    together (a larger window is a run of its own)."""
    step = timedelta(microseconds=round(window_s * _US))
    runs: list[tuple[Any, Any]] = []
    start: Any = None
    previous: Any = None
    rows = 0
    for window, n in counts.iter_rows():  # windows (thousands), not requests
        if start is not None and rows + n > WINDOW_SLICE_ROWS:
            runs.append((start, previous + step))
            start, rows = None, 0
        if start is None:
            start = window
        rows += n
        previous = window
    if start is not None:
        runs.append((start, previous + step))
    return runs
