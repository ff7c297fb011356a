"""Per-request features: tokens, model facts, work per phase, sessions, evidence, arrivals.

``FEATURES`` lists every column with unit, formula and inputs; ``compute_features`` adds
them to the canonical request frame lazily, after one narrow collect of each row's model,
session and co-submission keys (``row_keys``). Features that need other rows (sessions,
co-submission) are computed on that table and attached by the row's position
(``tracelab.positions``); the arrival windows are a group_by joined back in input order.
The wide frame stays a plan that runs on polars' streaming engine in input order.
"""

from __future__ import annotations

from collections.abc import Collection

import polars as pl

from tracelab.features.behaviour import (
    EVIDENCE_KEYS,
    SESSION_EVIDENCE,
    SUBMISSION_EVIDENCE,
    compute_session_evidence,
    compute_submission_evidence,
    submission_key,
)
from tracelab.features.context import (
    ROW,
    SESSION_FEATURES,
    WINDOW_FEATURES,
    ContextTables,
    compute_arrival_features,
    compute_co_submitted,
    compute_context_tables,
    compute_evidence_features,
    compute_session_features,
    compute_session_table,
    row_keys,
)
from tracelab.features.reference import ReferenceHardware, load_reference_hardware
from tracelab.features.registry import FEATURE_NAMES, FEATURES, Feature, describe_features
from tracelab.features.tokens import compute_token_features
from tracelab.features.work import compute_model_features, compute_work_features
from tracelab.positions import attach_by_position

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "ContextTables",
    "Feature",
    "ReferenceHardware",
    "compute_context_tables",
    "compute_features",
    "compute_work_features",
    "describe_features",
    "load_reference_hardware",
]


def compute_features(
    frame: pl.LazyFrame,
    *,
    model_map: dict[str, str] | None = None,
    assume_model: str | None = None,
    window_s: float = 60.0,
    hardware: ReferenceHardware | None = None,
    context: ContextTables | None = None,
    columns: Collection[str] | None = None,
) -> pl.LazyFrame:
    """The canonical frame plus every column of ``FEATURES``, rows in input order.

    ``model_map`` maps logged names to registry ids (``--model-map NAME=ID``);
    ``assume_model`` is used for names the registry does not know and for rows without a
    model. ``hardware`` defaults to ``load_reference_hardware()`` (h100-sxm, bf16, decode
    batch 32, reference model llama-3.1-8b). ``context`` (``compute_context_tables`` of
    the whole trace) is given when ``frame`` is one part of a trace holding whole sessions,
    so arrival-window and co-submission features still see every request. ``columns``:
    the features wanted (default all); the others are left out, and those that other rows
    decide (session columns, the arrival-window join) are not computed at all.
    """
    if hardware is None:
        hardware = load_reference_hardware()
    input_columns = frame.collect_schema().names()
    lf = frame.with_row_index(ROW).with_columns(compute_token_features())
    # One narrow collect of what the features across rows read (one pass, not one each).
    keys = lf.select(*row_keys(), pl.col("model"), submission_key()).collect(engine="streaming")
    lf = compute_model_features(lf, hardware, keys.get_column("model").unique().to_list(),
                                model_map, assume_model)
    names = [name for name in FEATURE_NAMES if columns is None or name in columns]
    lf = _behaviour_features(
        lf, keys, [c for c in SESSION_FEATURES if c in names],
        [c for c in (*SESSION_EVIDENCE, *SUBMISSION_EVIDENCE) if c in names])
    lf = compute_co_submitted(lf.with_columns(compute_evidence_features()), keys,
                              None if context is None else context.co_submitted)
    if any(name in names for name in WINDOW_FEATURES):
        lf = compute_arrival_features(lf, window_s, None if context is None else context.windows)
    kept = [c for c in input_columns if c not in FEATURE_NAMES]
    return lf.select(*kept, *names)


def _behaviour_features(lf: pl.LazyFrame, keys: pl.DataFrame, session: list[str],
                        evidence: list[str]) -> pl.LazyFrame:
    """The session columns, then the session and submission evidence
    (``tracelab.features.behaviour``) from the same session table, attached by position."""
    wanted = [c for c in SESSION_EVIDENCE if c in evidence]
    if not session and not wanted:
        table = None
    else:
        table = compute_session_table(keys, EVIDENCE_KEYS if wanted else ())
        lf = compute_session_features(lf, keys, session, table=table)
    if wanted and table is not None:
        lf = attach_by_position(lf, compute_session_evidence(table).select(ROW, *wanted),
                                ROW, keys.height)
    if SUBMISSION_EVIDENCE[0] in evidence:
        if keys.get_column("_unspread").any():
            lf = attach_by_position(lf, compute_submission_evidence(keys), ROW, keys.height)
        else:  # every request has an arrival time or was streamed: no submission
            lf = lf.with_columns(pl.lit(None, pl.Int64).alias(SUBMISSION_EVIDENCE[0]))
    return lf
