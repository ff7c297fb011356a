"""Label thresholds: the documented defaults in ``tracelab/data/labels.toml``, overridable.

A user file (``--config``) gives any subset of the defaults' tables and keys; it is checked
against ``schemas/labels-config.schema.json`` (unknown key, wrong type) and for order
(decode-heavy bound below prefill-heavy bound; short < medium < long), and every problem is
a one-line ``ConfigError`` naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from tracelab.datafile import read_toml, read_validated_toml
from tracelab.errors import ConfigError
from tracelab.resources import data_path


@dataclass(frozen=True)
class LabelConfig:
    """Thresholds of the label rules (units in the names; see labels.toml for rationale)."""

    prefill_heavy_min_share: float = 0.75
    decode_heavy_max_share: float = 0.25
    short_max_tokens: int = 2048
    medium_max_tokens: int = 8192
    long_max_tokens: int = 32768
    human_think_min_s: float = 1.0
    human_think_max_s: float = 1800.0
    batch_co_submitted_min: int = 8
    human_session_min_gaps: int = 1
    agentic_min_gaps: int = 2
    agentic_growing_min_share: float = 0.8
    batch_submission_min: int = 8
    batch_co_submitted_weak_min: int = 4
    off_hours_start_utc: int = 0
    off_hours_end_utc: int = 6
    small_max_active_params_b: float = 8.5
    edge_memory_usable_share: float = 0.8
    window_s: float = 60.0
    source: str = "<defaults>"


_ORDERED = (
    ("phase", "decode_heavy_max_share", "prefill_heavy_min_share"),
    ("context", "short_max_tokens", "medium_max_tokens"),
    ("context", "medium_max_tokens", "long_max_tokens"),
    ("mode", "human_think_min_s", "human_think_max_s"),
    ("mode", "batch_co_submitted_weak_min", "batch_co_submitted_min"),
    ("mode", "off_hours_start_utc", "off_hours_end_utc"),
)


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for table in data.values() for key, value in table.items()}


def load_label_config(path: Path | None = None) -> LabelConfig:
    """The default thresholds, with the tables/keys of ``path`` (TOML) overriding them."""
    defaults = read_toml(data_path("labels.toml"))
    merged = {table: dict(values) for table, values in defaults.items()}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        user = read_validated_toml(Path(path), "labels-config.schema.json")
        for table, values in user.items():
            merged.setdefault(table, {}).update(values)
    for table, low, high in _ORDERED:
        if not merged[table][low] < merged[table][high]:
            msg = (
                f"{source}: {table}.{low} = {merged[table][low]} must be below "
                f"{table}.{high} = {merged[table][high]}; put the thresholds in order"
            )
            raise ConfigError(msg, param="config")
    flat = _flatten(merged)
    known = {f.name for f in fields(LabelConfig)}
    return LabelConfig(**{k: v for k, v in flat.items() if k in known}, source=source)
