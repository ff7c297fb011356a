"""``label_trace``: features, axis labels and clusters for a whole trace, with a summary.

The summary gives each label's and cluster's share of requests, of tokens (context_tokens)
and of estimated work (prefill_device_s + decode_device_s on the reference device), the
cluster profiles, and what was assumed (model names mapped or assumed, work model stand-in).

Nothing here holds the labelled trace in memory: the frame stays a lazy plan over the input,
the clusterer collects only its bounded sample, and the summary is one streaming collect of
one group_by (every label, cluster and model column as keys), rolled up on the small result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelab.labels.axes import compute_labels, label_columns
from tracelab.labels.cluster import WorkloadClusterer
from tracelab.labels.config import LabelConfig, load_label_config

if TYPE_CHECKING:
    from tracelab.features.reference import ReferenceHardware


@dataclass
class LabeledTrace:
    """The labeled frame (canonical + features + labels + cluster, a LazyFrame over the
    input: nothing is materialised), the fitted clusterer and a JSON-ready summary."""

    frame: pl.LazyFrame
    clusterer: WorkloadClusterer
    summary: dict[str, Any]


_WORK = (pl.col("prefill_device_s") + pl.col("decode_device_s")).alias("work_s")
MODEL_KEYS = ("model", "model_id", "model_match", "work_model_id", "work_model_assumed")
_SUMMARY_KEYS = ("cluster", *MODEL_KEYS, "work_device")


def group_sums(frame: pl.LazyFrame, keys: tuple[str, ...] | list[str]) -> pl.LazyFrame:
    """[*keys, requests, _tok, _work]: request count, context_tokens (int) and work (s)
    per group of ``keys``; the building block every share table rolls up from."""
    return frame.group_by(list(keys)).agg(
        pl.len().alias("requests"),
        pl.col("context_tokens").sum().alias("_tok"),
        _WORK.sum().alias("_work"),
    )


def _shares(groups: pl.DataFrame, by: str) -> pl.DataFrame:
    """share_table from ``group_sums`` rows (any finer grouping than ``by``)."""
    tok = float(groups.get_column("_tok").sum() or 0) or 1.0
    work = float(groups.get_column("_work").sum() or 0) or 1.0
    n = int(groups.get_column("requests").sum() or 0)
    return (
        groups.group_by(by)
        .agg(pl.col("requests").sum(), pl.col("_tok").sum(), pl.col("_work").sum())
        .select(
            by,
            "requests",
            (pl.col("requests") / max(n, 1)).alias("request_share"),
            (pl.col("_tok").cast(pl.Float64) / tok).alias("token_share"),
            (pl.col("_work") / work).alias("work_share"),
        )
        .sort(["requests", by], descending=[True, False], nulls_last=True)
    )


def share_table(frame: pl.DataFrame | pl.LazyFrame, by: str) -> pl.DataFrame:
    """[by, requests, request_share, token_share, work_share], largest first."""
    return _shares(group_sums(frame.lazy(), [by]).collect(engine="streaming"), by)


def summarize(
    frame: pl.LazyFrame | pl.DataFrame,
    clusterer: WorkloadClusterer,
    config: LabelConfig,
    model_map: dict[str, str] | None,
    assume_model: str | None,
) -> dict[str, Any]:
    """The JSON-ready summary of a labeled frame (see module docstring): one streaming
    collect of ``group_sums`` over the label, cluster and model columns; the tables are roll-ups of that result."""
    columns = label_columns()
    groups = group_sums(frame.lazy(), (*columns, *_SUMMARY_KEYS)).collect(engine="streaming")
    labels = {col.removeprefix("label_"): _shares(groups, col).to_dicts() for col in columns}
    clusters = _shares(groups, "cluster").sort("cluster", nulls_last=True).to_dicts()
    profiles = {p["cluster"]: p for p in clusterer.profiles_}
    for row in clusters:
        idx = row["cluster"]
        row["name"] = clusterer.names_[idx] if idx is not None else None
        row["profile"] = profiles.get(idx) if idx is not None else None
    models = (
        groups.group_by(MODEL_KEYS)
        .agg(pl.col("requests").sum())
        .sort(["requests", *MODEL_KEYS], descending=[True, *[False] * len(MODEL_KEYS)],
              nulls_last=True)
        .to_dicts()
    )
    device = groups.get_column("work_device").drop_nulls()
    assumed = groups.filter(pl.col("work_model_assumed").fill_null(False))
    return {
        "requests": int(groups.get_column("requests").sum() or 0),
        "labels": labels,
        "clusters": clusters,
        "k": clusterer.k_,
        "assumptions": {
            "model_map": model_map or {},
            "assume_model": assume_model,
            "reference_device": device.item(0) if device.len() else None,
            "work_model_assumed_requests": int(assumed.get_column("requests").sum() or 0),
            "models": models,
        },
        "config": config.source,
    }


def label_trace(
    frame: pl.LazyFrame,
    *,
    config: LabelConfig | None = None,
    clusterer: WorkloadClusterer | None = None,
    k: int | None = None,
    random_state: int = 0,
    model_map: dict[str, str] | None = None,
    assume_model: str | None = None,
    hardware: ReferenceHardware | None = None,
) -> LabeledTrace:
    """Features + labels + clusters for ``frame``; fits a clusterer unless one is given.

    ``hardware`` defaults to ``load_reference_hardware()``; its edge devices drive the
    placement label. The returned ``frame`` is a LazyFrame (a plan over ``frame``, rows in
    input order): collecting it recomputes the features, so select the columns you need and
    collect once (``engine="streaming"`` runs it in bounded memory). Work done here: a few
    tiny collects (model names), the clusterer's sample (≤ ``sample_size`` rows) and one
    aggregate for the summary.
    """
    from tracelab.features import compute_features, load_reference_hardware

    cfg = config or load_label_config()
    hw = hardware or load_reference_hardware()
    features = compute_features(
        frame, model_map=model_map, assume_model=assume_model, window_s=cfg.window_s, hardware=hw
    )
    labeled = compute_labels(features, cfg, edge_devices=hw.edge_devices)
    return cluster_labeled(labeled, config=cfg, clusterer=clusterer, k=k,
                           random_state=random_state, model_map=model_map,
                           assume_model=assume_model)


def cluster_labeled(
    labeled: pl.LazyFrame,
    *,
    config: LabelConfig,
    clusterer: WorkloadClusterer | None = None,
    k: int | None = None,
    random_state: int = 0,
    model_map: dict[str, str] | None = None,
    assume_model: str | None = None,
    summary: bool = True,
) -> LabeledTrace:
    """Clusters (fitted unless ``clusterer`` is given) and the summary of a frame that
    already has its features and labels (``label_trace``'s second half; the pipeline passes
    the frame ``tracelab.labels.materialise_labels`` computed once). ``summary=False``
    skips the summary's pass over every row (``LabeledTrace.summary`` is then empty): the
    pipeline's own summary has the label and cluster mixes."""
    model = clusterer or WorkloadClusterer(k=k, random_state=random_state).fit(labeled)
    out = model.assign(labeled)
    shares = summarize(out, model, config, model_map, assume_model) if summary else {}
    return LabeledTrace(frame=out, clusterer=model, summary=shares)
