"""The replay's latency distributions per SLO mode, against the targets, and what the
replay leaves out: what a report shows beside the replayed attainment.

Per SLO mode (the table a request is held to): requests, served, the mode's TTFT and TPOT
targets (seconds; 0 = none; TTFT's budget also grows by ``ttft_s_per_ktoken`` per 1,000
context tokens, so the line drawn is its floor), p50/p90/p99 of ``ttft_s`` and ``tpot_s``,
the shares meeting each and both, and each distribution as its values at ``CDF_POINTS``
(percent of served requests): enough to draw a CDF without the per-request rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from tracelab.plan.slo import Slo, slo_for

CDF_POINTS = (*range(0, 100, 2), 99.0, 99.5, 99.9, 100.0)
QUANTILES = (50, 90, 99)

# What the replay does not model (said wherever its numbers are shown).
NOT_MODELLED = (
    "failures, restarts, autoscaling delays and replica warm-up: every replica is up for "
    "the whole window",
    "network and API-server time outside the model: TTFT starts when the request reaches "
    "its pool, and only a disaggregated route's KV transfer is charged",
    "speculative decoding, CUDA-graph padding and scheduler overheads beyond the "
    "performance model's per-step and per-layer terms",
    "prefix-cache contents per replica: cache hits are the cache stage's, credited before "
    "routing, not an LRU on each replica",
    "requests outside the replayed window, and cancellations: every replayed request runs "
    "to its logged output length",
)


def _share(frame: pl.DataFrame, column: str) -> float:
    value = frame[column].cast(pl.Float64).mean()
    return 1.0 if frame.height == 0 else float(value) if isinstance(value, int | float) else 0.0


def compute_distributions(requests: pl.DataFrame,
                          slos: Mapping[str, Slo]) -> list[dict[str, Any]]:
    """One row per SLO mode present in ``requests`` (the replay's per-request frame), sorted
    by mode; see the module docstring."""
    out = []
    for mode in sorted(set(requests["slo_mode"].drop_nulls())):
        rows = requests.filter(pl.col("slo_mode") == mode)
        slo = slo_for(dict(slos), mode)
        entry: dict[str, Any] = {
            "slo_mode": mode, "requests": rows.height, "served": int(rows["served"].sum()),
            "ttft_target_s": slo.ttft_s, "ttft_target_s_per_ktoken": slo.ttft_s_per_ktoken,
            "tpot_target_s": slo.tpot_s,
            "meets_ttft": _share(rows, "meets_ttft"), "meets_tpot": _share(rows, "meets_tpot"),
            "attainment": _share(rows, "meets_slo"),
        }
        for column in ("ttft_s", "tpot_s"):
            values = rows[column].drop_nulls().to_numpy()
            found = len(values) > 0
            for q in QUANTILES:  # linear interpolation, as polars' "linear" quantile
                entry[f"p{q}_{column}"] = float(np.percentile(values, q)) if found else None
            entry[f"cdf_{column}"] = np.percentile(values, CDF_POINTS).tolist() if found else []
        out.append(entry)
    return out
