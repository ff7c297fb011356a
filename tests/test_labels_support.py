"""Shared helpers for the features/labels tests: hand-made hardware facts and frames."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from tracelab.features import ReferenceHardware
from tracelab.schema import conform

# Hand-picked round coefficients (seconds): prefill_s = A*L + B*L^2, decode_s = out*(C + D*ctx).
# Close to the H100 llama-8b calibration (36k prefill tokens/s; 8.2 ms per step at batch 32).
A, B, C, D = 2.5e-5, 1e-9, 2.5e-4, 5e-8

FACTS = pl.DataFrame(
    {
        "model_id": ["tiny-8b", "big-70b"],
        "params_b": [8.0, 70.0],
        "active_params_b": [8.0, 70.0],
        "kv_bytes_per_token": [131_072, 327_680],
        "weight_bytes": [16_000_000_000, 140_000_000_000],
    }
)
ALIASES = {"tiny": "tiny-8b", "tiny-8b": "tiny-8b", "big-70b": "big-70b"}
EDGE = pl.DataFrame({"device": ["edge-32", "edge-128"], "mem_gb": [32.0, 128.0]})


def resolve(
    names: Sequence[str | None], model_map: dict[str, str] | None, assume: str | None
) -> pl.DataFrame:
    rows = []
    for name in names:
        if name is not None and model_map and name in model_map:
            rows.append((name, model_map[name], "mapped"))
        elif name is not None and name in ALIASES:
            rows.append((name, ALIASES[name], "exact"))
        elif assume is not None:
            rows.append((name, assume, "assumed"))
        else:
            rows.append((name, None, "unknown"))
    return pl.DataFrame(rows, schema=["model", "model_id", "model_match"], orient="row")


def coefficients(model_id: str) -> tuple[float, float, float, float]:
    scale = 1.0 if model_id == "tiny-8b" else 8.0
    return A * scale, B * scale, C * scale, D * scale


HARDWARE = ReferenceHardware(
    resolve=resolve, facts=FACTS, coefficients=coefficients, edge_devices=EDGE,
    device="ref-gpu", reference_model="tiny-8b",
)

T0 = datetime(2024, 5, 1, 9, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def frame(**columns: Sequence[Any]) -> pl.LazyFrame:
    """A canonical LazyFrame from columns; request_id defaults to r0, r1, ...; absolute time."""
    n = len(next(iter(columns.values())))
    base: dict[str, Sequence[Any]] = {
        "request_id": [f"r{i}" for i in range(n)],
        "time_base": ["absolute"] * n,
        "status": ["ok"] * n,
        "source_format": ["canonical"] * n,
    }
    base.update(columns)
    return conform(pl.LazyFrame(base))


def calibration_hardware(shared_dir: Any) -> ReferenceHardware:
    """Reference hardware for real-trace tests: llama-3.1-8b facts from the registry when it
    is installed, and a, b, c, d least-squares fitted to the H100 calibration rows
    (../shared/calibration/h100/llama-8b.csv: prefill rows; decode rows at batch 32)."""
    import numpy as np

    rows = pl.read_csv(shared_dir / "calibration" / "h100" / "llama-8b.csv")
    pre = rows.filter(pl.col("phase") == "prefill")
    length = pre.get_column("context").to_numpy().astype(float)
    secs = pre.get_column("ms_measured").to_numpy() / 1000
    a, b = np.linalg.lstsq(np.c_[length, length**2], secs, rcond=None)[0]
    dec = rows.filter((pl.col("phase") == "decode") & (pl.col("batch") == 32))
    ctx = dec.get_column("context").to_numpy().astype(float)
    per_token = dec.get_column("ms_measured").to_numpy() / 1000 / 32
    c, d = np.linalg.lstsq(np.c_[np.ones_like(ctx), ctx], per_token, rcond=None)[0]
    facts = FACTS.filter(pl.col("model_id") == "tiny-8b").with_columns(
        pl.lit("llama-3.1-8b").alias("model_id")
    )
    return ReferenceHardware(
        resolve=lambda names, mm, assume: pl.DataFrame(
            {"model": list(names), "model_id": [assume] * len(names),
             "model_match": ["assumed" if assume else "unknown"] * len(names)},
            schema={"model": pl.String, "model_id": pl.String, "model_match": pl.String},
        ),
        facts=facts,
        coefficients=lambda _m: (float(a), float(b), float(c), float(d)),
        edge_devices=EDGE,
        device="h100-sxm",
        reference_model="llama-3.1-8b",
    )
