"""Performance-model efficiencies and overheads (a "profile"), with per-tier/device overrides.

Data: ``tracelab/data/profile.toml`` holds the defaults fitted to the H100 calibration rows
(provenance in its ``[provenance]`` table), validated against ``schemas/profile.schema.json``.
A user's profile (``--profile FILE``, e.g. written by ``tracelab calibrate``) overrides it.
Efficiencies are fractions of datasheet peaks; times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from tracelab.datafile import read_validated_toml
from tracelab.resources import data_path

PROFILE_FILE = "profile.toml"
# Sequences one replica runs at once: vLLM's max_num_seqs default (recalled). The planner
# sizes decode at most this batch and the replay's engine admits at most this many
# (``tracelab.simulate.SimOptions.max_num_seqs``), so the fluid plan and its replay agree;
# at 1,024 the plan gave a 3B model on 192 GB parts a quarter of the replicas it needed.
MAX_NUM_SEQS = 256
PROFILE_SCHEMA = "profile.schema.json"


@dataclass(frozen=True)
class Efficiency:
    """The terms the roofline adds to the datasheet: efficiencies and fixed overheads."""

    mfu: float = 0.64  # achieved / datasheet dense peak FLOP/s
    mbu: float = 0.78  # achieved / datasheet peak memory bandwidth
    t_layer_prefill_s: float = 3.6e-5  # per layer per prefill forward
    t_layer_decode_s: float = 2.3e-5  # per layer per decode step
    t_step_s: float = 0.0  # per forward (sampling, scheduling)
    t_hop_s: float = 0.0  # per extra pipeline stage (SRAM parts)
    allreduce_latency_s: float = 8e-6  # per all-reduce in a tensor-parallel group
    link_eff: float = 0.7  # achieved / scale_up_gbs in an all-reduce
    mem_usable_frac: float = 0.9  # memory left for weights + KV after runtime/activations
    weights_max_frac: float = 0.8  # weights may take at most this share when sizing a replica
    max_batch: int = MAX_NUM_SEQS  # largest decode batch considered
    prefill_max_tokens: int = 8192  # largest prompt batch (tokens) per prefill forward


EFFICIENCY_FIELDS = tuple(f.name for f in fields(Efficiency))


@dataclass(frozen=True)
class PerfProfile:
    """Defaults plus partial overrides per tier and per device, and where they came from."""

    defaults: Efficiency = field(default_factory=Efficiency)
    tiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def for_device(self, device_id: str, tier: str) -> Efficiency:
        """Defaults, then the tier's overrides, then the device's."""
        eff = replace(self.defaults, **self.tiers.get(tier, {}))
        return replace(eff, **self.devices.get(device_id, {}))

    def with_defaults(self, **values: Any) -> PerfProfile:
        return replace(self, defaults=replace(self.defaults, **values))


def _from_data(data: dict[str, Any], base: PerfProfile | None, source: str) -> PerfProfile:
    base = base or PerfProfile()
    tiers = {k: dict(v) for k, v in base.tiers.items()}
    for tier, values in data.get("tiers", {}).items():
        tiers[tier] = {**tiers.get(tier, {}), **values}
    devices = {k: dict(v) for k, v in base.devices.items()}
    for device_id, values in data.get("devices", {}).items():
        devices[device_id] = {**devices.get(device_id, {}), **values}
    provenance = data.get("provenance", base.provenance)
    return PerfProfile(
        defaults=replace(base.defaults, **data.get("defaults", {})),
        tiers=tiers,
        devices=devices,
        provenance=dict(provenance),
        source=source,
    )


@cache
def _read(path: Path) -> dict[str, Any]:
    return read_validated_toml(path, PROFILE_SCHEMA)


def load_profile(path: Path | None = None) -> PerfProfile:
    """The packaged profile, overridden by a user's profile TOML at ``path``."""
    package = data_path(PROFILE_FILE)
    profile = _from_data(_read(package), None, str(package))
    if path is not None:
        profile = _from_data(_read(Path(path)), profile, str(path))
    return profile


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def dump_profile(profile: PerfProfile) -> str:
    """TOML text for ``profile`` (the format ``load_profile`` reads)."""
    lines = [
        "# tracelab performance profile (see schemas/profile.schema.json)",
        "schema_version = 1",
        "",
    ]
    lines.append("[provenance]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in profile.provenance.items()]
    lines += ["", "[defaults]"]
    lines += [f"{k} = {_toml_value(getattr(profile.defaults, k))}" for k in EFFICIENCY_FIELDS]
    for table, entries in (("tiers", profile.tiers), ("devices", profile.devices)):
        for key, values in entries.items():
            lines += ["", f'[{table}."{key}"]']
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"
