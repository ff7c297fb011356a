"""The ``tracelab`` command: thin verbs over the library, one module each in ``commands/``."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import os
import sys
import threading
import types

import typer

app = typer.Typer(
    name="tracelab",
    help="Where did each LLM token go, and where should it go? "
    "Reads serving logs, labels the workload and plans the hardware tier mix.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# The pipeline's verbs, in the order `tracelab --help` lists them.
VERBS = (
    "report",
    "ingest",
    "inspect",
    "formats",
    "label",
    "cache",
    "plan",
    "simulate",
    "diff",
    "hardware",
    "models",
    "perf",
    "calibrate",
    "synth",
    "export",
)

for _verb in VERBS:
    if importlib.util.find_spec(f"tracelab.commands.{_verb}") is not None:
        importlib.import_module(f"tracelab.commands.{_verb}").register(app)


def main() -> None:
    """The ``tracelab`` command: run ``app``, then leave without the interpreter's teardown.

    A normal exit frees every module and object one by one; with sklearn (and the scipy
    and pandas it imports) loaded that alone took 0.3-0.5 s of a 13 s report. So once the
    command is done, Python's own exit steps still run (non-daemon threads are joined,
    atexit handlers and finalizers such as the work folder's removal run), and the last
    of them, registered here first, flushes the streams and ends the process with the
    command's status. (A handler registered before ``main`` starts would be skipped:
    tracelab registers none, and its imports up to here register none.)
    """
    import signal

    from tracelab.outputs import sweep_stale

    status = [1]  # an exception other than SystemExit: Python reports it, status 1
    atexit.register(_leave, status)
    # SIGTERM (kill, a CI timeout) unwinds like Ctrl-C: temporary outputs and the work
    # folder are removed on the way out; what a killed (-9) run left is swept at start.
    signal.signal(signal.SIGTERM, _terminated)
    try:
        sweep_stale()
        app()
        status[0] = 0
    except SystemExit as exc:
        if not _TERMINATING.is_set():
            status[0] = _exit_status(exc.code)
            raise
        _say_terminated(status)
    except Terminated:
        _say_terminated(status)
    except KeyboardInterrupt:
        status[0] = 130  # the shell's code for a command stopped by Ctrl-C
        raise
    except BaseException:
        # Terminated raised inside a library callback (polars, a thread pool) can come out
        # wrapped in the library's own error; the flag says what it really was.
        if not _TERMINATING.is_set():
            raise
        _say_terminated(status)


_TERMINATING = threading.Event()


def _say_terminated(status: list[int]) -> None:
    import signal

    status[0] = 128 + signal.SIGTERM
    sys.stderr.write("tracelab: terminated; temporary files removed, no output written\n")


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so every ``finally`` and ``with`` runs (not an
    Exception, so nothing on the way catches it as an error)."""


_CALLBACK_PACKAGES = ("polars", "pyarrow")


def _terminated(signum: int, frame: types.FrameType | None) -> None:
    # Never raise inside the import machinery: an exception there can leave an import
    # lock held, and the next import (the background loader's or this thread's) then
    # waits forever. Ask again a moment later, once the import is done.
    # Nor inside a package whose native code calls back into Python (polars computing a
    # schema, pyarrow): an exception raised in such a callback makes the native side panic
    # and print its backtrace. Both return to Python within moments.
    native = tuple(m.__file__.rpartition(os.sep)[0] + os.sep for name in _CALLBACK_PACKAGES
                   if (m := sys.modules.get(name)) is not None and m.__file__)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen importlib") or (native and name.startswith(native)):
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        frame = frame.f_back
    _TERMINATING.set()
    raise Terminated


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    return code if isinstance(code, int) else 1  # a message: Python has printed it


def _leave(status: list[int]) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # e.g. a closed pipe: nothing left to do
            stream.flush()
    os._exit(status[0])
