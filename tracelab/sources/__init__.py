"""Sources that are not files: databases read into Parquet for ingest (``tracelab.ingest``).

``locate`` says whether an input names a database (a PostgreSQL URI, a DuckDB or SQLite
file); ``spool`` streams its rows (LiteLLM's ``LiteLLM_SpendLogs``, or a query) into a
Parquet file that ingest then reads like any other; ``watermark`` keeps the incremental
mode's last-read mark.
"""

from __future__ import annotations

from tracelab.sources.query import Mark, Window
from tracelab.sources.read import DatabaseInput, Spooled, parse_bound, spool
from tracelab.sources.uri import Location, locate, redact

__all__ = ["DatabaseInput", "Location", "Mark", "Spooled", "Window", "locate", "parse_bound",
           "redact", "spool"]
