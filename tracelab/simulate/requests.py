"""The requests a replay takes, from a labelled frame: the plan's class id and token counts.

``prefill_tokens`` is what the plan charges (``tracelab.plan.demand.scan_plan_requests``):
input tokens less the log's cached tokens and the cache stage's simulated hits;
``context_tokens`` the whole prompt (it all sits in KV); ``output_tokens`` the decode tokens;
``arrival_s`` seconds from the first arrival (or ``start``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from tracelab.plan.demand import scan_plan_requests
from tracelab.plan.ledger import route_unit


def scan_replay_requests(labeled: pl.LazyFrame, by: str = "labels",
                         start: datetime | None = None) -> pl.LazyFrame:
    """``tracelab.simulate.REQUEST_COLUMNS`` of every labelled request with an arrival."""
    planned = scan_plan_requests(labeled, by)
    names = planned.collect_schema().names()
    origin = pl.col("arrival_ts").min() if start is None else pl.lit(start)
    session = pl.col("session_id") if "session_id" in names else pl.lit(None, pl.String)
    return planned.filter(pl.col("arrival_ts").is_not_null()).select(
        pl.col("request_id").cast(pl.String),
        ((pl.col("arrival_ts") - origin).dt.total_microseconds() / 1e6).alias("arrival_s"),
        "class_id",
        pl.col("model_id").cast(pl.String),
        pl.col("plan_prefill_tokens").round().cast(pl.Int64).alias("prefill_tokens"),
        pl.col("plan_context_tokens").round().cast(pl.Int64).alias("context_tokens"),
        pl.col("plan_decode_tokens").round().cast(pl.Int64).alias("output_tokens"),
        session.cast(pl.String).alias("session_id"),
        pl.col("label_mode").cast(pl.String),
        route_unit(names),  # the ledger's route key, so both send a request the same way
    )


def busiest_hour(requests: pl.DataFrame, hour_s: float = 3600.0) -> tuple[float, float]:
    """``(start_s, end_s)`` of the ``hour_s`` window with the most prefill + output tokens,
    windows starting on an arrival (the whole span when it is shorter)."""
    if requests.height == 0:
        return 0.0, 0.0
    frame = requests.sort("arrival_s")
    t = frame["arrival_s"].to_numpy()
    if t[-1] - t[0] <= hour_s:
        return float(t[0]), float(t[-1])
    import numpy as np

    work = np.cumsum((frame["prefill_tokens"] + frame["output_tokens"]).to_numpy(), dtype=float)
    ends = np.searchsorted(t, t + hour_s, side="left") - 1
    total = work[ends] - np.concatenate([[0.0], work[:-1]])
    best = int(np.argmax(total))
    return float(t[best]), float(t[best] + hour_s)


# The most requests a report's or a plan's replay takes: the repair loop replays its window
# up to 8 times, and at ~55,000 requests per CPU-second (benchmarks/bench_simulate.py) this
# keeps the verify stage within a few seconds of a 20 s report of 10M requests.
MAX_REPLAY_REQUESTS = 20_000


def busiest_window(requests: pl.LazyFrame, hour_s: float = 3600.0,
                   max_requests: int = MAX_REPLAY_REQUESTS) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The requests to replay and what they are: the busiest hour (``busiest_hour``; the
    whole trace when shorter) unless it holds more than ``max_requests``, then the busiest
    window of ``hour_s × max_requests ÷ its requests`` seconds (at least 1 s). Only the
    arrival and token columns of the whole trace are read; the window's requests come back
    with ``arrival_s`` from the window's start. The dict: ``name``, ``start_s``, ``end_s``
    (seconds from the trace's first arrival), ``requests``, ``busiest_hour_requests``."""
    times = requests.select("arrival_s", "prefill_tokens", "output_tokens").collect()
    lo, hi = busiest_hour(times, hour_s)
    in_hour = times.filter((pl.col("arrival_s") >= lo) & (pl.col("arrival_s") <= hi)).height
    whole = hi - lo < hour_s
    name = "whole trace" if whole else "busiest hour"
    count, length = in_hour, (hi - lo if whole else hour_s)
    while count > max_requests and length > 1.0:  # bursts: the busiest short window is denser
        length = max(1.0, length * max_requests / count * 0.9)
        lo, hi = busiest_hour(times, length)
        hi = lo + length
        count = times.filter((pl.col("arrival_s") >= lo) & (pl.col("arrival_s") < hi)).height
        name = f"busiest {length:,.1f} s"
    del times
    upper = (pl.col("arrival_s") <= hi) if name == "whole trace" else (pl.col("arrival_s") < hi)
    window = requests.filter((pl.col("arrival_s") >= lo) & upper).with_columns(
        pl.col("arrival_s") - lo).collect()
    return window, {"name": name, "start_s": lo, "end_s": hi, "requests": window.height,
                    "busiest_hour_requests": in_hour}


def select_window(requests: pl.DataFrame, window: str = "all") -> pl.DataFrame:
    """The requests of ``window`` ("all", or "busiest-hour": see ``busiest_hour``), their
    ``arrival_s`` counted from the window's start."""
    if window == "all" or requests.height == 0:
        return requests
    lo, hi = busiest_hour(requests)
    return requests.filter((pl.col("arrival_s") >= lo) & (pl.col("arrival_s") < hi)).with_columns(
        pl.col("arrival_s") - lo)


def superpose(requests: pl.DataFrame, copies: int) -> pl.DataFrame:
    """``copies`` copies of ``requests`` overlaid on one window: copy k's arrivals shifted
    by k/copies of the span, wrapped around it (so the rate's shape over the window is
    kept and copies do not arrive together), its ``request_id`` and ``session_id``
    suffixed ``#k``. Sorted by arrival."""
    if copies < 1:
        msg = f"copies must be >= 1, not {copies}"
        raise ValueError(msg)
    lo, hi = requests["arrival_s"].min(), requests["arrival_s"].max()
    if lo is None or hi is None:
        return requests
    span = float(hi) - float(lo)  # type: ignore[arg-type]
    period = span if span > 0 else 1.0
    requests = requests.drop("route_u", strict=False)  # each copy is hashed by its new id
    parts = [
        requests.with_columns(
            ((pl.col("arrival_s") - lo + k * period / copies) % period + lo).alias("arrival_s"),
            pl.col("request_id") + f"#{k}",
            pl.col("session_id") + f"#{k}",
        )
        for k in range(copies)
    ]
    return pl.concat(parts).sort("arrival_s", "request_id")
