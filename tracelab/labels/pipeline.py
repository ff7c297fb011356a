"""``label_trace``: features, axis labels and clusters for a whole trace, with a summary.

The summary gives each label's and cluster's share of requests, of tokens (context_tokens)
and of estimated work (prefill_device_s + decode_device_s on the reference device), the
cluster profiles, and what was assumed (model names mapped or assumed, work model stand-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from tracelab.labels.cluster import WorkloadClusterer
from tracelab.labels.config import LabelConfig, load_label_config
from tracelab.labels.rules import LABEL_COLUMNS, compute_labels

if TYPE_CHECKING:
    from tracelab.features.reference import ReferenceHardware


@dataclass
class LabeledTrace:
    """The labeled frame (canonical + features + labels + cluster), the fitted clusterer
    and a JSON-ready summary."""

    frame: pl.LazyFrame
    clusterer: WorkloadClusterer
    summary: dict[str, Any]


_WORK = (pl.col("prefill_device_s") + pl.col("decode_device_s")).alias("work_s")


def share_table(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """[by, requests, request_share, token_share, work_share], largest first."""
    total = frame.select(
        pl.len().alias("n"),
        pl.col("context_tokens").sum().cast(pl.Float64).alias("tok"),
        _WORK.sum().alias("work"),
    ).row(0, named=True)
    tok = total["tok"] or 1.0
    work = total["work"] or 1.0
    return (
        frame.group_by(by)
        .agg(
            pl.len().alias("requests"),
            pl.col("context_tokens").sum().cast(pl.Float64).alias("_tok"),
            _WORK.sum().alias("_work"),
        )
        .select(
            by,
            "requests",
            (pl.col("requests") / max(total["n"], 1)).alias("request_share"),
            (pl.col("_tok") / tok).alias("token_share"),
            (pl.col("_work") / work).alias("work_share"),
        )
        .sort(["requests", by], descending=[True, False], nulls_last=True)
    )


def summarize(
    frame: pl.DataFrame,
    clusterer: WorkloadClusterer,
    config: LabelConfig,
    model_map: dict[str, str] | None,
    assume_model: str | None,
) -> dict[str, Any]:
    """The JSON-ready summary of a labeled frame (see module docstring)."""
    labels = {col.removeprefix("label_"): share_table(frame, col).to_dicts() for col in LABEL_COLUMNS}
    clusters = share_table(frame, "cluster").sort("cluster", nulls_last=True).to_dicts()
    profiles = {p["cluster"]: p for p in clusterer.profiles_}
    for row in clusters:
        idx = row["cluster"]
        row["name"] = clusterer.names_[idx] if idx is not None else None
        row["profile"] = profiles.get(idx) if idx is not None else None
    models = (
        frame.group_by("model", "model_id", "model_match", "work_model_id", "work_model_assumed")
        .len("requests")
        .sort("requests", descending=True)
        .to_dicts()
    )
    device = frame.get_column("work_device").drop_nulls()
    return {
        "requests": frame.height,
        "labels": labels,
        "clusters": clusters,
        "k": clusterer.k_,
        "assumptions": {
            "model_map": model_map or {},
            "assume_model": assume_model,
            "reference_device": device.item(0) if device.len() else None,
            "work_model_assumed_requests": int(frame.get_column("work_model_assumed").sum()),
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
    placement label. The labeled frame is collected once (fitting and the summary need it).
    """
    from tracelab.features import compute_features, load_reference_hardware

    cfg = config or load_label_config()
    hw = hardware or load_reference_hardware()
    features = compute_features(
        frame, model_map=model_map, assume_model=assume_model, window_s=cfg.window_s, hardware=hw
    )
    labeled = compute_labels(features, cfg, edge_devices=hw.edge_devices).collect()
    model = clusterer or WorkloadClusterer(k=k, random_state=random_state).fit(labeled)
    out = model.assign(labeled.lazy()).collect()
    summary = summarize(out, model, cfg, model_map, assume_model)
    return LabeledTrace(frame=out.lazy(), clusterer=model, summary=summary)
