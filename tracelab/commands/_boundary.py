"""The CLI's error boundary: a user's mistake is one line on stderr and exit code 2."""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from tracelab.errors import TracelabError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2


def fail(message: str) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the exit to raise (code 2)."""
    sys.stderr.write(f"Error: {' '.join(message.split())}\n")
    return typer.Exit(EXIT_USER_ERROR)


def boundary(func: F | None = None, *, folders: tuple[str, ...] = (),
             files: tuple[str, ...] = ()) -> Any:
    """Turn a ``TracelabError`` raised by a command into ``Error: ...`` and exit 2.

    ``folders``/``files``: the names of the command's output options (a folder of outputs,
    one file); each given one is claimed before the command runs (``tracelab.outputs.claim``:
    checked writable and locked against a concurrent run into it). Without ``func``: a
    decorator (``@boundary(files=("output",))``)."""
    if func is None:
        return functools.partial(boundary, folders=folders, files=files)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with contextlib.ExitStack() as stack:
                if folders or files:
                    from tracelab.outputs import claim

                    for name, is_folder in [(n, True) for n in folders] + [(n, False) for n in files]:
                        if kwargs.get(name) is not None:
                            stack.enter_context(claim(Path(kwargs[name]), folder=is_folder))
                return func(*args, **kwargs)
        except TracelabError as exc:
            raise fail(str(exc)) from None

    return wrapper
