"""Writing outputs so that nothing is torn, nothing stale, and two runs never both win.

Every command that writes files goes through this package:

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

``stale`` names temporary files and sweeps dead runs' leftovers; ``space`` describes
file-system errors and checks free space; ``locks`` claims and locks an output; ``write``
writes files and folders.
"""

from __future__ import annotations

from tracelab.outputs.locks import claim
from tracelab.outputs.space import OutputError, check_space, describe_os_error
from tracelab.outputs.stale import MANIFEST, WORK_PREFIX, is_temporary, sweep_stale, work_prefix
from tracelab.outputs.write import output_files, output_folder

__all__ = [
    "MANIFEST",
    "WORK_PREFIX",
    "OutputError",
    "check_space",
    "claim",
    "describe_os_error",
    "is_temporary",
    "output_files",
    "output_folder",
    "sweep_stale",
    "work_prefix",
]
