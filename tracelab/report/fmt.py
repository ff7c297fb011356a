"""Number formatting shared by the terminal, Markdown and HTML reports (one style everywhere)."""

from __future__ import annotations

import math
from typing import Any


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def num(value: float | None, digits: int = 3) -> str:
    """A count or quantity for people: 1,234 / 1.23M / 0.0123; '—' when unknown."""
    if _missing(value):
        return "—"
    assert value is not None
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.{digits}g}B"
    if magnitude >= 1e6:
        return f"{value / 1e6:.{digits}g}M"
    if float(value).is_integer() and magnitude < 1e6:
        return f"{int(value):,}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def pct(share: float | None, digits: int = 1) -> str:
    """A share (0..1) as a percentage: 0.4123 → '41.2%'."""
    if _missing(share):
        return "—"
    assert share is not None
    return f"{share * 100:.{digits}f}%"


def usd(value: float | None) -> str:
    """Dollars with sensible precision: $1,234 / $12.34 / $0.30 / $0.0123."""
    if _missing(value):
        return "—"
    assert value is not None
    if abs(value) >= 100:
        return f"${value:,.0f}"
    if abs(value) >= 0.1 or value == 0:
        return f"${value:,.2f}"
    return f"${value:.3g}"


def signed_pct(change: float | None, digits: int = 1) -> str:
    """A relative change: 0.1 → '+10.0%'."""
    if _missing(change):
        return "—"
    assert change is not None
    return f"{change * 100:+.{digits}f}%"


def seconds(value: float | None) -> str:
    """A duration: 0.0123 → '12.3 ms', 95 → '1.6 min', 7200 → '2.0 h'."""
    if _missing(value):
        return "—"
    assert value is not None
    if value < 1:
        return f"{value * 1000:.3g} ms"
    if value < 120:
        return f"{value:.3g} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def infeasible_note(replay: Any) -> str:
    """A sentence (leading space) on the requests a replay summary left out of its
    attainment as infeasible by their SLO (``tracelab.plan.feasible``), else ""."""
    found = replay.get("infeasible_by_slo") if hasattr(replay, "get") else None
    if not found or not found.get("requests"):
        return ""
    return f" Infeasible by their SLO: {found['why']}."


def replayed_requests(replay: Any) -> str:
    """How many requests of the window were replayed: "5,000 requests", or "5,000 requests,
    2,211 of them on the pools" when the rest went per token (not replayed)."""
    window = replay["window"]["requests"]
    pooled = replay.get("requests", window)
    if pooled >= window:
        return f"{num(window)} requests"
    return f"{num(window)} requests, {num(pooled)} of them on the pools; the rest per token"


def hour_note(replay: Any) -> str:
    """A sentence (leading space) on the repaired fleet replayed once over the whole
    busiest hour its window was cut from (``tracelab.plan.repair.replay_hour``), else ""."""
    hour = replay.get("hour") if hasattr(replay, "get") else None
    if not hour:
        return ""
    verdict = "meets" if hour["attainment_target_met"] else "misses"
    return (f" Over the whole busiest hour ({num(hour['requests'])} requests, replayed once) the "
            f"fleet attains {pct(hour['attained'], 2)}: it {verdict} the target.")


def per_token_note(alternatives: Any) -> str:
    """A sentence on the models whose pools cost more than their tokens would at a
    per-token provider the plan was not given (``Plan.per_token_alternatives``), else ""."""
    if not alternatives:
        return ""
    parts = [f"{a['model_id']}'s {num(a['requests'])} requests would cost {usd(a['usd_per_hour'])}"
             f"/h at {' and '.join(a['providers'])} against its pools' "
             f"{usd(a['pools_usd_per_hour'])}/h" for a in alternatives]
    saving = sum(a["saving_usd_per_hour"] for a in alternatives)
    return (f"Cheaper per token: at the bundled providers' list prices, {'; '.join(parts)} "
            f"({usd(saving)}/h less, not replayed: the providers' published latency is taken "
            "as met). Planning with the bundled providers weighs them route by route.")
