"""Exports: a trace (or one class of it) in the input formats benchmarking tools replay."""

from __future__ import annotations

from tracelab.export.replay import TARGETS, ReplayExport, compute_replay, write_replay

__all__ = ["TARGETS", "ReplayExport", "compute_replay", "write_replay"]
