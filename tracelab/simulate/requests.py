"""The requests a replay takes, from a labelled frame: the plan's class id and token counts.

``prefill_tokens`` is what the plan charges (``tracelab.plan.demand.scan_plan_requests``):
input tokens less the log's cached tokens and the cache stage's simulated hits;
``context_tokens`` the whole prompt (it all sits in KV); ``output_tokens`` the decode tokens;
``arrival_s`` seconds from the first arrival (or ``start``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

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
    return _busiest(*_arrivals(requests), hour_s)


def _arrivals(requests: pl.DataFrame) -> tuple[Any, Any]:
    """Sorted arrival seconds and the running sum of their prefill + output tokens (whole
    numbers, exact below 2**53 tokens; an unknown count adds none)."""
    import numpy as np

    t = requests["arrival_s"].to_numpy()
    work = (requests["prefill_tokens"].fill_null(0)
            + requests["output_tokens"].fill_null(0)).to_numpy()
    # A log is usually in arrival order, or in a few runs of it (one per file or model):
    # checking is O(n), and numpy's stable sort (a merge of runs) is fast on runs (10M in
    # 5 runs: 0.04 s; shuffled: 2 s, where polars' would take 0.7 s).
    if not requests["arrival_s"].is_sorted():
        order = np.argsort(t, kind="stable")
        t, work = t[order], work[order]
    # The integer sum, then floats: numpy's cumsum into float64 converts element by element
    # (10M: 0.28 s against 0.06 s).
    return t, np.cumsum(work).astype(float)


# Bins per window length in ``_busiest``'s bound.
BINS_PER_WINDOW = 64


def _busiest(t: Any, cum: Any, length: float) -> tuple[float, float]:
    """``busiest_hour`` on ``_arrivals``' arrays (non-empty), for windows of ``length`` s.

    Not every window is measured. The arrivals are binned by ``length / BINS_PER_WINDOW``
    from the first. A window starting in bin b holds arrivals of bins b to b + BINS + 1 at
    most (b + BINS but for rounding), so its work is at most their sum; the window starting
    on the first arrival of bin b holds every arrival of bins b to b + BINS - 1, so the best
    is at least the most any BINS consecutive bins hold. Only windows starting in a bin
    whose bound reaches that are measured (the best among all, first on a tie, is among
    them). Should rounding put the best measured below it after all, every window is.
    10M arrivals, a 2.7 s window: 0.1 s, against 0.45 s measuring every window."""
    if t[-1] - t[0] <= length:
        return float(t[0]), float(t[-1])
    import numpy as np

    starts = None
    if (t[-1] - t[0]) * BINS_PER_WINDOW / length < len(t):  # fewer bins than arrivals
        bins = ((t - t[0]) // (length / BINS_PER_WINDOW)).astype(np.int64)
        # Work up to each bin's end: the running sum at its last arrival at or before it
        # (bins are sorted, and bin 0 holds the first arrival).
        last = np.searchsorted(bins, np.arange(int(bins[-1]) + 1), side="right") - 1
        upto = np.r_[0.0, cum[last]]
        n = len(upto) - 1
        ahead = np.arange(n)
        held = upto[np.minimum(ahead + BINS_PER_WINDOW, n)] - upto[ahead]
        reach = upto[np.minimum(ahead + BINS_PER_WINDOW + 2, n)] - upto[ahead]
        floor = float(held.max())
        starts = np.flatnonzero((reach >= floor)[bins])
        if 2 * len(starts) > len(t):  # gathering them costs more than measuring all
            starts = None
    best, most = _measure(t, cum, starts, length)
    if starts is not None and most < floor:  # rounding broke the bound: measure every window
        best, most = _measure(t, cum, None, length)
    return float(t[best]), float(t[best] + length)


def _measure(t: Any, cum: Any, starts: Any, length: float) -> tuple[int, float]:
    """(index, work) of the ``length`` s window with the most work among those starting on
    the arrivals at ``starts`` (None: every arrival); the first on a tie. ``t``, ``cum``:
    ``_arrivals``' sorted arrivals and running sum of work."""
    import numpy as np

    at = np.arange(len(t)) if starts is None else starts
    ends = np.searchsorted(t, t[at] + length, side="left") - 1
    before = np.where(at > 0, cum[np.maximum(at - 1, 0)], 0.0)
    total = cum[ends] - before
    pick = int(np.argmax(total))
    return int(at[pick]), float(total[pick])


# The most requests a report's or a plan's replay takes: the repair loop replays its window
# up to 8 times, and at ~55,000 requests per CPU-second (benchmarks/bench_simulate.py) this
# keeps the verify stage within a few seconds of a 20 s report of 10M requests.
MAX_REPLAY_REQUESTS = 20_000
# The most requests a busiest hour may hold for the repaired fleet to be replayed over all
# of it once, when the repair replayed a shorter window of it (~4 s at 200,000 requests:
# ``tracelab.plan.repair.replay_hour``).
HOUR_CHECK_REQUESTS = 200_000


