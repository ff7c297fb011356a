"""Service-level objectives per request mode, from ``tracelab/data/slo.toml`` plus overrides.

Units: seconds throughout. A value of 0 means "no target". The defaults and their sources
live in the TOML file, next to the numbers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from tracelab.errors import ConfigError
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
        """TTFT allowed for a prompt of ``context_tokens`` tokens, or None without a target."""
        if self.ttft_s <= 0 and self.ttft_s_per_ktoken <= 0:
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse_table(mode: str, table: Any, source: Path) -> Slo:
    if not isinstance(table, dict):
        msg = f"{source}: [{mode}] must be a table of {', '.join(SLO_FIELDS)}"
        raise ConfigError(msg)
    values: dict[str, float] = {}
    for key, value in table.items():
        if key == "source":
            continue
        if key not in SLO_FIELDS:
            msg = f"{source}: [{mode}] has unknown field {key!r}; use one of {', '.join(SLO_FIELDS)}"
            raise ConfigError(msg)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            msg = f"{source}: [{mode}] {key} = {value!r} must be a number >= 0 (seconds)"
            raise ConfigError(msg)
        values[key] = float(value)
    return Slo(mode=mode, source=str(table.get("source", "")), **values)


def _apply_override(slos: dict[str, Slo], item: str) -> None:
    key, sep, raw = item.partition("=")
    mode, dot, field = key.strip().partition(".")
    if not sep or not dot:
        msg = f"--slo {item!r}: expected MODE.FIELD=SECONDS, e.g. --slo interactive.tpot_s=0.02"
        raise ConfigError(msg)
    if field not in SLO_FIELDS:
        msg = f"--slo {item!r}: unknown field {field!r}; use one of {', '.join(SLO_FIELDS)}"
        raise ConfigError(msg)
    try:
        value = float(raw)
    except ValueError:
        msg = f"--slo {item!r}: {raw!r} is not a number of seconds"
        raise ConfigError(msg) from None
    if value < 0:
        msg = f"--slo {item!r}: a target must be >= 0 seconds (0 = no target)"
        raise ConfigError(msg)
    base = slos.get(mode, Slo(mode=mode))
    changes: dict[str, object] = {field: value, "source": f"--slo {item.strip()}"}
    slos[mode] = replace(base, **changes)  # type: ignore[arg-type]


def load_slos(path: str | Path | None = None, overrides: Sequence[str] = ()) -> dict[str, Slo]:
    """Read SLOs per mode from ``path`` (default: the bundled ``slo.toml``), then apply
    ``overrides`` of the form ``MODE.FIELD=SECONDS``."""
    source = Path(path) if path is not None else data_path("slo.toml")
    try:
        with source.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        msg = f"{source}: cannot read SLO file ({exc.strerror}); check the path"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"{source}: not valid TOML ({exc}); fix the file"
        raise ConfigError(msg) from None
    slos = {mode: _parse_table(mode, table, source) for mode, table in raw.items()}
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
