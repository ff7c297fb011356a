"""The incremental mode: a watermark file remembers the last row read, so the next run reads
only newer ones (a nightly job over a growing ``LiteLLM_SpendLogs``).

The file is JSON: ``{"source": <redacted URI>, "startTime": ISO, "request_id": ...}``.
Absent: everything is read. It is rewritten only after the command that read the rows
finished (``commit``), so a failed run reads the same rows again next time. A row whose
``startTime`` is older than the mark but is committed to the table later (LiteLLM writes
spend logs from a queue, every few seconds) is not read by the next run; ending the nightly
window a few minutes in the past (``--until``) keeps such rows in the following one.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from tracelab.errors import DatabaseError
from tracelab.sources.query import ID_COLUMN, TIME_COLUMN, Mark


def load(path: Path) -> Mark | None:
    """The mark stored in ``path`` (None when the file does not exist yet)."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Mark(datetime.fromisoformat(data[TIME_COLUMN]), str(data[ID_COLUMN]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = (f"{path}: not a watermark file ({type(exc).__name__}: {exc}); delete it to "
               "read every row again")
        raise DatabaseError(msg) from None


def save(path: Path, mark: Mark, source: str) -> None:
    """Write ``mark`` to ``path`` (through a temporary file, so a crash leaves the old one)."""
    data = {"source": source, TIME_COLUMN: mark.time.isoformat(), ID_COLUMN: mark.request_id}
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(json.dumps(data, indent=2) + "\n")
        partial.replace(path)
    except OSError as exc:
        msg = f"{path}: cannot write the watermark ({exc.strerror or exc}); check the folder"
        raise DatabaseError(msg) from None
