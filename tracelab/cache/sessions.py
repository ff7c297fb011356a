"""Session reuse from one narrow scan: turns in reference order, then the closed form.

Session evidence used to be exploded into every 16-token block of every turn's context (on
a trace of long conversations, billions of references to hash and sample in the engine).
``collect_turns`` reads one record per turn instead (row, order keys, a hash of the session
id, input and output tokens); ``compute_session_curve`` turns them into the LRU curve and
per-request hits with ``tracelab.cache.turns`` (two distances per turn).

Up to ``EXACT_TURNS`` turns the pass is exact. Above, sessions are
sampled spatially (SHARDS by session: a session is kept iff ``splitmix64(hash) mod P < R·P``,
so each is in with probability R), the blocks of the sampled sessions between two turns
stand for 1/R times as many, and the error is measured against the exact pass on the first
``CHECK_TURNS`` turns of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tracelab.cache.collect import _batches, _Tally, finish_sample
from tracelab.cache.scan import _SESSION_SEED
from tracelab.cache.stack import compute_shards_mask
from tracelab.cache.turns import (
    TurnDistances,
    TurnHits,
    compute_turn_distances,
    knee_blocks,
    warm_hits,
    weighted_warm,
)

# Turns measured exactly (the pass is ~2.5 CPU-s per million on the 2-core dev machine);
# above, sessions are sampled down to about this many turns.
EXACT_TURNS = 1 << 20
# Turns at the head of the stream on which the sampled pass is checked against the exact one.
CHECK_TURNS = 1 << 18


@dataclass(frozen=True)
class SessionTurns:
    """The turns with a reference, in reference order, and the whole-stream counts.

    ``row`` (int64 position in the input frame), ``session`` (uint64 hash of session_id),
    ``input_tokens``, ``output_tokens`` (int64) are aligned. ``n_reads`` counts the block
    reads of every turn (``ceil(input_tokens / block_tokens)``).
    """

    block_tokens: int
    row: np.ndarray
    session: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    n_reads: int
    n_rows: int
    evidence_rows: np.ndarray
    model_counts: pl.DataFrame
    rejected: pl.DataFrame
    rows_without_evidence: int
    span_hours: float | None


def collect_turns(frame: pl.LazyFrame, block_tokens: int) -> SessionTurns:
    """One streaming scan of the session rows of a ``prepare_frame`` frame (see module doc)."""
    tin = pl.col("input_tokens")
    code = pl.when(pl.col("session_id").is_not_null() & tin.is_null()).then(5).cast(pl.Int8())
    reads = ((tin + block_tokens - 1) // block_tokens).clip(0).fill_null(0)
    ctx = tin + pl.col("output_tokens").fill_null(0).clip(0)
    writes = (ctx // block_tokens - tin // block_tokens).clip(0).fill_null(0)
    per_row = (
        _batches(frame, "sessions")
        .select(
            "row", pl.col("arrival_ts").dt.epoch("us").alias("_ts"), "_file",
            pl.col("source_row").alias("_srow"), "_bad", code.alias("_code"),
            pl.col("session_id").hash(_SESSION_SEED).alias("_session"),
            tin.cast(pl.Int64()), pl.col("output_tokens").fill_null(0).clip(0).alias("_out"),
            reads.cast(pl.Int64()).alias("refs"), writes.cast(pl.Int64()).alias("writes"),
            tin.clip(0).fill_null(0).alias("tokens"), pl.lit(None, pl.Int32()).alias("pbt"),
        )
        .collect(engine="streaming")
    )
    tally = _Tally()
    good = tally.add(per_row)
    turns = per_row.filter(pl.Series(good) & (pl.col("refs") + pl.col("writes") > 0)).select(
        "row", "_ts", "_file", "_srow", "_session", "input_tokens", "_out"
    )
    del per_row
    done = finish_sample(frame, block_tokens, turns, tally, ("_ts", "_rank", "_srow", "row"))
    turns = done.sample
    return SessionTurns(
        block_tokens=block_tokens, row=turns["row"].to_numpy(),
        session=turns["_session"].to_numpy(), input_tokens=turns["input_tokens"].to_numpy(),
        output_tokens=turns["_out"].to_numpy(), n_reads=tally.reads,
        n_rows=done.n_rows, evidence_rows=done.evidence_rows,
        model_counts=done.models, rejected=done.rejected,
        rows_without_evidence=done.rows_without_evidence, span_hours=done.span_hours,
    )  # fmt: skip


@dataclass(frozen=True)
class SessionCurve:
    """The closed-form pass over the (sampled) turns: the warm reads' CDF and the hits."""

    rate: float | None
    how: str
    dist: np.ndarray  # warm distances ascending (blocks)
    cum: np.ndarray  # cumulative warm reads
    n_reads: float  # block reads of the (sampled) turns: the hit ratios' denominator
    n_distinct: int  # distinct blocks read (estimated by 1/R under sampling)
    hits: TurnHits
    error: dict[str, float] | None

    def ratios(self, capacities: np.ndarray) -> np.ndarray:
        """LRU hit ratio at each capacity (blocks)."""
        if self.n_reads <= 0:
            return np.zeros(len(capacities))
        return warm_hits(self.dist, self.cum, capacities) / self.n_reads

    def knee(self, fraction: float) -> int:
        """Smallest capacity reaching ``fraction`` of the achievable hits."""
        return knee_blocks(self.dist, self.cum, fraction)


