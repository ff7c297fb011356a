"""``import_in_background``: load a later stage's heavy libraries while polars works.

polars releases the GIL while it runs a query, so a module imported on a thread meanwhile
costs the run little wall time (sklearn, which pulls in pandas, takes 1.2-1.9 s to import on
the project's 2-core reference machine; scipy.optimize ~0.5 s).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
import threading


def import_in_background(*names: str) -> None:
    """Import ``names`` (those not imported yet) on a daemon thread; an ImportError is left
    for the stage's own import to report."""
    missing = [name for name in names if name not in sys.modules]

    def load() -> None:
        # The cyclic collector is paused while modules load (its full passes over every
        # object so far, run by import-time allocations, took ~0.35 s of GIL time in a
        # report), and their objects, which live as long as the process, are then moved
        # out of its reach.
        gc.disable()
        try:
            for name in missing:
                with contextlib.suppress(ImportError):
                    importlib.import_module(name)
        finally:
            gc.freeze()
            gc.enable()

    if missing:
        threading.Thread(target=load, name="tracelab-imports", daemon=True).start()
