"""Explainable workload labels (phase, context, mode, model size, placement) and clusters.

Rules and thresholds: ``rules.py`` and ``tracelab/data/labels.toml``; clusters:
``cluster.py``; the whole-trace entry point: ``label_trace``; computed once for the
pipeline's later stages: ``materialise_labels`` then ``cluster_labeled``.
"""

from __future__ import annotations

from tracelab.labels.cluster import CLUSTER_FEATURES, WorkloadClusterer
from tracelab.labels.cluster_io import read_cluster_model, write_cluster_model
from tracelab.labels.config import LabelConfig, load_label_config
from tracelab.labels.materialise import NOT_MATERIALISED, materialise_labels
from tracelab.labels.pipeline import LabeledTrace, cluster_labeled, label_trace, share_table
from tracelab.labels.rules import LABEL_AXES, LABEL_COLUMNS, REASON_COLUMNS, compute_labels

__all__ = [
    "CLUSTER_FEATURES",
    "LABEL_AXES",
    "LABEL_COLUMNS",
    "NOT_MATERIALISED",
    "REASON_COLUMNS",
    "LabelConfig",
    "LabeledTrace",
    "WorkloadClusterer",
    "cluster_labeled",
    "compute_labels",
    "label_trace",
    "load_label_config",
    "materialise_labels",
    "read_cluster_model",
    "share_table",
    "write_cluster_model",
]
