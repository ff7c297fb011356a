"""The whole pipeline in one call: ingest → cache reuse → features and labels → plan → summary.

```python
from tracelab.pipeline import run_pipeline
result = run_pipeline(["trace.parquet"], prices=["h100-sxm=2.10"])
result.plan.usd_per_hour, result.summary["labels"]["label_mode"]
```

Library code: it never prints. Pass ``progress(step, done, total)`` to hear about each step.
The summary is deterministic for a given input and options except ``generated_at`` and
``elapsed_s`` (wall clock).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.background import import_in_background

Progress = Callable[[str, int, int], None]
STEPS = ("ingest", "cache reuse", "features and labels", "plan", "summary")
# The LRU capacity credited to the plan when none is given: the smallest cache reaching this
# share of the achievable (infinite-cache) hits (tracelab.cache knees).
DEFAULT_CACHE_KNEE = 0.8


@dataclass
class PipelineResult:
    """Everything a report needs: each stage's result and the summary dict."""

    trace: Any  # tracelab.ingest.Trace
    labeled: Any  # tracelab.labels.LabeledTrace: its frame (with cache_hit_tokens), no summary
    cache: Any | None  # tracelab.cache.ReuseResult, None when not computed
    plan: Any | None  # tracelab.plan.Plan; None when no request has a known model
    summary: dict[str, Any]
    elapsed_s: float


def _knee_capacity(reuse: Any, fraction: float) -> int | None:
    knees = reuse.knees
    if knees.height == 0:
        return None
    row = knees.filter(pl.col("fraction") == fraction)
    if row.height == 0:
        row = knees.sort("fraction").tail(1)
    value = row["capacity_blocks"].item()
    return int(value) if value is not None else None


def _cache_hits(reuse: Any, capacity: int) -> pl.DataFrame:
    """[_trace_row, cache_hit_tokens]: the LRU hits of ``capacity`` blocks per request with
    reuse evidence, keyed by its position in the trace (``materialise_labels``' row_values)."""
    from tracelab.labels.materialise import TRACE_ROW

    return reuse.compute_cache_hits_by_row(capacity).rename({"row": TRACE_ROW})


