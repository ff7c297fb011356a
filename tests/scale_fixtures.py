"""A tiny canonical trace with hand-computable numbers, shared by the scale tests."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from tracelab.schema import conform

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def tiny_frame() -> pl.DataFrame:
    """6 requests: minutes 0, 0, 0, 1, 1, 2 after 09:00; two models."""
    seconds = [0, 10, 59, 60, 90, 150]
    return conform(
        pl.LazyFrame(
            {
                "request_id": [f"r{i}" for i in range(6)],
                "arrival_ts": [T0.replace(minute=s // 60, second=s % 60) for s in seconds],
                "time_base": ["absolute"] * 6,
                "model": ["a", "a", "b", "a", "b", "a"],
                "input_tokens": [100, 200, 300, 400, 500, 600],
                "cached_input_tokens": [0, 50, None, 100, 0, 0],
                "output_tokens": [10, 20, 30, 40, 50, 60],
                "ttft_s": [0.1, 0.2, None, 0.4, 0.5, 0.6],
                "status": ["ok"] * 6,
            }
        )
    ).collect()
