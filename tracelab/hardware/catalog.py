"""The hardware catalog: devices with sourced specs and prices, plus users' overrides.

Data: ``tracelab/data/catalog.toml`` (every figure with its source and date, estimates
flagged), validated against ``schemas/catalog.schema.json``. A user's ``--catalog FILE``
adds devices or overrides fields of existing ones; ``--price ID=USD`` overrides a price.
Units: dense TFLOP/s, decimal GB, TB/s, per-direction GB/s, USD per device-hour.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tracelab.datafile import read_validated_toml
from tracelab.errors import ConfigError, ParamError
from tracelab.resources import data_path

CATALOG_FILE = "catalog.toml"
CATALOG_SCHEMA = "catalog.schema.json"
TIERS = ("hbm-gpu", "prefill", "sram", "tpu", "edge", "general")
PRECISIONS = ("bf16", "fp8", "fp4")

# Fields a device new to the catalog must give (an override of a known id may be partial).
REQUIRED = (
    "name",
    "vendor",
    "tier",
    "bf16_tflops",
    "mem_type",
    "mem_gb",
    "mem_bw_tbs",
    "interconnect",
    "link_gbs",
    "unit",
    "unit_devices",
    "price_source",
    "spec_source",
    "as_of",
)


@dataclass(frozen=True)
class Device:
    """One accelerator. Rates are dense per device; ``usd_per_hour`` is per device."""

    id: str
    name: str
    vendor: str
    tier: str
    bf16_tflops: float
    fp8_tflops: float | None
    fp4_tflops: float | None
    mem_type: str
    mem_gb: float
    mem_bw_tbs: float
    sram_mb: float | None
    tdp_w: float | None
    interconnect: str
    link_gbs: float
    unit: str
    unit_devices: int
    usd_per_hour: float | None
    price_source: str
    spec_source: str
    as_of: str
    estimated: tuple[str, ...] = ()
    scale_up_gbs: float = 0.0
    max_group: int = 1
    estimate_notes: str = ""
    notes: str = ""
    # Commitment prices (USD per device-hour) where published, with their source and date.
    reserved_1y_usd_per_hour: float | None = None
    reserved_3y_usd_per_hour: float | None = None
    spot_usd_per_hour: float | None = None
    commitment_source: str = ""
    commitment_as_of: str = ""

    def tflops(self, precision: str) -> float | None:
        """Dense peak TFLOP/s at ``precision`` (bf16, fp8, fp4); None if the part has none."""
        if precision not in PRECISIONS:
            msg = f"precision '{precision}': unknown; use one of {', '.join(PRECISIONS)}"
            raise ConfigError(msg)
        value: float | None = getattr(self, f"{precision}_tflops")
        return value

    @property
    def plannable(self) -> bool:
        return self.usd_per_hour is not None


@dataclass(frozen=True)
class Catalog:
    """Devices by id, in catalog order."""

    devices: dict[str, Device]
    sources: tuple[str, ...] = field(default=())

    def get(self, device_id: str) -> Device:
        """The device with this id; ``ConfigError`` naming close matches when unknown."""
        try:
            return self.devices[device_id]
        except KeyError:
            close = difflib.get_close_matches(device_id, list(self.devices), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            msg = f"unknown device id '{device_id}'; {hint}run `tracelab hardware` for the ids"
            raise ConfigError(msg) from None

    def plannable(self) -> list[Device]:
        """Devices with a price (others need ``--price ID=USD`` first)."""
        return [d for d in self.devices.values() if d.plannable]

    def by_tier(self, tier: str) -> list[Device]:
        return [d for d in self.devices.values() if d.tier == tier]


def _device(device_id: str, entry: Mapping[str, Any], path: Path) -> Device:
    for name in REQUIRED:
        if name not in entry:
            msg = (
                f"{path} entry '{device_id}' field '{name}': missing; a new device needs "
                f"{', '.join(REQUIRED)}"
            )
            raise ConfigError(msg)
    values = dict(entry)
    values["estimated"] = tuple(values.get("estimated", ()))
    for key in ("fp8_tflops", "fp4_tflops", "sram_mb", "tdp_w", "usd_per_hour"):
        values.setdefault(key, None)
    values.setdefault("scale_up_gbs", values["link_gbs"])
    for key in ("bf16_tflops", "fp8_tflops", "fp4_tflops", "mem_gb", "mem_bw_tbs", "link_gbs"):
        if values[key] is not None:
            values[key] = float(values[key])
    return Device(id=device_id, **values)


def _merge(
    raw: dict[str, dict[str, Any]], path: Path, origin: dict[str, Path]
) -> dict[str, dict[str, Any]]:
    data = read_validated_toml(path, CATALOG_SCHEMA)
    for device_id, entry in data["devices"].items():
        raw[device_id] = {**raw.get(device_id, {}), **entry}
        origin[device_id] = path
    return raw


def parse_prices(items: Sequence[str] | Iterable[str]) -> dict[str, float]:
    """``["h100-sxm=2.10", ...]`` → ``{"h100-sxm": 2.1}`` (USD per device-hour)."""
    prices: dict[str, float] = {}
    for item in items:
        device_id, sep, value = item.partition("=")
        device_id = device_id.strip()
        if not sep or not device_id or not value.strip():
            raise ParamError(param="prices", value=item,
                             reason="expected ID=USD_PER_HOUR, e.g. h100-sxm=2.10")
        try:
            usd = float(value)
        except ValueError:
            reason = f"{value!r} is not a number of USD per device-hour; write it bare, e.g. 2.10"
            raise ParamError(param="prices", value=item, reason=reason) from None
        if not math.isfinite(usd) or usd < 0:
            raise ParamError(param="prices", value=item,
                             reason="price must be a finite USD per hour >= 0")
        prices[device_id] = usd
    return prices


def load_catalog(path: Path | None = None, prices: Mapping[str, float] | None = None) -> Catalog:
    """The packaged catalog, plus a user's TOML at ``path``, plus ``--price`` overrides."""
    origin: dict[str, Path] = {}
    package = data_path(CATALOG_FILE)
    raw = _merge({}, package, origin)
    sources = [str(package)]
    if path is not None:
        raw = _merge(raw, Path(path), origin)
        sources.append(str(path))
    devices = {did: _device(did, entry, origin[did]) for did, entry in raw.items()}
    for device_id, usd in (prices or {}).items():
        if device_id not in devices:
            close = difflib.get_close_matches(device_id, list(devices), n=3, cutoff=0.5)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ParamError(param="prices", value=f"{device_id}={usd}",
                             reason=f"unknown device id{hint}")
        if not math.isfinite(usd) or usd < 0:
            raise ParamError(param="prices", value=f"{device_id}={usd}",
                             reason="price must be a finite USD per hour >= 0")
        devices[device_id] = replace(
            devices[device_id],
            usd_per_hour=float(usd),
            price_source="price given by the user",
            estimated=tuple(e for e in devices[device_id].estimated if e != "usd_per_hour"),
        )
    return Catalog(devices=devices, sources=tuple(sources))
