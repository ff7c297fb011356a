"""tracelab: where did each LLM token go, and where should it go?

The library behind the ``tracelab`` command. The pipeline runs left to right:
``ingest`` → ``features`` → ``labels`` → ``plan`` (with ``hardware`` and ``cache``) →
``report``. Heavy modules are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracelab.errors import TracelabError

__version__ = "0.1.0"

__all__ = ["TracelabError", "__version__", "read_trace", "scan_trace"]

if TYPE_CHECKING:
    from tracelab.ingest import read_trace, scan_trace


def __getattr__(name: str) -> Any:
    if name in {"scan_trace", "read_trace"}:
        from tracelab import ingest

        return getattr(ingest, name)
    raise AttributeError(name)
