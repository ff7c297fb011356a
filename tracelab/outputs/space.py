"""Describing file-system errors in one line, and checking free space before writing."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from tracelab.errors import TracelabError


class OutputError(TracelabError):
    """An output cannot be written: full disk, read-only, locked by another run, foreign folder."""


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def describe_os_error(exc: BaseException, where: Path, written: int = 0) -> str | None:
    """One line for an OSError (or a polars error wrapping one) while writing ``where``;
    None when it is not a file-system problem the user can fix."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code is None:
        found = re.search(r"os error (\d+)", text)
        code = int(found.group(1)) if found else None
    if code in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = shutil.disk_usage(where if where.is_dir() else where.parent).free
        except OSError:
            free = 0
        return (f"{where}: no space left on the device: this run needed more than "
                f"{_mb(written + free)} there ({_mb(written)} written when it ran out, "
                f"{_mb(free)} free); free some space or write elsewhere")
    if code == errno.EROFS:
        return f"{where}: the file system is read-only; write elsewhere"
    if code in (errno.EACCES, errno.EPERM):
        return f"{where}: permission denied; write to a folder you can write to"
    if code == errno.ENOTDIR:
        return f"{where}: a part of the path is a file, not a folder; write elsewhere"
    if code is not None and isinstance(exc, OSError):
        return f"{where}: cannot write ({os.strerror(code)}); write elsewhere"
    return None


@contextlib.contextmanager
def _translated(where: Path, staged: Path | None = None) -> Iterator[None]:
    """OSErrors (and polars' wrapped ones) while writing → one-line OutputError."""
    import polars as pl

    try:
        yield
    except (OSError, pl.exceptions.PolarsError) as exc:
        if isinstance(exc, OutputError):
            raise
        message = describe_os_error(exc, where, _size(staged) if staged else 0)
        if message is None:
            raise
        raise OutputError(message) from None


def check_space(where: Path, needed: int) -> None:
    """OutputError when the file system holding the folder ``where`` has less than
    ``needed`` bytes free (checked before writing, so nothing is started)."""
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if free < needed:
        msg = (f"{where}: not enough space: this run needs {_mb(needed)} there and "
               f"{_mb(free)} is free; free some space or write elsewhere")
        raise OutputError(msg)
