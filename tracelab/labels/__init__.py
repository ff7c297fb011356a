"""Explainable workload labels (phase, context, mode, model size, placement) and clusters.

The axes, their values and order: ``axes.py``; rules and thresholds: ``rules.py`` and ``tracelab/data/labels.toml``; clusters:
``cluster.py``; the whole-trace entry point: ``label_trace``; computed once for the
pipeline's later stages: ``materialise_labels`` then ``cluster_labeled``.
"""

from __future__ import annotations

from tracelab.labels.axes import (
    AXES,
    LabelAxis,
    compute_labels,
    get_axis,
    label_axes,
    label_columns,
    label_dtype,
    reason_columns,
)
from tracelab.labels.cluster import CLUSTER_FEATURES, WorkloadClusterer
from tracelab.labels.cluster_io import read_cluster_model, write_cluster_model
from tracelab.labels.config import LabelConfig, load_label_config
from tracelab.labels.materialise import materialise_labels, not_materialised
from tracelab.labels.pipeline import LabeledTrace, cluster_labeled, label_trace, share_table

__all__ = [
    "AXES",
    "CLUSTER_FEATURES",
    "LabelAxis",
    "LabelConfig",
    "LabeledTrace",
    "WorkloadClusterer",
    "cluster_labeled",
    "compute_labels",
    "get_axis",
    "label_axes",
    "label_columns",
    "label_dtype",
    "label_trace",
    "load_label_config",
    "materialise_labels",
    "not_materialised",
    "read_cluster_model",
    "reason_columns",
    "share_table",
    "write_cluster_model",
]
