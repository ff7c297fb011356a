"""The label axes, defined once: each axis's name, columns, values in order, description, rule.

Everything downstream reads this module: the labels frame (``compute_labels``), the columns a
large trace keeps, the Enum the labels are (``label_dtype``), the cluster names, the report's
aggregates, summary and tables, the diff's vocabulary and the plan's classes. A new axis is
one more ``LabelAxis`` in ``AXES``. Read the registry through the functions below at call
time (never copy it into another module's constants), so it stays the only source.

Order: ``AXES`` is the column order (of the labels frame, the summary's ``labels`` section and
the diff's label metrics); ``LabelAxis.rank`` is the reading order of a cluster name
("interactive · short · decode-heavy · small") and of the timeline's series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

from tracelab.errors import ConfigError
from tracelab.labels.config import LabelConfig
from tracelab.labels.rules import (
    RuleContext,
    context_rule,
    mode_rule,
    model_rule,
    phase_rule,
    placement_rule,
)

# A rule: the label and reason expressions of one axis (see ``tracelab.labels.rules``).
Rule = Callable[[RuleContext], tuple[pl.Expr, pl.Expr]]
# What reports show for a null label; always one of ``label_dtype()``'s categories.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class LabelAxis:
    """One label axis: ``name`` ("phase"), every value its rule gives in reading order, what
    it means, its rule; ``rank``: its place in cluster names and the timeline (lowest
    first); whether cluster names and the timeline's series show it."""

    name: str
    values: tuple[str, ...]
    description: str
    rule: Rule
    rank: int = 100
    in_cluster_name: bool = True
    in_timeline: bool = False

    @property
    def column(self) -> str:
        """The label column, ``label_<name>``."""
        return f"label_{self.name}"

    @property
    def reason_column(self) -> str:
        """The reason column, ``label_<name>_reason``."""
        return f"label_{self.name}_reason"


AXES: tuple[LabelAxis, ...] = (
    LabelAxis(
        "phase", ("prefill-heavy", "balanced", "decode-heavy"),
        "Where the device-time goes on the reference device: the prefill share of prefill + "
        "decode device-seconds against the prefill-heavy and decode-heavy bounds.",
        phase_rule, rank=2, in_timeline=True),
    LabelAxis(
        "context", ("short", "medium", "long", "very-long"),
        "context_tokens (input + output) against the short, medium and long bounds.",
        context_rule, rank=1),
    LabelAxis(
        "mode", ("interactive", "agentic", "batch", UNKNOWN),
        "How the requests are used: interactive (streamed, TTFT logged, a session with human "
        "think times, first turn included), agentic (a session of machine-speed turns whose "
        "context grows: an agent or tool loop) or batch (batch endpoint, a burst of one "
        "tenant, a job handed over without arrival times); unknown without evidence.",
        mode_rule, rank=0, in_timeline=True),
    LabelAxis(
        "model", ("small", "large", UNKNOWN),
        "Active parameters of the served model against the small-model bound; unknown when "
        "the model is not in the registry.",
        model_rule, rank=3),
    LabelAxis(
        "placement", ("edge-eligible", "datacenter"),
        "Edge-eligible: a small model, a short context, interactive use and weights + KV "
        "within an edge device's usable memory; datacenter otherwise.",
        placement_rule, rank=4, in_cluster_name=False),
)


def label_axes() -> tuple[LabelAxis, ...]:
    """Every label axis, in column order."""
    return AXES


def get_axis(name: str) -> LabelAxis:
    """The axis called ``name`` ("mode") or with that column ("label_mode")."""
    for axis in AXES:
        if name in (axis.name, axis.column):
            return axis
    msg = f"unknown label axis {name!r}; axes: {', '.join(a.name for a in AXES)}"
    raise ConfigError(msg)


def label_columns() -> tuple[str, ...]:
    """``label_<axis>`` for every axis, in column order."""
    return tuple(axis.column for axis in AXES)


def reason_columns() -> tuple[str, ...]:
    """``label_<axis>_reason`` for every axis, in column order."""
    return tuple(axis.reason_column for axis in AXES)


def label_values() -> dict[str, tuple[str, ...]]:
    """label column → the values its rule gives, in reading order."""
    return {axis.column: axis.values for axis in AXES}


def label_dtype() -> pl.Enum:
    """The one Enum every label column is: every value of every axis and ``UNKNOWN``, sorted
    lexically (so group_by and sort order are the values' own)."""
    return _enum(tuple(sorted({UNKNOWN, *(v for axis in AXES for v in axis.values)})))


@lru_cache(maxsize=8)
def _enum(categories: tuple[str, ...]) -> pl.Enum:
    return pl.Enum(list(categories))


def _by_rank(keep: Callable[[LabelAxis], bool]) -> tuple[str, ...]:
    return tuple(a.column for a in sorted(AXES, key=lambda a: a.rank) if keep(a))


def cluster_name_columns() -> tuple[str, ...]:
    """The label columns a cluster's name is made of, in reading order."""
    return _by_rank(lambda axis: axis.in_cluster_name)


def timeline_columns() -> tuple[str, ...]:
    """The label columns the report's timeline splits its series by, in reading order."""
    return _by_rank(lambda axis: axis.in_timeline)


def _rules(config: LabelConfig, edge_devices: pl.DataFrame) -> list[tuple[pl.Expr, pl.Expr]]:
    ctx = RuleContext(config, edge_devices, label_dtype())
    return [axis.rule(ctx) for axis in AXES]


def label_inputs(config: LabelConfig, edge_devices: pl.DataFrame) -> set[str]:
    """The columns the label values read (their reasons aside): what a frame must carry
    for ``compute_labels`` when only the labels are kept."""
    return {name for label, _ in _rules(config, edge_devices) for name in label.meta.root_names()}


def compute_labels(
    features: pl.LazyFrame,
    config: LabelConfig | None = None,
    *,
    edge_devices: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """Add ``label_<axis>`` and ``label_<axis>_reason`` for every axis of ``AXES``.

    An axis whose rule reads another axis's label (placement reads model, context and mode)
    is added in a later ``with_columns`` than the labels it reads. ``edge_devices``
    ([device, mem_gb]) defaults to the catalog's edge tier.
    """
    cfg = config or LabelConfig()
    if edge_devices is None:
        from tracelab.labels.hardware import load_edge_devices

        edge_devices = load_edge_devices()
    pending = list(zip(AXES, _rules(cfg, edge_devices), strict=True))
    columns = set(label_columns())
    done: set[str] = set()
    while pending:  # layers of axes (two today), not rows
        ready = [(axis, exprs) for axis, exprs in pending
                 if not (columns - done - {axis.column})
                 & {n for e in exprs for n in e.meta.root_names()}]
        if not ready:
            names = ", ".join(axis.name for axis, _ in pending)
            msg = f"label axes {names} read each other's labels; no order computes them"
            raise ValueError(msg)  # a bug in AXES, not the user's input
        features = features.with_columns(
            expr.alias(name) for axis, (label, reason) in ready
            for expr, name in ((label, axis.column), (reason, axis.reason_column))
        )
        done |= {axis.column for axis, _ in ready}
        pending = [(axis, exprs) for axis, exprs in pending if axis.column not in done]
    return features
