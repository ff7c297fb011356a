"""Process-wide settings the CLI owns (the library never changes them): the cyclic garbage
collector around background imports, and file descriptor 1 while library code runs.

A command owns its process, so it may do what an embedding application would not want a
library to do behind its back.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tracelab.background import load_modules

if TYPE_CHECKING:
    from rich.console import Console


def load_paused(names: Sequence[str]) -> None:
    """Import ``names`` with the cyclic collector paused, then freeze what they made.

    Its full passes over every object so far, set off by import-time allocations, took
    ~0.35 s of GIL time in a report; the modules' objects live as long as the process, so
    they are then moved out of its reach (``gc.freeze``)."""
    gc.disable()
    try:
        load_modules(names)
    finally:
        gc.freeze()
        gc.enable()


@contextmanager
def cli_process() -> Iterator[None]:
    """Point file descriptor 1 at ``os.devnull`` while library code runs, so stdout
    carries only the data the command prints afterwards (``--json > out.json``).

    HiGHS 1.12 (bundled with scipy 1.17) prints
    ``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();`` with a bare
    ``printf`` that ignores ``disp=False`` and every output option (ERGO-Code/HiGHS#2783);
    the library does not touch fd 1, so its callers keep their stdout. Python-level writes
    to ``sys.stdout`` are flushed before and after.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# Width of the tables printed into a file or pipe: rich falls back to 80 columns there and
# then drops or breaks columns (a saved `tracelab label` lost two; ids broke mid-word).
PIPED_WIDTH = 200


def stdout_console() -> Console:
    """The console a command prints its tables to: the terminal's width on a terminal,
    COLUMNS when set, else PIPED_WIDTH, so output saved to a file keeps every column."""
    from rich.console import Console

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(file=sys.stdout, width=PIPED_WIDTH if piped else None)
