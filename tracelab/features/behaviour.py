"""Who is on the other end: a session's pace and context growth, and jobs submitted at once.

The mode rules (``tracelab.labels.rules.mode_rule``) read these. They carry no thresholds:
a session's median think time and the share of its turns whose context grew, a
submission's size; the label thresholds (``tracelab/data/labels.toml``) decide what counts
as human, machine-speed or a job.

* Session evidence is one value per session, given to every turn of it (the first turn
  included: it has no think time of its own, but its session does).
* A submission is a set of requests of one tenant (null tenant = one group) in one source
  file that have no arrival time and were not streamed: a job handed over as a whole, as
  in ServeGen's offline batch tasks (request order only). Requests with an arrival time
  belong to no submission here (their bursts are ``co_submitted``).

Everything is polars over the narrow key table ``row_keys`` and the session table: window
expressions over sessions and a group_by over (tenant, file), no loop over rows.
"""

from __future__ import annotations

import polars as pl

from tracelab.features.context import ROW

# compute_session_evidence's columns.
SESSION_EVIDENCE = ("session_gaps", "session_think_median_s", "session_growing_share")
# compute_submission_evidence's columns.
SUBMISSION_EVIDENCE = ("submission_requests",)


def _by_row(keys: pl.DataFrame, rows: pl.Series, names: list[str]) -> list[pl.Series]:
    """``keys``' columns ``names`` at the positions ``rows`` (``keys[ROW]`` is each row's
    0-based position, in order when ``compute_features`` collected it)."""
    position = keys.get_column(ROW)
    if not (position.is_sorted() and (keys.height == 0 or position[-1] == keys.height - 1)):
        keys = keys.sort(ROW)
    at = rows.cast(pl.Int64)
    return [keys.get_column(name).gather(at) for name in names]


def compute_session_evidence(keys: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """[_row, session_gaps, session_think_median_s, session_growing_share] of every row with
    a session_id, from its ``row_keys`` (``keys``) and the session table
    (``compute_session_table``: _row, turn_index, think_time_s).

    * ``session_gaps``: the session's turns with a think time (every turn but the first,
      less those without an arrival_ts), in turns.
    * ``session_think_median_s``: the median of those think times, seconds (null without
      a gap). Negative when turns overlap (requests sent before the previous one ended).
    * ``session_growing_share``: the share of those turns whose context_tokens exceed the
      previous turn's (a conversation or an agent loop carrying its history forward);
      null without a gap whose two context sizes are known.
    """
    rows = table.get_column(ROW)
    session, context = _by_row(keys, rows, ["session_id", "context_tokens"])
    frame = pl.DataFrame({
        ROW: rows, "_session": session, "_turn": table.get_column("turn_index"),
        "_think": table.get_column("think_time_s"), "_context": context,
    })
    turn, name = pl.col("_turn"), pl.col("_session")
    # The session table lists each session's turns together in turn order; sort only if not.
    in_runs = frame.select(
        ((turn == 1) | ((turn == turn.shift(1) + 1) & (name == name.shift(1))))
        .all(ignore_nulls=False).fill_null(True)
    ).item()
    if not in_runs:
        frame = frame.sort("_session", "_turn")
    first = turn == 1
    run = first.cum_sum().alias("_run")
    think, ctx = pl.col("_think"), pl.col("_context")
    grew = pl.when(first.not_() & ctx.is_not_null() & ctx.shift(1).is_not_null()).then(
        (ctx > ctx.shift(1)).cast(pl.Float64))
    frame = frame.with_columns(run, grew.alias("_grew"))
    return frame.select(
        ROW,
        think.is_not_null().sum().over("_run").cast(pl.Int64).alias("session_gaps"),
        think.median().over("_run").alias("session_think_median_s"),
        pl.col("_grew").mean().over("_run").alias("session_growing_share"),
    )


def submission_key() -> pl.Expr:
    """The file a request was handed over in, for requests with no arrival time that were
    not streamed (null for the others): with tenant_id, the key of a submission."""
    unspread = pl.col("arrival_ts").is_null() & pl.col("is_streaming").ne_missing(True)
    return pl.when(unspread).then(pl.col("source_file").hash()).alias("_submission")


def compute_submission_evidence(keys: pl.DataFrame) -> pl.DataFrame:
    """[_row, submission_requests] of the rows in a submission (see the module docstring):
    the number of requests of that submission. ``keys``: ``row_keys`` with
    ``submission_key``."""
    found = keys.select(ROW, "tenant_id", "_submission").filter(
        pl.col("_submission").is_not_null())
    return found.select(
        ROW, pl.len().over("tenant_id", "_submission").cast(pl.Int64).alias("submission_requests"))
