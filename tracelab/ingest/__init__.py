"""Ingest: every supported serving-log format into the canonical request frame.

``scan_trace`` gives the accepted rows lazily; ``read_trace`` also gives the rejected rows
and counts. ``FORMATS`` is the registry of adapters (``tracelab formats`` lists it).
"""

from __future__ import annotations

from tracelab.ingest.formats import FORMATS, Adapter
from tracelab.ingest.reader import Trace, read_trace, scan_trace

__all__ = ["FORMATS", "Adapter", "Trace", "read_trace", "scan_trace"]
