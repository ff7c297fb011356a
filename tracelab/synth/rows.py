"""Small helpers the renderers share: compact JSON, line writing, row selections, times."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

# HTTP-ish error codes for failed requests, as a gateway reports them.
ERRORS = {
    "error": (500, "InternalServerError", "synthetic server error"),
    "cancelled": (499, "RequestCancellationError", "Request was cancelled"),
    "timeout": (504, "TimeoutError", "Request timed out"),
}


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def write_lines(path: Path, lines: Iterable[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for line in lines:
            out.write(line + "\n")
            count += 1
    return count


def ok(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("status") == "ok")


def unix_s(frame: pl.DataFrame) -> pl.Series:
    return frame["arrival_ts"].dt.epoch("s")


def ns(frame: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    start = frame["arrival_ts"].dt.epoch("ns")
    end = start + (frame["e2e_latency_s"].fill_null(0.0) * 1e9).round().cast(pl.Int64)
    return start, end


def hash_hex(text: str, chars: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:chars]
