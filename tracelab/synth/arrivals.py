"""When synthetic requests arrive, and how a session's turns follow each other.

Arrivals follow a non-homogeneous Poisson process over the span: a diurnal factor
``1 + a·cos(2π(hour_utc − 15)/24)`` (peak 15:00 UTC; day/night amplitude ``a``, default
0.5: the peak hour 3× the trough, 0.9: 19×, 0: flat) times short bursts (on average one
every 15 minutes, 30–120 s long, 4× the rate). Conditional on the count, Poisson arrivals
are i.i.d. with density ∝ rate, so they are drawn by inverting the rate's CDF on a grid.
Sessions are handled with segmented cumulative sums, not per-row loops.

A workload whose sessions outlast the span (``Workload.cut_by_window``: hour-apart turns)
is a stationary process that the log's window cuts: sessions start all the time, the window
sees some begin before it and some end after it, and logs only the turns inside it. The day
is taken as periodic, so a session starts at a clock-drawn instant in the window and a turn
that would fall past the window's end, ``lap`` spans later, is logged ``lap`` spans earlier
as a turn of a different session (one that began before the window). The window thus holds
exactly the requested rows, each session's turns in order, and no second collects the ends
of long sessions.
"""

from __future__ import annotations

import numpy as np

from tracelab.synth.workloads import Workload

DIURNAL = 0.5


class Clock:
    """Samples arrival offsets (s) in [0, span) from the diurnal × bursty rate."""

    def __init__(self, rng: np.random.Generator, start_s: float, span_s: float,
                 diurnal: float = DIURNAL) -> None:
        self.span_s = span_s
        self.grid = np.linspace(0.0, span_s, 4097)
        hours = ((start_s + self.grid) / 3600.0) % 24.0
        rate = 1.0 + diurnal * np.cos(2 * np.pi * (hours - 15.0) / 24.0)
        for _ in range(rng.poisson(span_s / 900.0)):
            at, length = rng.uniform(0, span_s), rng.uniform(30, 120)
            rate = rate + 3.0 * rate * ((self.grid >= at) & (self.grid < at + length))
        steps = (rate[1:] + rate[:-1]) / 2 * np.diff(self.grid)
        self.cdf = np.concatenate([[0.0], np.cumsum(steps)]) / steps.sum()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        times = np.interp(rng.random(n), self.cdf, self.grid)
        return np.minimum(times, np.nextafter(self.span_s, 0))


def segments(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: its session index, its turn index and the row index of its session's first turn."""
    session = np.repeat(np.arange(len(lengths)), lengths)
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return session, np.arange(lengths.sum()) - first, first


def segmented_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    return total - total[first] + values[first]


def session_lengths(rng: np.random.Generator, n: int, turns_mean: float) -> np.ndarray:
    if turns_mean <= 1.0:
        return np.ones(n, dtype=np.int64)
    lengths = rng.geometric(1.0 / turns_mean, size=n).astype(np.int64)
    total = np.cumsum(lengths)
    last = int(np.searchsorted(total, n))
    lengths = lengths[: last + 1]
    lengths[-1] -= total[last] - n
    return lengths


def arrivals(
    w: Workload,
    rng: np.random.Generator,
    clock: Clock,
    lengths: np.ndarray,
    session: np.ndarray,
    turn: np.ndarray,
    first: np.ndarray,
    e2e: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival offsets (s) and session numbers per row.

    Sessions chain turns by latency + think time; batch jobs burst. The session numbers
    are ``session`` unless the window cuts sessions (the module docstring): the part of
    session ``s`` logged ``lap`` spans back is session ``lap · len(lengths) + s``.
    """
    n = len(session)
    if w.batch_job_size:
        jobs = max(1, round(n / w.batch_job_size))
        job = np.sort(rng.integers(jobs, size=n))
        job_start = rng.uniform(0.0, max(clock.span_s - 10.0, 0.0), size=jobs)
        return job_start[job] + rng.uniform(0.0, min(5.0, clock.span_s), size=n), session
    if not w.sessions:
        return clock.sample(rng, n), session
    median, sigma = w.think_s
    think = rng.lognormal(np.log(median), sigma, size=n)
    gap = np.where(turn > 0, np.roll(e2e, 1) + think, 0.0)
    within = segmented_cumsum(gap, first)
    if w.cut_by_window:
        at = clock.sample(rng, len(lengths))[session] + within
        lap = np.floor(at / clock.span_s).astype(np.int64)
        offsets = np.minimum(at - lap * clock.span_s, np.nextafter(clock.span_s, 0))
        return offsets, lap * len(lengths) + session
    duration = np.maximum.reduceat(within, np.cumsum(lengths) - lengths)
    room = np.maximum(clock.span_s - duration, 0.0)
    start = clock.sample(rng, len(lengths)) * room / clock.span_s
    return start[session] + within, session
