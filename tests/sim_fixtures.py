"""Small fleets and request frames for the simulator's tests, and the checks every replay
must pass (Little's law from its own event log)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import polars as pl
import pytest

from tracelab.simulate import Fleet, PoolSpec, Replay, RouteShare

MODEL = "llama-3.1-8b"
DEVICE = "h100-sxm"
COLOCATED = f"{DEVICE}/{MODEL}/x1/colocated"


@cache
def perf_model():
    from tracelab.hardware.catalog import load_catalog
    from tracelab.hardware.perf import PerfModel

    return PerfModel(load_catalog())


def colocated(replicas: int, class_ids: Sequence[str] = ("c",)) -> Fleet:
    pool = PoolSpec(COLOCATED, DEVICE, MODEL, 1, replicas, "colocated")
    return Fleet((pool,), tuple(RouteShare(c, COLOCATED, COLOCATED, 1.0) for c in class_ids))


def disaggregated(prefill: int = 1, decode: int = 1) -> Fleet:
    pre = PoolSpec(f"{DEVICE}/{MODEL}/x1/prefill", DEVICE, MODEL, 1, prefill, "prefill")
    dec = PoolSpec(f"{DEVICE}/{MODEL}/x1/decode", DEVICE, MODEL, 1, decode, "decode")
    return Fleet((pre, dec), (RouteShare("c", pre.pool_id, dec.pool_id, 1.0),))


def requests(arrival: Sequence[float], prefill: Sequence[int] | int,
             output: Sequence[int] | int, context: Sequence[int] | None = None,
             mode: str = "interactive", class_id: str = "c",
             session: Sequence[str | None] | None = None) -> pl.DataFrame:
    n = len(arrival)
    pre = np.broadcast_to(np.asarray(prefill), (n,)).astype(np.int64)
    out = np.broadcast_to(np.asarray(output), (n,)).astype(np.int64)
    ctx = pre if context is None else np.asarray(context, dtype=np.int64)
    return pl.DataFrame({
        "request_id": [f"r{i:07d}" for i in range(n)],
        "arrival_s": np.asarray(arrival, dtype=float),
        "class_id": class_id, "model_id": MODEL,
        "prefill_tokens": pre, "context_tokens": ctx, "output_tokens": out,
        "session_id": pl.Series(session if session is not None else [None] * n, dtype=pl.String),
        "label_mode": mode,
    })


def poisson(n: int, rate: float, seed: int = 0) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n))


def check_little(replay: Replay) -> None:
    """L = λ·W, L from the event log of arrivals and finishes (time-average in system)."""
    law = replay.little()
    assert law["L"] == pytest.approx(law["lam"] * law["W"], rel=1e-9)
    served = replay.requests.filter(pl.col("served"))
    assert (served["finish_s"] >= served["arrival_s"]).all()
    assert (served["ttft_s"] <= served["e2e_s"] + 1e-12).all()
    assert (served["queue_s"] >= -1e-12).all()
