"""Claiming an output: an exclusive lock per target, and refusing folders tracelab did not write."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from tracelab.outputs.space import OutputError, _translated
from tracelab.outputs.stale import _LOCK, _TEMP, MANIFEST, sweep_stale

# Outputs this process holds the lock of (claimed by a command, then written by a stage).
_HELD: set[Path] = set()


@contextlib.contextmanager
def _lock(target: Path) -> Iterator[None]:
    """Exclusive lock on ``target`` (a hidden sibling file); OutputError when another process
    holds it. Re-entrant within this process (``claim`` then ``output_folder``)."""
    key = target.absolute()
    if key in _HELD:
        yield
        return
    _HELD.add(key)
    try:
        with _flock(target):
            yield
    finally:
        _HELD.discard(key)


@contextlib.contextmanager
def _flock(target: Path) -> Iterator[None]:
    import fcntl

    path = target.parent / _LOCK.format(target.name)
    while True:
        with _translated(target.parent):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            msg = (f"{target}: another tracelab run (pid {holder}) is writing it; wait for "
                   "it to finish or write elsewhere")
            raise OutputError(msg) from None
        try:
            same = path.stat().st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not unlinked by a previous holder between our open and flock
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


def _check_folder(target: Path) -> None:
    if target.exists() and not target.is_dir():
        msg = f"{target}: exists and is not a folder; write elsewhere"
        raise OutputError(msg)
    if target.is_dir():
        stranger = _foreign(target)
        if stranger is not None:
            msg = (f"{target}: holds files tracelab did not write (e.g. {stranger}); "
                   "write to a new or empty folder, or remove them")
            raise OutputError(msg)


def _check_file(target: Path) -> None:
    if target.is_dir():
        msg = f"{target}: is a folder; name a file to write"
        raise OutputError(msg)


@contextlib.contextmanager
def claim(target: Path, *, folder: bool) -> Iterator[None]:
    """Check that ``target`` (a folder of outputs, or one file) can be written and hold its
    lock for the block: a command claims its outputs before any heavy work, so a second
    run into the same output, a foreign folder or a read-only place fails at once."""
    _check_folder(target) if folder else _check_file(target)
    if not folder and not target.parent.is_dir():
        # The command decides whether a missing folder is made or an error; its write
        # (``output_files``) takes the lock then.
        yield
        return
    parent = _parent(target)
    sweep_stale([parent])
    with _lock(target):
        probe = parent / (_TEMP.format(target.name, os.getpid()) + ".probe")
        with _translated(parent):
            probe.touch()
        probe.unlink()
        yield


def _parent(target: Path) -> Path:
    parent = target.parent
    if not parent.is_dir():
        with _translated(parent):
            parent.mkdir(parents=True, exist_ok=True)
    return parent


# Files a report or plan folder held before folders had a manifest: still tracelab's own.
_KNOWN = re.compile(r"^(?:report\.md|report\.html|summary\.json|charts/[\w.-]+\.svg|"
                    r"fleet\.csv|fleet\.parquet|ledger\.parquet|plan\.json)$")


def _foreign(folder: Path) -> str | None:
    """The first entry of ``folder`` tracelab did not write (None: all its own, or empty):
    not listed in its manifest, nor (a folder from before manifests) a name tracelab writes."""
    entries = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                     if p.is_file() or p.is_symlink())
    if not entries:
        return None
    try:
        listed = set(json.loads((folder / MANIFEST).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        listed = set()
    if not listed:
        return next((e for e in entries if not _KNOWN.match(e) and e != MANIFEST), None)
    return next((e for e in entries if e not in listed and e != MANIFEST), None)
