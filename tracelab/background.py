"""``import_in_background``: load a later stage's heavy libraries while polars works.

polars releases the GIL while it runs a query, so a module imported on a thread meanwhile
costs the run little wall time (sklearn, which pulls in pandas, takes 1.2-1.9 s to import on
the project's 2-core reference machine; scipy.optimize ~0.5 s).

Library code: the thread only imports; it leaves the garbage collector and every other
process setting alone. A front end that owns the process may pass its own ``loader`` (the
CLI pauses the cyclic collector around the imports: ``tracelab.commands._process``).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable, Sequence


def load_modules(names: Sequence[str]) -> None:
    """Import ``names`` in turn; an ImportError is left for the stage's own import."""
    for name in names:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def import_in_background(*names: str,
                         loader: Callable[[Sequence[str]], None] = load_modules) -> None:
    """Import ``names`` (those not imported yet) with ``loader`` on a daemon thread."""
    missing = [name for name in names if name not in sys.modules]
    if missing:
        threading.Thread(target=loader, args=(missing,), name="tracelab-imports",
                         daemon=True).start()