def _window(times: pl.DataFrame, hour_s: float, max_requests: int) -> dict[str, Any]:
    """``busiest_window``'s choice from the arrival and token columns of every request:
    ``name``, ``start_s``, ``end_s``, ``busiest_hour_requests``. The arrivals are sorted
    once for every window length tried."""
    import numpy as np

    if times.height == 0:
        return {"name": "whole trace", "start_s": 0.0, "end_s": 0.0, "busiest_hour_requests": 0}
    t, work = _arrivals(times)

    def count(lo: float, hi: float, side: Literal["left", "right"]) -> int:
        return int(np.searchsorted(t, hi, side=side) - np.searchsorted(t, lo, side="left"))

    lo, hi = _busiest(t, work, hour_s)
    in_hour = count(lo, hi, "right")
    whole = hi - lo < hour_s
    name = "whole trace" if whole else "busiest hour"
    number, length = in_hour, (hi - lo if whole else hour_s)
    while number > max_requests and length > 1.0:  # bursts: the busiest short window is denser
        length = max(1.0, length * max_requests / number * 0.9)
        lo, hi = _busiest(t, work, length)
        hi = lo + length
        number = count(lo, hi, "left")
        name = f"busiest {length:,.1f} s"
    if number > max_requests:  # more than max_requests within 1 s: the first of them
        name = f"the first {max_requests:,} of the {number:,} requests of the busiest {length:,.1f} s"
    return {"name": name, "start_s": lo, "end_s": hi, "busiest_hour_requests": in_hour}


def _cut(window: pl.LazyFrame, about: dict[str, Any], max_requests: int) -> pl.DataFrame:
    """The window's requests, from its start; when more than ``max_requests`` arrive within
    its 1 s (``_window`` names it "the first ..."), the first ``max_requests`` by arrival
    (input order among equal arrivals): a synthetic day put 57,289 requests at one instant."""
    window = window.with_columns(pl.col("arrival_s") - about["start_s"])
    if about["name"].startswith("the first "):
        window = window.sort("arrival_s", maintain_order=True).head(max_requests)
    return window.collect()


def _in_window(about: dict[str, Any]) -> pl.Expr:
    lo, hi = about["start_s"], about["end_s"]
    upper = (pl.col("arrival_s") <= hi) if about["name"] == "whole trace" \
        else (pl.col("arrival_s") < hi)
    return (pl.col("arrival_s") >= lo) & upper


def busiest_window(requests: pl.LazyFrame, hour_s: float = 3600.0,
                   max_requests: int = MAX_REPLAY_REQUESTS) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The requests to replay and what they are: the busiest hour (``busiest_hour``; the
    whole trace when shorter) unless it holds more than ``max_requests``, then the busiest
    window of ``hour_s × max_requests ÷ its requests`` seconds (at least 1 s). Only the
    arrival and token columns of the whole trace are read; the window's requests come back
    with ``arrival_s`` from the window's start. The dict: ``name``, ``start_s``, ``end_s``
    (seconds from the trace's first arrival), ``requests``, ``busiest_hour_requests``.
    ``busiest_labeled_window`` does the same from a labelled frame, reading only the
    window's rows the second time."""
    about = _window(requests.select("arrival_s", "prefill_tokens", "output_tokens").collect(),
                    hour_s, max_requests)
    window = _cut(requests.filter(_in_window(about)), about, max_requests)
    return window, {**about, "requests": window.height}


# Margin of the arrival-time prefilter around a window (float seconds vs. whole microseconds).
PREFILTER_MARGIN = timedelta(milliseconds=1)


def busiest_labeled_window(labeled: pl.LazyFrame, by: str = "labels", hour_s: float = 3600.0,
                           max_requests: int = MAX_REPLAY_REQUESTS
                           ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``busiest_window(scan_replay_requests(labeled, by), ...)``, the same rows in the same
    order, but the window's requests are made from the labelled rows whose ``arrival_ts``
    falls in the window (± ``PREFILTER_MARGIN``; then the exact test on ``arrival_s``), not
    from every row again: at 10M requests that second pass (row keys, strings) cost ~7 CPU-s
    for a window of at most ``max_requests``."""
    requests = scan_replay_requests(labeled, by)
    stamp = labeled.collect_schema()["arrival_ts"]
    if not isinstance(stamp, pl.Datetime) or stamp.time_unit == "ns":  # not exact in Python
        return busiest_window(requests, hour_s, max_requests)
    origin = labeled.select(pl.col("arrival_ts").min()).collect().item()
    if origin is None:
        return busiest_window(requests, hour_s, max_requests)
    about = _window(requests.select("arrival_s", "prefill_tokens", "output_tokens").collect(),
                    hour_s, max_requests)
    lo = origin + timedelta(seconds=about["start_s"]) - PREFILTER_MARGIN
    hi = origin + timedelta(seconds=about["end_s"]) + PREFILTER_MARGIN
    narrowed = labeled.filter(pl.col("arrival_ts").is_between(lo, hi))
    window = _cut(scan_replay_requests(narrowed, by, start=origin).filter(_in_window(about)),
                  about, max_requests)
    return window, {**about, "requests": window.height}


def select_window(requests: pl.DataFrame, window: str = "all",
                  hour_s: float = 3600.0) -> pl.DataFrame:
    """The requests of ``window`` ("all", or "busiest-hour": see ``busiest_hour``), their
    ``arrival_s`` counted from the window's start."""
    if window == "all" or requests.height == 0:
        return requests
    lo, hi = busiest_hour(requests, hour_s)
    # A span shorter than the hour is the whole trace: its last arrival is in it.
    whole = hi - lo < hour_s
    about = {"name": "whole trace" if whole else "busiest hour", "start_s": lo, "end_s": hi}
    return requests.filter(_in_window(about)).with_columns(pl.col("arrival_s") - lo)


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
