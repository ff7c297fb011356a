"""Hardware-side plumbing the verbs share: the catalog and performance model from
``--catalog``/``--price``/``--profile`` and a ``--model`` looked up in the registry."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tracelab.errors import ConfigError

if TYPE_CHECKING:
    from tracelab.hardware.catalog import Catalog
    from tracelab.hardware.perf import PerfModel


def read_catalog(catalog: Path | None, price: list[str] | None) -> Catalog:
    """The bundled catalog, merged with ``--catalog`` TOML, with ``--price ID=USD`` overrides."""
    from tracelab.hardware.catalog import load_catalog, parse_prices

    return load_catalog(catalog, prices=parse_prices(price or []))


def load_perf_model(devices: Catalog, profile: Path | None) -> PerfModel:
    """The performance model over ``devices`` and the bundled registry, with ``--profile``."""
    from tracelab.hardware.perf import PerfModel
    from tracelab.hardware.profile import load_profile

    return PerfModel(devices, profile=load_profile(profile))


def resolve_model(model: str) -> tuple[str, str]:
    """``(registry id, how it matched)`` for ``--model`` (an id or a logged name); a note on
    stderr when it was read as another id; ConfigError when the registry does not know it."""
    from tracelab.hardware.registry import match_model

    model_id, how = match_model(model)
    if model_id is None:
        msg = f"--model '{model}': not in the registry; run `tracelab models` for the ids"
        raise ConfigError(msg)
    if how != "exact" or model_id != model:
        sys.stderr.write(f"model '{model}' read as '{model_id}' ({how})\n")
    return model_id, how
