"""Writing outputs: files renamed into place on success, folders swapped in as one set."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from tracelab.outputs.locks import _check_file, _check_folder, _lock, _parent
from tracelab.outputs.space import OutputError, _size, _translated, check_space, describe_os_error
from tracelab.outputs.stale import _OLD, _STAGE, _TEMP, MANIFEST

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


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
