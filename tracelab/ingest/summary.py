"""What ``tracelab inspect`` reports about a trace: counts, time span, coverage, quantiles."""

from __future__ import annotations

from typing import Any

import polars as pl

from tracelab.ingest.reader import Trace
from tracelab.schema import CANONICAL_SCHEMA, TOKEN_COLUMNS

QUANTILES = (0.5, 0.9, 0.99)
DISTRIBUTIONS = ("input_tokens", "output_tokens", "ttft_s", "e2e_latency_s")
_PROVENANCE = ("source_format", "source_file", "source_row")


def compute_summary(trace: Trace) -> dict[str, Any]:
    """A JSON-ready summary of ``trace`` (one pass over the accepted rows).

    coverage = share of accepted rows where the field is non-null; quantiles use
    linear interpolation; totals are sums over accepted rows (null when no row has it).
    """
    fields = [name for name in CANONICAL_SCHEMA if name not in _PROVENANCE]
    exprs: list[pl.Expr] = [
        pl.len().alias("rows"),
        pl.col("arrival_ts").min().alias("start"),
        pl.col("arrival_ts").max().alias("end"),
        (pl.col("time_base") == "relative").any().alias("relative"),
        (pl.col("time_base") == "absolute").any().alias("absolute"),
    ]
    exprs += [pl.col(name).is_not_null().mean().alias(f"cov:{name}") for name in fields]
    exprs += [
        pl.when(pl.col(name).is_not_null().any()).then(pl.col(name).sum()).alias(f"sum:{name}")
        for name in TOKEN_COLUMNS
    ]
    exprs += [
        pl.col(name).cast(pl.Float64).quantile(q, interpolation="linear").alias(f"q{q}:{name}")
        for name in DISTRIBUTIONS
        for q in QUANTILES
    ]
    stats = trace.frame.select(exprs).collect().row(0, named=True)
    statuses = trace.frame.group_by("status").len().sort("status").collect().rows()
    reasons = (
        trace.rejected.group_by("field", "reason")
        .len()
        .sort(["len", "field", "reason"], descending=[True, False, False])
        if trace.rows_rejected
        else None
    )
    start, end = stats["start"], stats["end"]
    bases = [b for b in ("absolute", "relative") if stats[b]]
    return {
        "files": {path: fmt for path, fmt in trace.formats.items()},
        "rows": {
            "read": trace.rows_read,
            "accepted": trace.rows_accepted,
            "rejected": trace.rows_rejected,
        },
        "rejected_reasons": [
            {"field": field, "reason": reason, "rows": count}
            for field, reason, count in (reasons.head(10).rows() if reasons is not None else [])
        ],
        "status": {status: count for status, count in statuses},
        "time": {
            "start": start.isoformat() if start is not None else None,
            "end": end.isoformat() if end is not None else None,
            "span_s": (end - start).total_seconds()
            if start is not None and end is not None
            else None,
            "time_base": "+".join(bases) if bases else None,
        },
        "coverage": {name: stats[f"cov:{name}"] if stats["rows"] else 0.0 for name in fields},
        "totals": {name: stats[f"sum:{name}"] for name in TOKEN_COLUMNS},
        "quantiles": {
            name: {f"p{round(q * 100)}": stats[f"q{q}:{name}"] for q in QUANTILES}
            for name in DISTRIBUTIONS
        },
    }