def run_pipeline(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    strict: bool = False,
    config: Path | None = None,
    k: int | None = None,
    random_state: int = 0,
    model_map: Mapping[str, str] | None = None,
    assume_model: str | None = None,
    catalog: Path | None = None,
    prices: Sequence[str] = (),
    profile: Path | None = None,
    slos: Sequence[str] = (),
    percentile: float = 95.0,
    growth: float = 1.0,
    window_s: float = 60.0,
    cache_capacity: int | None = None,
    only: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    progress: Progress | None = None,
    executor: Any | None = None,
    preload: Sequence[str] = (),
) -> PipelineResult:
    """Run every stage on the traces at ``paths`` and summarise (see the module docstring).

    ``cache_capacity``: LRU capacity in blocks whose hits the plan subtracts from prefill
    demand; None takes the smallest capacity reaching 80% of the achievable hits.
    ``executor``: a ``tracelab.scale`` executor (local or Dask). With one, the summary's
    workload aggregates (labels, clusters, lengths, arrivals, timeline) are computed per
    partition on it and merged on the client in partition order, so a Dask run and a local
    partitioned run give the same summary; without one, they come from the whole frame in
    this process. ``preload``: modules the caller needs afterwards (the report's chart
    library), imported on a thread while the stages run.
    """
    from tracelab import __version__
    from tracelab.cache import compute_reuse_curve
    from tracelab.hardware.catalog import load_catalog, parse_prices
    from tracelab.hardware.perf import PerfModel
    from tracelab.hardware.profile import load_profile
    from tracelab.ingest import read_trace
    from tracelab.labels import cluster_labeled, load_label_config, materialise_labels
    from tracelab.plan import fit_plan, load_slos
    from tracelab.report.aggregate import compute_aggregates
    from tracelab.report.stages import (
        summarize_cache,
        summarize_efficiencies,
        summarize_input,
        summarize_plan,
        summarize_prices,
        summarize_slos,
    )
    from tracelab.report.summary import finalize_summary

    started = time.perf_counter()
    tell: Progress = progress or (lambda step, done, total: None)
    total = len(STEPS)
    # Options are checked before any heavy work, so a typo fails fast.
    slo_table = load_slos(overrides=list(slos))
    devices = load_catalog(catalog, prices=parse_prices(prices))
    perf_profile = load_profile(profile)
    label_config = load_label_config(config) if config is not None else load_label_config()
    mapping = dict(model_map or {})
    # The clusterer's library (~1.3 s) and ``preload`` load while polars reads; started
    # only now, so the imports above (Python, holding the GIL) are not slowed by them.
    import_in_background("sklearn.cluster", "sklearn.metrics", *preload)

    tell(STEPS[0], 0, total)
    trace = read_trace(paths, format=format, strict=strict)
    tell(STEPS[1], 1, total)
    # Reuse first: its per-request hits are attached while the features are computed, so the
    # later stages read them from the materialised frame instead of each repeating a join.
    reuse = compute_reuse_curve(trace.frame, model_map=mapping or None, assume_model=assume_model)
    notes: list[str] = []
    capacity: int | None = None
    hits: pl.DataFrame | None = None
    capacity_how = "no reuse evidence: no cache credit"
    if reuse.evidence != "none":
        capacity = cache_capacity if cache_capacity is not None else _knee_capacity(
            reuse, DEFAULT_CACHE_KNEE)
        capacity_how = ("given with --cache-capacity" if cache_capacity is not None else
                        f"smallest LRU capacity reaching {DEFAULT_CACHE_KNEE:.0%} of the "
                        "achievable hits")
        if capacity is not None:
            hits = _cache_hits(reuse, capacity)
    hit_tokens = None if hits is None else int(hits["cache_hit_tokens"].sum())
    hits_known = 0 if hits is None else hits.height
    tell(STEPS[2], 2, total)
    features = materialise_labels(trace, config=label_config, model_map=mapping or None,
                                  assume_model=assume_model, row_values=hits)
    modelled, assumed_work = features.select(
        pl.col("model_id").is_not_null().sum(),
        pl.col("work_model_assumed").fill_null(False).sum(),
    ).collect(engine="streaming").row(0)
    timed = trace.time_bases.absolute_rows + trace.time_bases.relative_rows
    if not modelled:
        notes.append("no request names a model the registry knows, so no fleet was planned; "
                     "pass --assume-model ID (e.g. llama-3.1-8b) or --model-map NAME=ID")
    elif not timed:
        notes.append("no request has an arrival time, so no fleet was planned (a plan sizes "
                     "for arrival rates); labels, lengths and device-time are reported")
    # The plan reads the labels and model columns, not the clusters: it is fitted on a second
    # thread while this one fits the clusterer (single-threaded) and computes the summary's
    # aggregates, so neither leaves a core idle.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracelab-plan") as planner:
        planned = planner.submit(
            fit_plan, features, PerfModel(devices, profile=perf_profile), slos=slo_table,
            window_s=window_s, percentile=percentile, growth=growth, only=only,
            exclude=exclude) if modelled and timed else None
        labeled = cluster_labeled(features, config=label_config, k=k,
                                  random_state=random_state, model_map=mapping or None,
                                  assume_model=assume_model, summary=False)
        tell(STEPS[3], 3, total)
        if executor is None:
            aggregates = compute_aggregates(labeled.frame, window_s=window_s)
            cluster_k = labeled.clusterer.k_
        else:
            from tracelab.scale.aggregate import LabelSettings, run_aggregates

            settings = LabelSettings(config=label_config, model_map=mapping or None,
                                     assume_model=assume_model, k=k,
                                     random_state=random_state, window_s=window_s,
                                     time_shift_us=trace.time_bases.shift_us)
            aggregates, partitioned = run_aggregates(paths, executor=executor, format=format,
                                                     settings=settings)
            # Simulated cache hits come from the whole-trace reuse pass, not from partitions.
            aggregates["totals"]["cache_hit_tokens"] = hit_tokens or 0
            aggregates["totals"]["cache_hit_tokens_known"] = hits_known
            cluster_k = partitioned.k_
        plan = None if planned is None else planned.result()
    tell(STEPS[4], 4, total)
    if assumed_work:
        notes.append(f"{assumed_work} requests had no known model: their work was estimated "
                     "with the reference model (see model mapping)")
    price_ids = ([p["device_id"] for p in plan.assumptions.get("prices", [])] if plan
                 else [d.id for d in devices.plannable()])
    assumptions = {
        "prices": summarize_prices(devices, price_ids),
        "slos": summarize_slos(slo_table),
        "slo_source": "tracelab/data/slo.toml defaults" + (
            f", overridden by --slo {' '.join(slos)}" if slos else ""),
        "efficiencies": summarize_efficiencies(perf_profile),
        "model_mapping": [],  # filled from the summary's models below
        "defaults": {
            "window_s": window_s,
            "percentile": percentile,
            "growth": growth,
            "k": cluster_k,
            "k_given": k is not None,
            "random_state": random_state,
            "cache_capacity_blocks": capacity,
            "cache_capacity": capacity_how,
            "model_map": ", ".join(f"{a}={b}" for a, b in sorted(mapping.items())) or "none",
            "assume_model": assume_model or "none",
            "label_config": "--config " + Path(config).name if config else "labels.toml (packaged)",
            "catalog": "--catalog " + Path(catalog).name if catalog else "catalog.toml (packaged)",
            "reference_device": plan.settings.get("reference_device") if plan else None,
            "precision": plan.settings.get("precision") if plan else None,
            "only": ", ".join(only or []) or "all priced devices",
            "exclude": ", ".join(exclude or []) or "none",
        },
        "notes": notes,
    }
    elapsed = time.perf_counter() - started
    summary = finalize_summary(
        aggregates,
        inputs=summarize_input(trace),
        plan=summarize_plan(plan) if plan is not None else None,
        cache=summarize_cache(reuse, capacity, hit_tokens),
        assumptions=assumptions,
        generated_at=datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        elapsed_s=elapsed,
        version=__version__,
    )
    summary["assumptions"]["model_mapping"] = summary["models"]
    tell("done", total, total)
    return PipelineResult(trace, labeled, reuse, plan, summary, elapsed)
