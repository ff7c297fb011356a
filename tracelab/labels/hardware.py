"""Edge devices for the placement rule, from the hardware catalog (tier "edge")."""

from __future__ import annotations

import polars as pl

from tracelab.errors import ConfigError


def load_edge_devices() -> pl.DataFrame:
    """[device, mem_gb] of the catalog's edge-tier devices."""
    try:
        from tracelab.hardware.catalog import load_catalog
    except ImportError as exc:
        msg = f"tracelab.hardware is unavailable ({exc}); cannot find edge devices"
        raise ConfigError(msg) from None
    from tracelab.features.reference import edge_devices_frame

    return edge_devices_frame(load_catalog())
