"""Names of tracelab's temporary files, and sweeping those of processes that are gone.

Every temporary name carries the pid of the process that made it, so :func:`sweep_stale`
can tell a running write's files from a killed one's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

MANIFEST = ".tracelab-outputs.json"
_LOCK = ".{}.tracelab-lock"
_STAGE = ".{}.tracelab-new-{}"
_OLD = ".{}.tracelab-old-{}"
_TEMP = ".{}.tracelab-tmp-{}"
# Temporary names of this package and of work folders: the pid says whose they are.
_STALE = re.compile(r"^(?:\..+\.tracelab-(?:new|old|tmp)-(\d+)(?:\.[^.]+)?|tracelab-work-(\d+)-.*)$")
WORK_PREFIX = "tracelab-work-{}-"


def is_temporary(name: str) -> bool:
    """A name this package or a work folder uses for a temporary file or folder."""
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
    and retries (see ``locks._flock``)."""
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
