"""A tiny, exact performance model for plan tests (hand-solvable optima)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import polars as pl


@dataclass(frozen=True)
class FakeOp:
    devices: int
    batch: int
    tokens_per_s: float
    latency_s: float
    usd_per_hour: float
    usd_per_mtok: float
    reason: str = "fake"


@dataclass
class FakeDevice:
    """Per replica: price, prefill rate and latency, decode points [(batch, tpot_s, tok/s)]."""

    id: str
    usd_per_hour: float
    prefill_tps: float
    prefill_latency_s: float
    decode_points: list[tuple[int, float, float]]
    stretch: float = 1.0
    link_gbs: float | None = 50.0
    price_source: str = "test"


@dataclass
class FakePerf:
    devices: dict[str, FakeDevice]
    models: dict[str, SimpleNamespace] = field(
        default_factory=lambda: {"m8": SimpleNamespace(kv_bytes_per_token=1000)}
    )

    @property
    def catalog(self) -> SimpleNamespace:
        return SimpleNamespace(plannable=lambda: list(self.devices.values()))

    def operating_point(self, device_id, model_id, phase, context, precision="bf16",
                        ttft_s=None, tpot_s=None, devices=None):
        d = self.devices[device_id]
        if devices not in (None, 1):
            return None
        if phase == "prefill":
            if ttft_s is not None and d.prefill_latency_s > ttft_s:
                return None
            return FakeOp(1, 1, d.prefill_tps, d.prefill_latency_s, d.usd_per_hour,
                          d.usd_per_hour / 3600 / d.prefill_tps * 1e6)
        ok = [p for p in d.decode_points if tpot_s is None or p[1] <= tpot_s]
        if not ok:
            return None
        batch, tpot, tps = max(ok, key=lambda p: p[2])
        return FakeOp(1, batch, tps, tpot, d.usd_per_hour, d.usd_per_hour / 3600 / tps * 1e6)

    def colocation_stretch(self, device_id, model_id, decode_batch, decode_ctx, chunk_tokens,
                           precision):
        return self.devices[device_id].stretch


def two_devices(b_price: float = 1.5) -> FakePerf:
    """'h100-sxm': $2/h, prefill 1000 tok/s, decode 100 tok/s; 'b': $1.5/h, 400 and 1000."""
    return FakePerf({
        "h100-sxm": FakeDevice("h100-sxm", 2.0, 1000.0, 0.5, [(8, 0.02, 100.0)]),
        "b": FakeDevice("b", b_price, 400.0, 0.5, [(32, 0.01, 1000.0)]),
    })


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def labeled_frame(rows: list[dict]) -> pl.LazyFrame:
    """Labelled requests; each row needs id, t (s), prefill, decode; labels default."""
    return pl.LazyFrame({
        "request_id": [r["id"] for r in rows],
        "arrival_ts": [T0 + timedelta(seconds=r["t"]) for r in rows],
        "model": ["llama-8b"] * len(rows),
        "input_tokens": [r["prefill"] + r.get("cached", 0) for r in rows],
        "cached_input_tokens": [r.get("cached", 0) for r in rows],
        "output_tokens": [r["decode"] for r in rows],
        "model_id": [r.get("model_id", "m8") for r in rows],
        "prefill_tokens": [r["prefill"] for r in rows],
        "decode_tokens": [r["decode"] for r in rows],
        "context_tokens": [r["prefill"] + r.get("cached", 0) for r in rows],
        "label_phase": [r.get("phase", "prefill-heavy") for r in rows],
        "label_context": [r.get("context", "long") for r in rows],
        "label_mode": [r.get("mode", "interactive") for r in rows],
        "label_model": ["small"] * len(rows),
        "label_placement": ["datacenter"] * len(rows),
        "cluster": [r.get("cluster", 0) for r in rows],
        "cluster_name": [r.get("cluster_name", "c0") for r in rows],
    }, schema_overrides={"arrival_ts": pl.Datetime("us", "UTC")})


def two_requests() -> pl.LazyFrame:
    """Two requests 100 s apart: P = 100,000 / 100 s = 1000 tok/s, D = 100 tok/s."""
    return labeled_frame([
        {"id": "r1", "t": 0, "prefill": 50_000, "decode": 5_000},
        {"id": "r2", "t": 100, "prefill": 50_000, "decode": 5_000},
    ])
