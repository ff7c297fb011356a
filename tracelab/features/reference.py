"""The hardware facts features need: model registry, work coefficients, edge devices.

``ReferenceHardware`` gathers them in one value so the features and labels can be computed
from hand-made facts in tests, and from ``tracelab.hardware`` (model registry, catalog,
performance model) in use. Sources: the registry and catalog document their own figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracelab.errors import ConfigError

REFERENCE_DEVICE = "h100-sxm"
# Stand-in for requests whose model is unknown: the most common open 8B serving model, and
# the shape calibrated in ../shared/calibration/h100 (Llama-3-8B).
REFERENCE_MODEL = "llama-3.1-8b"
# Decode batch at which the per-token decode device time is amortised (a busy server).
REFERENCE_DECODE_BATCH = 32

Resolver = Callable[[Sequence["str | None"], "dict[str, str] | None", "str | None"], pl.DataFrame]
Coefficients = Callable[[str], "tuple[float, ...]"]

FACT_COLUMNS = ("model_id", "params_b", "active_params_b", "kv_bytes_per_token", "weight_bytes")
COEFF_COLUMNS = ("work_a", "work_b", "work_c", "work_d", "work_e")


@dataclass(frozen=True)
class ReferenceHardware:
    """Model facts and work coefficients for the features, edge devices for placement.

    - ``resolve(names, model_map, assume)`` -> frame [model, model_id, model_match];
    - ``facts``: one row per model_id with params_b, active_params_b, kv_bytes_per_token,
      weight_bytes (bf16);
    - ``coefficients(model_id)`` -> (a, b, c, d[, e]) in seconds: prefill_s = e + a*L + b*L^2
      (e: fixed per-request prefill time, 0 when not given), decode_s = out*(c + d*ctx) on
      ``device`` at ``decode_batch``;
    - ``edge_devices``: [device, mem_gb] of the catalog's edge tier.
    """

    resolve: Resolver
    facts: pl.DataFrame
    coefficients: Coefficients
    edge_devices: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"device": pl.String, "mem_gb": pl.Float64})
    )
    device: str = REFERENCE_DEVICE
    reference_model: str = REFERENCE_MODEL

    def coefficient_frame(self, model_ids: Sequence[str]) -> pl.DataFrame:
        """[model_id, work_a .. work_e] for the given ids (seconds)."""
        rows = [(m, *_unpack(self.coefficients(m))) for m in sorted(set(model_ids))]
        return pl.DataFrame(
            rows, schema=[("model_id", pl.String)] + [(c, pl.Float64) for c in COEFF_COLUMNS],
            orient="row",
        )


_FIELDS = (
    "prefill_s_per_token", "prefill_s_per_token_sq", "decode_s_per_token",
    "decode_s_per_token_ctx", "prefill_s_per_request",
)


def _unpack(coeffs: Any) -> tuple[float, float, float, float, float]:
    """(a, b, c, d, e) from ``PerfModel.work_coefficients`` or a 4/5-tuple (e defaults to 0)."""
    if all(hasattr(coeffs, name) for name in _FIELDS):
        values = [float(getattr(coeffs, name)) for name in _FIELDS]
    else:
        values = [float(v) for v in coeffs]
        values += [0.0] * (5 - len(values))
    a, b, c, d, e = values
    return a, b, c, d, e


def load_reference_hardware(
    device: str = REFERENCE_DEVICE,
    reference_model: str = REFERENCE_MODEL,
    decode_batch: int = REFERENCE_DECODE_BATCH,
) -> ReferenceHardware:
    """Build the facts from ``tracelab.hardware`` (registry, catalog, performance model)."""
    try:
        from tracelab.hardware.catalog import load_catalog
        from tracelab.hardware.perf import PerfModel
        from tracelab.hardware.registry import model_facts_frame, resolve_models
    except ImportError as exc:  # the hardware stage is missing from this install
        msg = f"tracelab.hardware is unavailable ({exc}); model facts and work cannot be computed"
        raise ConfigError(msg) from None

    catalog = load_catalog()
    perf = PerfModel(catalog)
    facts = model_facts_frame().select(
        "model_id", "params_b", "active_params_b", "kv_bytes_per_token",
        pl.col("weight_bytes_bf16").alias("weight_bytes"),
    )

    def coefficients(model_id: str) -> tuple[float, ...]:
        return _unpack(perf.work_coefficients(device, model_id, "bf16", decode_batch=decode_batch))

    def resolve(
        names: Sequence[str | None], model_map: dict[str, str] | None, assume: str | None
    ) -> pl.DataFrame:
        return resolve_models(list(names), model_map=model_map, assume=assume)

    return ReferenceHardware(
        resolve=resolve, facts=facts, coefficients=coefficients,
        edge_devices=edge_devices_frame(catalog), device=device, reference_model=reference_model,
    )


def edge_devices_frame(catalog: Any) -> pl.DataFrame:
    """[device, mem_gb] of the catalog's devices whose tier is 'edge' (catalog.by_tier)."""
    devices = catalog.by_tier("edge")
    return pl.DataFrame(
        {"device": [d.id for d in devices], "mem_gb": [float(d.mem_gb) for d in devices]},
        schema={"device": pl.String, "mem_gb": pl.Float64},
    )