def _pass(turns: SessionTurns, keep: np.ndarray | None, rate: float | None,
          ) -> tuple[TurnDistances, np.ndarray, float]:  # fmt: skip
    """Distances of the kept turns, their rows and their block reads."""
    pick = (lambda a: a) if keep is None else (lambda a: a[keep])
    tin = pick(turns.input_tokens)
    dist = compute_turn_distances(pick(turns.session), tin, pick(turns.output_tokens),
                                  turns.block_tokens, rate)  # fmt: skip
    reads = float(((tin + turns.block_tokens - 1) // turns.block_tokens).sum())
    return dist, pick(turns.row), reads


def _check(turns: SessionTurns, rate: float, caps: np.ndarray) -> dict[str, float]:
    """Max and mean |sampled - exact| hit ratio over ``caps`` on the first turns."""
    n = min(CHECK_TURNS, turns.row.size)
    head = SessionTurns(
        turns.block_tokens, turns.row[:n], turns.session[:n], turns.input_tokens[:n],
        turns.output_tokens[:n], 0, 0, turns.evidence_rows[:0], turns.model_counts,
        turns.rejected, 0, None,
    )  # fmt: skip
    exact, _, reads = _pass(head, None, None)
    mask = compute_shards_mask(head.session, rate)
    sampled, _, sampled_reads = _pass(head, mask, rate)
    caps = caps[caps >= 1 / rate] if (caps >= 1 / rate).any() else caps[-1:]
    truth = warm_hits(*weighted_warm(exact), caps) / max(reads, 1.0)
    approx = warm_hits(*weighted_warm(sampled), caps) / max(sampled_reads, 1.0)
    err = np.abs(approx - truth)
    return {"subset_references": reads, "min_capacity_blocks": float(caps.min()),
            "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean())}  # fmt: skip


def compute_session_curve(
    turns: SessionTurns, frame: pl.LazyFrame, sample_rate: float | None
) -> SessionCurve:
    """The closed form over every turn, or over a session sample (see the module doc).

    ``sample_rate`` None chooses by size; 1 is exact.
    """
    n = turns.row.size
    if sample_rate is None:
        rate = None if n <= EXACT_TURNS else EXACT_TURNS / n
    else:
        rate = None if sample_rate == 1 else sample_rate
    if rate is None:
        how = (f"exact: closed form over {n:,} session turns "
               f"({turns.n_reads:,} block reads, none exploded)")  # fmt: skip
        dist, rows, reads = _pass(turns, None, None)
        distinct, error = dist.n_distinct, None
    else:
        how = (f"SHARDS over sessions at rate {rate:.4g}: {n:,} session turns"
               + ("" if sample_rate is not None else f" > {EXACT_TURNS:,}")
               + "; a sample rate of 1 is exact")  # fmt: skip
        dist, rows, reads = _pass(turns, compute_shards_mask(turns.session, rate), rate)
        from tracelab.cache.sampling import capacity_grid  # (sampling imports this module)

        distinct = round(dist.n_distinct / rate)
        error = _check(turns, rate, capacity_grid(distinct, None))
    hits = TurnHits(frame=frame, row=rows, turns=dist, block_tokens=turns.block_tokens,
                    evidence_rows=np.sort(turns.evidence_rows), sample_rate=rate)  # fmt: skip
    warm_d, cum = weighted_warm(dist)
    return SessionCurve(rate, how, warm_d, cum, reads, distinct, hits, error)
