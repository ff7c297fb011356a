"""Service-level objectives per request mode, from ``tracelab/data/slo.toml`` plus overrides.

Units: seconds throughout. A value of 0 means "no target". The defaults and their sources
live in the TOML file, next to the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tracelab.datafile import read_validated_toml
from tracelab.errors import ParamError
from tracelab.resources import data_path

SLO_FIELDS = ("ttft_s", "ttft_s_per_ktoken", "tpot_s", "deadline_s")


@dataclass(frozen=True)
class Slo:
    """Latency targets for one request mode (seconds; 0 = no target)."""

    mode: str
    ttft_s: float = 0.0
    ttft_s_per_ktoken: float = 0.0
    tpot_s: float = 0.0
    deadline_s: float = 0.0
    source: str = ""

    def ttft_budget_s(self, context_tokens: float) -> float | None:
        """TTFT allowed for a prompt of ``context_tokens`` tokens, or None without a target
        (``ttft_s`` 0: the per-1,000-token allowance grows a target, it is not one)."""
        if self.ttft_s <= 0:
            return None
        return self.ttft_s + self.ttft_s_per_ktoken * context_tokens / 1000.0

    def tpot_budget_s(self) -> float | None:
        """TPOT allowed, or None without a target."""
        return self.tpot_s if self.tpot_s > 0 else None

    def describe(self) -> str:
        """Short words for a ledger reason, e.g. ``TTFT 2 s, TPOT 40 ms``."""
        parts = []
        if self.ttft_s > 0:
            parts.append(f"TTFT {self.ttft_s:g} s")
        if self.tpot_s > 0:
            parts.append(f"TPOT {self.tpot_s * 1000:g} ms")
        if self.deadline_s > 0:
            parts.append(f"deadline {self.deadline_s / 3600:g} h")
        return ", ".join(parts) or "no latency target"

    def to_dict(self) -> dict[str, str | float]:
        """The fields by name: ``mode`` and ``source`` text, the targets in seconds."""
        return asdict(self)


def _parse_table(mode: str, table: dict[str, Any]) -> Slo:
    values = {key: float(value) for key, value in table.items() if key in SLO_FIELDS}
    return Slo(mode=mode, source=str(table.get("source", "")), **values)


def _apply_override(slos: dict[str, Slo], item: str) -> None:
    key, sep, raw = item.partition("=")
    mode, dot, field = key.strip().partition(".")
    reason = None
    if not sep or not dot:
        reason = "expected MODE.FIELD=SECONDS, e.g. interactive.tpot_s=0.02"
    elif mode not in slos:
        reason = f"unknown mode {mode!r}; use one of {', '.join(sorted(slos))}"
    elif field not in SLO_FIELDS:
        reason = f"unknown field {field!r}; use one of {', '.join(SLO_FIELDS)}"
    if reason is not None:
        raise ParamError(param="slos", value=item, reason=reason)
    try:
        value = float(raw)
    except ValueError:
        reason = f"{raw!r} is not a number of seconds"
        raise ParamError(param="slos", value=item, reason=reason) from None
    if not value >= 0 or value == float("inf"):
        reason = "a target must be a finite number >= 0 seconds (0 = no target)"
        raise ParamError(param="slos", value=item, reason=reason)
    changes: dict[str, object] = {field: value, "source": f"override {item.strip()}"}
    slos[mode] = replace(slos[mode], **changes)  # type: ignore[arg-type]


def load_slos(path: str | Path | None = None, overrides: Sequence[str] = ()) -> dict[str, Slo]:
    """Read SLOs per mode from ``path`` (default: the bundled ``slo.toml``), then apply
    ``overrides`` of the form ``MODE.FIELD=SECONDS`` (``ParamError`` naming the override
    when its mode is not a table of the file, its field unknown or its value not seconds)."""
    source = Path(path) if path is not None else data_path("slo.toml")
    raw = read_validated_toml(source, "slo.schema.json")
    slos = {mode: _parse_table(mode, table) for mode, table in raw.items()}
    for item in overrides:
        _apply_override(slos, item)
    return slos


def slo_for(slos: dict[str, Slo], mode: str | None) -> Slo:
    """The SLO for ``mode``; unknown or missing modes fall back to ``unknown`` then
    ``interactive`` (the safe side)."""
    for key in (mode, "unknown", "interactive"):
        if key is not None and key in slos:
            return slos[key]
    return Slo(mode=mode or "unknown")
