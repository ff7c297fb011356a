"""Reading a plan folder for a replay: the fleet, the class grouping and the SLOs it used."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tracelab.errors import ConfigError
from tracelab.plan.slo import Slo
from tracelab.simulate.fleet import Fleet


@dataclass(frozen=True)
class PlanFile:
    """What a replay needs from plan.json: ``fleet``, ``by`` (the class grouping) and the
    ``slos`` the plan was made for (empty when the file has none)."""

    path: Path
    fleet: Fleet
    by: str
    slos: dict[str, Slo]
    data: dict[str, Any]


def read_plan(path: Path) -> PlanFile:
    """``path`` is a plan folder (``tracelab plan -o DIR``) or its plan.json."""
    file = path / "plan.json" if path.is_dir() else path
    try:
        text = file.read_text()
    except OSError as exc:
        msg = f"{file}: cannot read the plan ({exc.strerror}); write one with tracelab plan -o DIR"
        raise ConfigError(msg) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{file}: not valid JSON (line {exc.lineno}: {exc.msg}); write it again with "
        msg += "tracelab plan -o DIR"
        raise ConfigError(msg) from None
    if not isinstance(data, dict):
        msg = f"{file}: not a tracelab plan.json (the top level is not an object)"
        raise ConfigError(msg)
    fleet = Fleet.from_plan_json(data, source=str(file))
    settings = data.get("settings")
    by = str((settings.get("by") if isinstance(settings, dict) else None) or "labels")
    return PlanFile(file, fleet, by, _slos(data.get("slos"), file), data)


def _slos(raw: object, file: Path) -> dict[str, Slo]:
    if raw is None:
        return {}
    names = {f.name for f in fields(Slo)}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        msg = f"{file} field 'slos': must map each mode to its targets"
        raise ConfigError(msg)
    out = {}
    for mode, table in raw.items():
        try:
            out[mode] = Slo(**{k: v for k, v in table.items() if k in names} | {"mode": mode})
        except TypeError as exc:
            msg = f"{file} field 'slos.{mode}': {exc}"
            raise ConfigError(msg) from None
    return out
