"""Writing outputs so that nothing is torn, nothing stale, and two runs never both win.

Every command that writes files goes through this module:

- :func:`output_files` (one or a few files, e.g. ``ingest -o trace.parquet`` and its
  rejected rows): each file is written under a temporary name in its target folder and
  renamed into place only when the command succeeded, so a reader never sees a half
  file and a killed run leaves the previous file or none.
- :func:`output_folder` (a folder of files, ``report -o DIR``, ``plan -o DIR``): the whole
  set is written into a hidden sibling folder and swapped with the target in one rename
  (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames, between which a kill
  leaves no folder), so a killed run leaves the previous complete set or none, and files of
  an earlier run that this one does not write are gone with the old folder. A folder is
  replaced only when tracelab wrote everything in it (listed in its ``MANIFEST``) or it is
  empty; a folder holding anyone else's files is refused.
- both take an exclusive lock (``fcntl.flock`` on a hidden sibling ``.NAME.tracelab-lock``,
  released by the kernel if the process dies), so a second run into the same output fails
  in one line instead of racing the first.

A full disk, a read-only folder or a permission error is an :class:`OutputError` naming the
folder (and, for a full disk, what the run needed), with every temporary file removed.
:func:`sweep_stale` removes the temporary folders of tracelab processes that no longer run.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tracelab.errors import TracelabError

MANIFEST = ".tracelab-outputs.json"
_LOCK = ".{}.tracelab-lock"
_STAGE = ".{}.tracelab-new-{}"
_OLD = ".{}.tracelab-old-{}"
_TEMP = ".{}.tracelab-tmp-{}"
# Temporary names of this module and of work folders: the pid says whose they are.
_STALE = re.compile(r"^(?:\..+\.tracelab-(?:new|old|tmp)-(\d+)(?:\.[^.]+)?|tracelab-work-(\d+)-.*)$")
WORK_PREFIX = "tracelab-work-{}-"
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class OutputError(TracelabError):
    """An output cannot be written: full disk, read-only, locked by another run, foreign folder."""


def is_temporary(name: str) -> bool:
    """A name this module or a work folder uses for a temporary file or folder."""
    return _STALE.match(name) is not None or name.endswith(".tracelab-lock")


def work_prefix() -> str:
    """Prefix of this process's temporary work folders (``sweep_stale`` knows whose they are)."""
    return WORK_PREFIX.format(os.getpid())


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folders: Sequence[Path] = ()) -> list[Path]:
    """Remove tracelab's temporary files and folders left by processes that are gone, in the
    system temp folder and in ``folders`` (an output's parent); returns what was removed."""
    removed = []
    for folder in (Path(tempfile.gettempdir()), *folders):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".tracelab-lock") and _unlocked(entry):
                removed.append(entry)
                continue
            match = _STALE.match(entry.name)
            if match is None or _alive(int(match.group(1) or match.group(2))):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
                removed.append(entry)
    return removed


def _unlocked(path: Path) -> bool:
    """Remove a lock file nobody holds (its run was killed); True when it was removed. The
    file is unlinked while we hold it, so a run that opened it meanwhile sees a new inode
    and retries (see ``_flock``)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink()
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


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


@contextlib.contextmanager
def output_files(*targets: Path, remove: Sequence[Path] = ()) -> Iterator[list[Path]]:
    """Temporary paths beside ``targets``, renamed onto them when the block succeeds.

    ``remove``: files of an earlier run this one replaces with nothing (e.g. a rejected-rows
    file when no row was rejected), deleted on success. A temporary path the block did not
    write is not renamed (the target is left as it was). On any error every temporary file
    is removed and the targets are untouched.
    """
    for target in targets:
        _check_file(target)
        _parent(target)
    temps = [t.parent / (_TEMP.format(t.name, os.getpid()) + t.suffix) for t in targets]
    with contextlib.ExitStack() as stack:
        for target in targets:
            stack.enter_context(_lock(target))
        try:
            with _translated(targets[0].parent, None):
                yield temps
                for temp, target in zip(temps, targets, strict=True):
                    if temp.exists():
                        temp.replace(target)
                for old in remove:
                    with contextlib.suppress(FileNotFoundError):
                        old.unlink()
        except BaseException as exc:
            written = sum(_size(t) for t in temps)
            for temp in temps:
                with contextlib.suppress(OSError):
                    temp.unlink()
            if isinstance(exc, OutputError) and "no space left" in str(exc) and written:
                msg = describe_os_error(OSError(errno.ENOSPC, "full"), targets[0], written)
                raise OutputError(msg or str(exc)) from None
            raise


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


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False when the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result != 0:
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL):
            return False
        raise OSError(code, os.strerror(code), str(b))
    return True


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


@contextlib.contextmanager
def output_folder(target: Path, needed_bytes: int | None = None) -> Iterator[Path]:
    """A staging folder whose files replace ``target``'s as one set when the block succeeds
    (see the module docstring). Refuses a non-empty target holding files tracelab did not
    write, and a target that is a file. ``needed_bytes``: what the block will write, when
    known; less free space than that is refused before anything is written."""
    _check_folder(target)
    parent = _parent(target)
    if needed_bytes is not None:
        check_space(target if target.is_dir() else parent, needed_bytes)
    in_place = target.is_dir() and os.path.ismount(target)  # a mount point cannot be swapped
    stage = (target / _STAGE.format("set", os.getpid())) if in_place else (
        parent / _STAGE.format(target.name, os.getpid()))
    with _lock(target):
        try:
            with _translated(target, stage):
                stage.mkdir()
                yield stage
                files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*")
                               if p.is_file())
                (stage / MANIFEST).write_text(json.dumps({"files": files}, indent=1) + "\n")
                if in_place:
                    _replace_in_place(stage, target, files)
                else:
                    _swap(stage, target)
        finally:
            with contextlib.suppress(OSError):
                if stage.exists():
                    shutil.rmtree(stage)


def _swap(stage: Path, target: Path) -> None:
    if not target.exists():
        stage.rename(target)
        return
    if not _exchange(stage, target):
        old = target.parent / _OLD.format(target.name, os.getpid())
        target.rename(old)
        stage.rename(target)
        stage = old
    shutil.rmtree(stage)  # now the previous set


def _replace_in_place(stage: Path, target: Path, files: list[str]) -> None:
    """For a target that is a mount point: file by file, the manifest last."""
    (target / MANIFEST).unlink(missing_ok=True)
    for old in sorted(p for p in target.rglob("*") if p.is_file() and stage not in p.parents):
        if old.relative_to(target).as_posix() not in files:
            old.unlink()
    for name in files:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).replace(target / name)
    (stage / MANIFEST).replace(target / MANIFEST)
