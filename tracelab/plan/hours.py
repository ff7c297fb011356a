"""The trace's hours: the token profile the schedule and the commitments both read, and what
a pool's replicas cost hour by hour under a commitment.

- ``hourly_tokens``: per model and window (``(second + offset) // window``), the prefill and
  decode tokens its rows bring. The schedule (``tracelab.plan.schedule.daily_shape``) folds
  these windows onto the day; the commitments (``tracelab.plan.commit.hour_levels``) read
  them as hours of the span. One function, so the two cannot disagree about the same trace.
- ``cheapest_base``: the MILP's commitment rule (``tracelab.plan.commit``) on whole
  replicas: a pool that needs ``n_b`` replicas in a share ``w_b`` of the hours buys ``r``
  reserved replicas, paid every hour, and ``max(n_b − r, 0)`` burst ones by the hour; ``r``
  is the cheapest. A reserved replica pays for itself when the hours that need it are more
  than the ratio of the reserved to the burst price.
- ``PoolHours.price``: that rule for a pool of any size, its hours keeping the shape the MILP
  planned (an hour at level f of the busiest needs f of the replicas, rounded up): how the
  replay's repair prices the replicas it adds or removes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

# A level × replicas this close under an integer is that integer (float noise, not demand).
_ROUND_TOL = 1e-9


def hourly_tokens(frame: pl.DataFrame | pl.LazyFrame, second: pl.Expr, prefill: str,
                  decode: str, window_s: float, offset_s: float = 0.0) -> pl.LazyFrame:
    """Per ``model_id`` and ``window`` (``(second + offset_s) // window_s``, an Int64), the
    sums of the ``prefill`` and ``decode`` token columns as Float64 columns ``prefill`` and
    ``decode``. ``second``: each row's time in seconds (from the trace's first arrival);
    ``offset_s``: where that time starts (seconds after a midnight UTC, or 0)."""
    window = ((second + offset_s) // window_s).cast(pl.Int64).alias("window")
    return (frame.lazy().group_by("model_id", window)
            .agg(pl.col(prefill).sum().cast(pl.Float64).alias("prefill"),
                 pl.col(decode).sum().cast(pl.Float64).alias("decode")))


def cheapest_base(needs: Sequence[int], weights: Sequence[float], reserved_usd: float | None,
                  burst_usd: float) -> tuple[int, float]:
    """(reserved replicas, $/h averaged over the hours) of a pool needing ``needs[b]``
    replicas in a share ``weights[b]`` of the hours (summing to 1): ``r`` reserved at
    ``reserved_usd`` per replica-hour every hour plus ``max(needs[b] − r, 0)`` burst at
    ``burst_usd`` in each share, the cheapest ``r`` (the fewest on a tie). ``reserved_usd``
    None: no reserved price, every replica bursts."""
    top = max(needs, default=0)
    options = range(top + 1) if reserved_usd is not None else range(1)
    best: tuple[int, float] | None = None
    for r in options:
        usd = math.fsum([r * (reserved_usd or 0.0),
                         *[max(n - r, 0) * burst_usd * w for n, w in zip(needs, weights,
                                                                          strict=True)]])
        if best is None or usd < best[1] - 1e-12:
            best = (r, usd)
    assert best is not None
    return best


@dataclass(frozen=True)
class PoolHours:
    """A committed pool's hours as the MILP planned them: per bin of hours its demand as a
    share of its busiest bin's (``levels``) and the bin's share of the span (``weights``);
    one replica-hour's reserved price (None: none published) and burst price (on demand, or
    spot), USD."""

    levels: tuple[float, ...]
    weights: tuple[float, ...]
    reserved_usd: float | None
    burst_usd: float

    def needs(self, replicas: int) -> list[int]:
        """Replicas each bin needs when the busiest needs ``replicas``."""
        return [math.ceil(f * replicas - _ROUND_TOL) for f in self.levels]

    def price(self, replicas: int) -> tuple[int, float]:
        """(reserved replicas, $/h averaged over the span) of the pool at ``replicas``."""
        return cheapest_base(self.needs(replicas), self.weights, self.reserved_usd,
                             self.burst_usd)


__all__ = ["PoolHours", "cheapest_base", "hourly_tokens"]
