"""Generate synthetic LLM serving traces in the canonical request schema.

``generate_trace`` draws every workload of a mix (``workloads.py``; columns in
``draw.py``, arrival times in ``arrivals.py``) and assembles them into one frame
(``assemble.py``). ``write_large_trace`` streams chunks of the same generator into one
Parquet file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from tracelab.errors import ConfigError
from tracelab.schema import empty_frame
from tracelab.synth.arrivals import DIURNAL, Clock
from tracelab.synth.assemble import assemble_frame
from tracelab.synth.draw import draw_workload
from tracelab.synth.workloads import INTERLEAVED_MIXES, MIXES, Workload

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


def _generate(
    n_requests: int,
    rng: np.random.Generator,
    start_s: float,
    span_s: float,
    workloads: tuple[Workload, ...],
    id_prefix: str,
    row_offset: int = 0,
    block_base: int = 0,
    diurnal: float = DIURNAL,
) -> pl.DataFrame:
    if n_requests < 0:
        msg = f"n_requests must be >= 0, got {n_requests}"
        raise ConfigError(msg)
    if not span_s > 0:
        msg = f"span_s must be > 0 seconds, got {span_s}"
        raise ConfigError(msg)
    if not 0 <= diurnal <= 1:
        msg = f"diurnal amplitude {diurnal} must be in [0, 1] (0: flat, 1: no night traffic)"
        raise ConfigError(msg)
    clock = Clock(rng, start_s, span_s, diurnal)
    counts = _allocate(n_requests, [w.share for w in workloads])
    parts = [
        (w, draw_workload(w, int(count), rng, clock, block_base))
        for w, count in zip(workloads, counts, strict=True)
        if count > 0
    ]
    if not parts:
        return empty_frame().with_columns(pl.lit(None, pl.String).alias("synth_workload"))
    return assemble_frame(parts, start_s, id_prefix, row_offset)


def generate_trace(
    n_requests: int,
    seed: int = 0,
    start: str = "2026-01-05T09:00:00Z",
    span_s: float = 3600,
    mix: str = "default",
    diurnal: float = DIURNAL,
) -> pl.DataFrame:
    """A synthetic trace of ``n_requests`` requests over ``span_s`` seconds from ``start``.
    ``diurnal``: the day/night amplitude of the arrival rate (``tracelab.synth.arrivals``).

    Canonical schema (``source_format="canonical"``, absolute UTC times) plus an extra
    column ``synth_workload`` naming the workload that made each row (ground truth for
    label tests). Deterministic for a seed. Rows are sorted by arrival.
    """
    rng = np.random.default_rng(seed)
    return _generate(n_requests, rng, parse_start(start), float(span_s), _mix(mix), f"s{seed}",
                     diurnal=diurnal)


def write_large_trace(
    path: str | Path,
    n_requests: int,
    seed: int = 0,
    chunk_rows: int = 1_000_000,
    start: str = "2026-01-05T09:00:00Z",
    requests_per_s: float = 500.0,
    mix: str = "default",
    diurnal: float = DIURNAL,
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
                diurnal,
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
