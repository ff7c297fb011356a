"""CI gates for ``tracelab diff --fail-on``: parse ``METRIC OP THRESHOLD`` and test it.

Grammar (spaces optional)::

    usd_per_mtok>+10%          relative change above +10%
    usd_per_mtok<-10%          relative change below -10%
    share(interactive)>+5pp    share moved up by more than 5 percentage points
    requests<-1000             absolute change (metric units) below -1000
    usd_per_mtok>2.5           current value above 2.5 (no sign: a level, not a change)
    share(batch)>=30%          current share at or above 30% (shares only)

Operators: ``>``, ``>=``, ``<``, ``<=``. A gate is *crossed* when the comparison is true.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from tracelab.errors import ConfigError
from tracelab.report.diff import Metric, Shift, resolve_metric
from tracelab.report.summary_types import Summary

_GATE = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][\w]*(?:\([^()]*\))?)\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<sign>[+-])?\s*(?P<num>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>%|pp)?\s*$"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}
KINDS = ("relative", "points", "absolute", "level")


@dataclass(frozen=True)
class Gate:
    """A parsed gate: what to measure (kind) on which metric, compared how with what."""

    text: str
    metric: Metric
    op: str
    threshold: float  # relative: fraction; points: pp; absolute/level: metric units (or share)
    kind: str  # relative | points | absolute | level


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    shift: Shift
    observed: float
    crossed: bool

    def describe(self) -> str:
        """One line: the gate, what was observed, and whether it was crossed."""
        g = self.gate
        shown = {
            "relative": f"{self.observed * 100:+.2f}%",
            "points": f"{self.observed:+.2f}pp",
            "absolute": f"{self.observed:+.6g}",
            "level": f"{self.observed:.6g}",
        }[g.kind] if math.isfinite(self.observed) else f"{self.observed}"
        verdict = "FAILED" if self.crossed else "ok"
        return f"{verdict}: {g.text} (observed {shown})"


def parse_gate(text: str, *summaries: Summary) -> Gate:
    """Parse one ``--fail-on`` value; ConfigError with the grammar when it does not parse."""
    match = _GATE.match(text)
    if match is None:
        msg = (
            f"cannot parse gate {text!r}; write METRIC OP THRESHOLD, e.g. "
            "'usd_per_mtok>+10%', 'share(interactive)>+5pp' or 'usd_per_mtok>2.5'"
        )
        raise ConfigError(msg)
    metric = resolve_metric(match["metric"], *summaries)
    sign, unit = match["sign"], match["unit"]
    number = float(match["num"]) * (-1 if sign == "-" else 1)
    if unit == "pp":
        if not sign:
            msg = f"gate {text!r}: 'pp' is a change in points; write a sign, e.g. '>+5pp'"
            raise ConfigError(msg)
        if not metric.is_share:
            msg = f"gate {text!r}: {metric.name} is not a share; use a % change, e.g. '>+10%'"
            raise ConfigError(msg)
        return Gate(text, metric, match["op"], number, "points")
    if sign and unit == "%":
        return Gate(text, metric, match["op"], number / 100, "relative")
    if sign:
        return Gate(text, metric, match["op"], number, "absolute")
    if unit == "%":
        if not metric.is_share:
            msg = (f"gate {text!r}: {metric.name} is not a share; a % needs a sign "
                   "(a change, e.g. '>+10%')")
            raise ConfigError(msg)
        return Gate(text, metric, match["op"], number / 100, "level")
    return Gate(text, metric, match["op"], number, "level")


def evaluate_gate(gate: Gate, base: Summary, current: Summary) -> GateResult:
    """Measure the gate's metric on both summaries and compare; ConfigError if it is missing."""
    shift = Shift(gate.metric, gate.metric.read(base), gate.metric.read(current))
    for side, value in (("BASE", shift.base), ("CURRENT", shift.current)):
        if value is None and (gate.kind != "level" or side == "CURRENT"):
            msg = (
                f"gate {gate.text!r}: {gate.metric.name} is not in {side} "
                "(no plan or no cache section in that summary); drop the gate or fix the input"
            )
            raise ConfigError(msg)
    observed: float
    if gate.kind == "relative":
        observed = shift.relative  # type: ignore[assignment]
    elif gate.kind == "points":
        observed = shift.change * 100  # type: ignore[operator]
    elif gate.kind == "absolute":
        observed = shift.change  # type: ignore[assignment]
    else:
        observed = shift.current  # type: ignore[assignment]
    crossed = _OPS[gate.op](observed, gate.threshold)
    return GateResult(gate, shift, observed, crossed)


def evaluate_gates(texts: list[str], base: Summary,
                   current: Summary) -> list[GateResult]:
    """Parse every gate first (so a bad one fails before any is evaluated), then test each."""
    gates = [parse_gate(t, base, current) for t in texts]
    return [evaluate_gate(g, base, current) for g in gates]
