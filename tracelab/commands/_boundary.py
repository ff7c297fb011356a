"""The CLI's error boundary: a user's mistake is one line on stderr and exit code 2."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from tracelab.errors import TracelabError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2


def fail(message: str) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the exit to raise (code 2)."""
    sys.stderr.write(f"Error: {' '.join(message.split())}\n")
    return typer.Exit(EXIT_USER_ERROR)


def boundary(func: F) -> F:
    """Turn a ``TracelabError`` raised by a command into ``Error: ...`` and exit 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tracelab.commands._sources import command_scope

        try:
            with command_scope():
                return func(*args, **kwargs)
        except TracelabError as exc:
            raise fail(str(exc)) from None

    return wrapper  # type: ignore[return-value]
