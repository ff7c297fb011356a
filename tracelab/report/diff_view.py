"""How a diff reads: sections of metric shifts and gate verdicts, and a JSON form."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tracelab.report import fmt
from tracelab.report.diff import Shift
from tracelab.report.gates import GateResult
from tracelab.report.sections import Para, Section, Table

TITLES = {
    "cost": "Cost",
    "fleet": "Recommended fleet (devices)",
    "tokens": "Requests and tokens",
    "labels": "Label mix (share of requests)",
    "cache": "Cache reuse",
    "arrivals": "Arrivals and burstiness",
}


def _value(shift: Shift, value: float | None) -> str:
    if shift.metric.is_share:
        return fmt.pct(value)
    if shift.metric.unit == "$":
        return fmt.usd(value)
    return fmt.num(value)


def _change(shift: Shift) -> str:
    if shift.change is None:
        return "—"
    if shift.metric.is_share:
        return f"{shift.change * 100:+.1f}pp"
    sign = "+" if shift.change >= 0 else "-"
    size = _value(shift, abs(shift.change))
    rel = shift.relative
    if rel is None or not math.isfinite(rel):
        return f"{sign}{size}"
    return f"{sign}{size} ({fmt.signed_pct(rel)})"


def diff_sections(shifts: Mapping[str, Sequence[Shift]],
                  gates: Sequence[GateResult] = ()) -> list[Section]:
    """One table per group (metric, base, current, change), then the gates' verdicts."""
    sections = []
    for group, rows in shifts.items():
        rows = [r for r in rows if r.base is not None or r.current is not None]
        if not rows:
            continue
        table = Table(
            ("metric", "base", "current", "change"),
            tuple((r.metric.name, _value(r, r.base), _value(r, r.current), _change(r))
                  for r in rows),
            (1, 2, 3),
        )
        sections.append(Section(TITLES.get(group, group), [table]))
    if gates:
        failed = sum(g.crossed for g in gates)
        verdict = (f"**{failed} of {len(gates)} gates failed.**" if failed
                   else f"All {len(gates)} gates passed.")
        sections.append(Section("Gates", [Para(verdict), *(Para(g.describe()) for g in gates)]))
    return sections


def diff_to_json(shifts: Mapping[str, Sequence[Shift]],
                 gates: Sequence[GateResult] = ()) -> dict[str, Any]:
    """Machine form: every metric's base, current, change and relative change; the gates."""
    return {
        "metrics": {
            r.metric.name: {
                "group": group,
                "base": r.base,
                "current": r.current,
                "change": r.change,
                "relative": r.relative if r.relative is None or math.isfinite(r.relative)
                else None,
                "is_share": r.metric.is_share,
            }
            for group, rows in shifts.items() for r in rows
        },
        "gates": [
            {"gate": g.gate.text, "kind": g.gate.kind, "observed": g.observed
             if math.isfinite(g.observed) else None, "crossed": g.crossed}
            for g in gates
        ],
        "failed": any(g.crossed for g in gates),
    }
