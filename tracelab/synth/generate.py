"""Generate synthetic LLM serving traces in the canonical request schema.

``generate_trace`` draws every workload of a mix (``workloads.py``) with numpy, vectorised
per workload; sessions are handled with segmented cumulative sums, not per-row loops.
Arrivals follow a non-homogeneous Poisson process over the span: a diurnal factor
``1 + 0.5·cos(2π(hour_utc − 15)/24)`` (peak 15:00 UTC) times short bursts (on average one
every 15 minutes, 30–120 s long, 4× the rate). Conditional on the count, Poisson arrivals
are i.i.d. with density ∝ rate, so they are drawn by inverting the rate's CDF on a grid.

``write_large_trace`` streams chunks of the same generator into one Parquet file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from tracelab.errors import ConfigError
from tracelab.schema import CANONICAL_COLUMNS, conform, empty_frame
from tracelab.synth.workloads import (
    BLOCK_TOKENS,
    INTERLEAVED_MIXES,
    MAX_CONTEXT_TOKENS,
    MIXES,
    MODEL_SPEEDS,
    REASONING_MODELS,
    TIMEOUT_S,
    Workload,
)

# Block ids of the agents' shared system prompts live below this; session blocks above it.
_SESSION_BLOCK_BASE = 1 << 20
# Each chunk of a large trace gets its own range of session block ids.
_CHUNK_BLOCK_STRIDE = 1 << 40


def parse_start(start: str) -> float:
    """Seconds since the Unix epoch of an ISO-8601 instant (``Z`` or offset; naive = UTC)."""
    try:
        when = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        msg = f"start {start!r} is not an ISO-8601 instant; use e.g. 2026-01-05T09:00:00Z"
        raise ConfigError(msg) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=None).timestamp() - datetime(1970, 1, 1).timestamp()
    return when.timestamp()


def _mix(mix: str) -> tuple[Workload, ...]:
    if mix not in MIXES:
        msg = f"unknown mix {mix!r}; choose one of {', '.join(MIXES)}"
        raise ConfigError(msg)
    return MIXES[mix]


def _allocate(n: int, shares: list[float]) -> np.ndarray:
    """Split ``n`` rows by shares, largest remainder first (exact total)."""
    raw = np.asarray(shares) / sum(shares) * n
    counts = np.floor(raw).astype(np.int64)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


class _Clock:
    """Samples arrival offsets (s) in [0, span) from the diurnal × bursty rate."""

    def __init__(self, rng: np.random.Generator, start_s: float, span_s: float) -> None:
        self.span_s = span_s
        self.grid = np.linspace(0.0, span_s, 4097)
        hours = ((start_s + self.grid) / 3600.0) % 24.0
        rate = 1.0 + 0.5 * np.cos(2 * np.pi * (hours - 15.0) / 24.0)
        for _ in range(rng.poisson(span_s / 900.0)):
            at, length = rng.uniform(0, span_s), rng.uniform(30, 120)
            rate = rate + 3.0 * rate * ((self.grid >= at) & (self.grid < at + length))
        steps = (rate[1:] + rate[:-1]) / 2 * np.diff(self.grid)
        self.cdf = np.concatenate([[0.0], np.cumsum(steps)]) / steps.sum()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        times = np.interp(rng.random(n), self.cdf, self.grid)
        return np.minimum(times, np.nextafter(self.span_s, 0))


def _segments(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: its session index, its turn index and the row index of its session's first turn."""
    session = np.repeat(np.arange(len(lengths)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return session, np.arange(lengths.sum()) - first, first


def _segmented_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    return total - total[first] + values[first]


def _session_lengths(rng: np.random.Generator, n: int, turns_mean: float) -> np.ndarray:
    if turns_mean <= 1.0:
        return np.ones(n, dtype=np.int64)
    lengths = rng.geometric(1.0 / turns_mean, size=n).astype(np.int64)
    total = np.cumsum(lengths)
    last = int(np.searchsorted(total, n))
    lengths = lengths[: last + 1]
    lengths[-1] -= total[last] - n
    return lengths


def _choose(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    names = np.array([name for name, _ in pairs], dtype=object)
    weights = np.array([weight for _, weight in pairs])
    return names[rng.choice(len(names), size=n, p=weights / weights.sum())]


def _draw_workload(
    w: Workload, n: int, rng: np.random.Generator, clock: _Clock, block_base: int
) -> dict[str, np.ndarray]:
    """All columns of ``n`` requests of one workload, rows in session/turn order."""
    lengths = _session_lengths(rng, n, w.turns_mean)
    session, turn, first = _segments(lengths)
    model = _choose(rng, w.models, len(lengths))[session]
    tenant = np.array(w.tenants, dtype=object)[rng.integers(len(w.tenants), size=len(lengths))][
        session
    ]
    output = w.output_tokens.sample(rng, n)
    added = w.input_tokens.sample(rng, n)
    sys_tokens = np.zeros(n, dtype=np.int64)
    agent = np.zeros(n, dtype=np.int64)
    if w.sessions and w.turn_tokens is not None:
        later = turn > 0
        added[later] = w.turn_tokens.sample(rng, int(later.sum()))
        if w.system_prompt_blocks:
            agent = rng.integers(len(w.system_prompt_blocks), size=len(lengths))[session]
            sys_tokens = np.array(w.system_prompt_blocks)[agent] * BLOCK_TOKENS
        prev_output = np.where(later, np.roll(output, 1), 0)
        step = added + prev_output + np.where(later, 0, sys_tokens)
        input_tokens = np.minimum(_segmented_cumsum(step, first), MAX_CONTEXT_TOKENS)
        prev_context = np.where(later, np.roll(input_tokens, 1) + np.roll(output, 1), 0)
        cached = np.minimum(np.where(later, prev_context, sys_tokens), input_tokens)
    else:
        input_tokens = added
        cached = np.zeros(n, dtype=np.int64)

    reasoning = np.where(
        np.isin(model, list(REASONING_MODELS)),
        np.rint(output * rng.uniform(0.2, 0.6, size=n)).astype(np.int64),
        0,
    )
    prefill_rate = np.array([MODEL_SPEEDS[m][0] for m in model])
    tpot = np.array([MODEL_SPEEDS[m][1] for m in model]) * rng.lognormal(0.0, 0.15, size=n)
    if w.batch_job_size:
        queue = rng.uniform(0.0, 0.5 * w.batch_job_size, size=n)  # a job drains at ~2 req/s
    else:
        queue = rng.exponential(0.05, size=n)
    ttft = 0.015 + queue + (input_tokens - cached) / prefill_rate * rng.lognormal(0, 0.2, size=n)
    e2e = ttft + output * tpot

    # Failures: error fails fast with no output; cancelled streams part of the answer;
    # timeout hits the gateway's limit with nothing reported.
    u = rng.random(n)
    rates = w.failure_rates
    is_error = u < rates.get("error", 0.0)
    is_cancel = ~is_error & (u < rates.get("error", 0.0) + rates.get("cancelled", 0.0))
    failed = sum(rates.get(k, 0.0) for k in ("error", "cancelled", "timeout"))
    is_timeout = ~is_error & ~is_cancel & (u < failed)
    status = np.where(is_error, "error", np.where(is_cancel, "cancelled", "ok")).astype(object)
    status[is_timeout] = "timeout"
    partial = np.floor(output * rng.random(n)).astype(np.int64)
    output = np.where(is_cancel, partial, output)
    reasoning = np.minimum(reasoning, output)
    e2e = np.where(is_cancel, ttft + output * tpot, e2e)
    e2e = np.where(is_error, 0.01 + queue, e2e)
    e2e = np.where(is_timeout, TIMEOUT_S["batch" if w.batch_job_size else "interactive"], e2e)
    no_output = is_error | is_timeout
    no_ttft = no_output | (is_cancel & (output == 0)) | (not w.streaming)

    offsets = _arrivals(w, rng, clock, lengths, session, turn, first, e2e)
    sys_start, sys_count, new_start, new_count = _blocks(
        w, lengths, session, agent, input_tokens, block_base
    )
    return {
        "offset_s": offsets,
        "session_no": session,
        "turn": turn,
        "model": model,
        "tenant_id": tenant,
        "input_tokens": input_tokens,
        "cached_input_tokens": cached if w.logs_cached else np.full(n, -1),
        "output_tokens": np.where(no_output, -1, output),
        "reasoning_tokens": np.where(no_output, -1, reasoning),
        "ttft_s": np.where(no_ttft, np.nan, ttft),
        "e2e_latency_s": e2e,
        "status": status,
        "sys_start": sys_start,
        "sys_count": sys_count,
        "new_start": new_start,
        "new_count": new_count,
    }


def _arrivals(
    w: Workload,
    rng: np.random.Generator,
    clock: _Clock,
    lengths: np.ndarray,
    session: np.ndarray,
    turn: np.ndarray,
    first: np.ndarray,
    e2e: np.ndarray,
) -> np.ndarray:
    """Arrival offsets (s): sessions chain turns by latency + think time; batch jobs burst."""
    n = len(session)
    if w.batch_job_size:
        jobs = max(1, round(n / w.batch_job_size))
        job = np.sort(rng.integers(jobs, size=n))
        job_start = rng.uniform(0.0, max(clock.span_s - 10.0, 0.0), size=jobs)
        return job_start[job] + rng.uniform(0.0, min(5.0, clock.span_s), size=n)
    if not w.sessions:
        return clock.sample(rng, n)
    median, sigma = w.think_s
    think = rng.lognormal(np.log(median), sigma, size=n)
    gap = np.where(turn > 0, np.roll(e2e, 1) + think, 0.0)
    within = _segmented_cumsum(gap, first)
    duration = np.maximum.reduceat(within, np.cumsum(lengths) - lengths)
    if w.fit_span:
        squeeze = np.minimum(1.0, np.nextafter(clock.span_s, 0) / np.maximum(duration, 1e-9))
        within, duration = within * squeeze[session], duration * squeeze
    room = np.maximum(clock.span_s - duration, 0.0)
    start = clock.sample(rng, len(lengths)) * room / clock.span_s
    return start[session] + within


def _blocks(
    w: Workload,
    lengths: np.ndarray,
    session: np.ndarray,
    agent: np.ndarray,
    input_tokens: np.ndarray,
    block_base: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Prefix blocks (512 tokens) per row: (system id start, system count, new start, new count).

    A row's list is the agent's system-prompt ids followed by ids ``new_start ..
    new_start + new_count``; a session's ids are consecutive, so each turn's list extends
    the previous turn's. System-prompt ids are shared by every session of the same agent.
    """
    n = len(session)
    if not w.system_prompt_blocks:
        zeros = np.zeros(n, dtype=np.int64)
        return zeros, zeros, zeros, zeros
    sys_sizes = np.array(w.system_prompt_blocks)
    sys_offsets = np.cumsum(sys_sizes) - sys_sizes
    total = -(-input_tokens // BLOCK_TOKENS)
    new_count = total - sys_sizes[agent]
    per_session = np.maximum.reduceat(new_count, np.cumsum(lengths) - lengths)
    session_start = block_base + _SESSION_BLOCK_BASE + np.cumsum(per_session) - per_session
    return sys_offsets[agent], sys_sizes[agent], session_start[session], new_count


def _frame(
    parts: list[tuple[Workload, dict[str, np.ndarray]]],
    start_s: float,
    id_prefix: str,
    row_offset: int,
) -> pl.DataFrame:
    """Assemble the workloads' columns into one canonical frame sorted by arrival."""
    frames = []
    for order, (w, cols) in enumerate(parts):
        frame = pl.DataFrame({k: v for k, v in cols.items()}, strict=False).with_columns(
            pl.lit(w.name).alias("synth_workload"),
            pl.lit(order).alias("workload_order"),
            pl.lit(w.endpoint).alias("endpoint"),
            pl.lit(w.streaming).alias("is_streaming"),
            pl.lit(BLOCK_TOKENS if w.system_prompt_blocks else None, pl.Int64).alias(
                "prefix_block_tokens"
            ),
            (
                pl.format("{}-{}-{}", pl.lit(id_prefix), pl.lit(w.name), pl.col("session_no"))
                if w.sessions
                else pl.lit(None, pl.String)
            ).alias("session_id"),
        )
        frames.append(frame)
    blocks = pl.concat_list(
        pl.int_ranges(pl.col("sys_start"), pl.col("sys_start") + pl.col("sys_count")),
        pl.int_ranges(pl.col("new_start"), pl.col("new_start") + pl.col("new_count")),
    ).cast(pl.List(pl.UInt64))
    epoch_us = (pl.lit(start_s * 1e6) + pl.col("offset_s") * 1e6).round().cast(pl.Int64)
    frame = (
        pl.concat(frames, how="vertical")
        .sort(["offset_s", "workload_order", "session_no", "turn"], maintain_order=True)
        .with_row_index("row")
        .with_columns(
            pl.format(
                "{}-{}",
                pl.lit(id_prefix),
                (pl.col("row") + row_offset).cast(pl.String).str.zfill(9),
            ).alias("request_id"),
            pl.from_epoch(epoch_us, time_unit="us").dt.replace_time_zone("UTC").alias("arrival_ts"),
            pl.lit("absolute").alias("time_base"),
            pl.when(pl.col("prefix_block_tokens").is_not_null())
            .then(blocks)
            .alias("prefix_hash_blocks"),
            pl.when(pl.col("output_tokens") >= 0)
            .then(pl.col("output_tokens"))
            .alias("output_tokens"),
            pl.when(pl.col("cached_input_tokens") >= 0)
            .then(pl.col("cached_input_tokens"))
            .alias("cached_input_tokens"),
            pl.when(pl.col("reasoning_tokens") >= 0)
            .then(pl.col("reasoning_tokens"))
            .alias("reasoning_tokens"),
            pl.col("ttft_s").fill_nan(None),
            pl.lit("canonical").alias("source_format"),
        )
    )
    return conform(frame.lazy()).select(*CANONICAL_COLUMNS, "synth_workload").collect()


def _generate(
    n_requests: int,
    rng: np.random.Generator,
    start_s: float,
    span_s: float,
    workloads: tuple[Workload, ...],
    id_prefix: str,
    row_offset: int = 0,
    block_base: int = 0,
) -> pl.DataFrame:
    if n_requests < 0:
        msg = f"n_requests must be >= 0, got {n_requests}"
        raise ConfigError(msg)
    if not span_s > 0:
        msg = f"span_s must be > 0 seconds, got {span_s}"
        raise ConfigError(msg)
    clock = _Clock(rng, start_s, span_s)
    counts = _allocate(n_requests, [w.share for w in workloads])
    parts = [
        (w, _draw_workload(w, int(count), rng, clock, block_base))
        for w, count in zip(workloads, counts, strict=True)
        if count > 0
    ]
    if not parts:
        return empty_frame().with_columns(pl.lit(None, pl.String).alias("synth_workload"))
    return _frame(parts, start_s, id_prefix, row_offset)


def generate_trace(
    n_requests: int,
    seed: int = 0,
    start: str = "2026-01-05T09:00:00Z",
    span_s: float = 3600,
    mix: str = "default",
) -> pl.DataFrame:
    """A synthetic trace of ``n_requests`` requests over ``span_s`` seconds from ``start``.

    Canonical schema (``source_format="canonical"``, absolute UTC times) plus an extra
    column ``synth_workload`` naming the workload that made each row (ground truth for
    label tests). Deterministic for a seed. Rows are sorted by arrival.
    """
    rng = np.random.default_rng(seed)
    return _generate(n_requests, rng, parse_start(start), float(span_s), _mix(mix), f"s{seed}")


def write_large_trace(
    path: str | Path,
    n_requests: int,
    seed: int = 0,
    chunk_rows: int = 1_000_000,
    start: str = "2026-01-05T09:00:00Z",
    requests_per_s: float = 500.0,
    mix: str = "default",
) -> int:
    """Stream a trace of ``n_requests`` rows into one Parquet file, ``chunk_rows`` at a time.

    Each chunk is ``generate_trace``-style output covering ``chunk_rows / requests_per_s``
    seconds and continues the previous chunk's clock, so at most one chunk is in memory.
    Sessions do not cross chunk boundaries (ids carry the chunk number); prefix blocks are
    kept (session block ids get a per-chunk range; system-prompt ids are shared by all
    chunks). Rows are sorted within a chunk; a session longer than a chunk's span (a long
    chat at a high rate) can run past the chunk's end, so the file as a whole is only
    nearly sorted: sort by ``arrival_ts`` when order matters. A mix of hour-long sessions
    (``INTERLEAVED_MIXES``) draws every chunk over the whole span instead, so its sessions
    interleave across the day, and the file is sorted by arrival once written (a temporary
    file beside ``path``). Returns the rows written.
    """
    import pyarrow.parquet as pq

    if chunk_rows < 1:
        msg = f"chunk_rows must be >= 1, got {chunk_rows}"
        raise ConfigError(msg)
    if not requests_per_s > 0:
        msg = f"requests_per_s must be > 0, got {requests_per_s}"
        raise ConfigError(msg)
    workloads = _mix(mix)
    clock_s = parse_start(start)
    interleave = mix in INTERLEAVED_MIXES
    target = Path(path)
    out = target.with_name(f".{target.name}.unsorted") if interleave else target
    written = 0
    writer: pq.ParquetWriter | None = None
    try:
        for index, rng in enumerate(_chunk_rngs(seed, n_requests, chunk_rows)):
            rows = min(chunk_rows, n_requests - written)
            span_s = (n_requests if interleave else rows) / requests_per_s
            chunk = _generate(
                rows,
                rng,
                clock_s,
                span_s,
                workloads,
                f"s{seed}c{index}",
                written,
                index * _CHUNK_BLOCK_STRIDE,
            )
            table = chunk.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(str(out), table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
            written += rows
            if not interleave:
                clock_s += span_s
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        generate_trace(0).write_parquet(path)
    elif interleave:
        try:
            pl.scan_parquet(out).sort("arrival_ts", maintain_order=True).sink_parquet(
                target, compression="zstd", row_group_size=chunk_rows)
        finally:
            out.unlink()
    return written


def _chunk_rngs(seed: int, n_requests: int, chunk_rows: int) -> list[np.random.Generator]:
    chunks = -(-n_requests // chunk_rows)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(chunks)]
