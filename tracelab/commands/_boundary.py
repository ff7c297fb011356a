"""The CLI's error boundary: a user's mistake is one line on stderr and exit code 2.

Library errors state facts in the library's terms; here they get the CLI's: an option's
library name becomes its flag (``window_s`` → ``--window-s``) and the advice for the
option an error involves (``TracelabError.param``) is added as its ``hint``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from tracelab.errors import ParamError, TracelabError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_USER_ERROR = 2
# Library option names whose flag is not ``--`` + the name with dashes.
FLAGS = {
    "slos": "--slo",
    "prices": "--price",
    "paths": "INPUT",
}
# What to pass to fix an error involving an option (``TracelabError.param``): for a value
# that broke its constraint (``ParamError``, whose message already names the flag) and for
# any other error.
PARAM_HINTS = {
    "only": "see `tracelab hardware` for ids, or give a price with --price ID=USD",
    "exclude": "allow at least one priced device with --only/--exclude",
    "prices": "write --price ID=USD, e.g. --price h100-sxm=2.10 (ids: `tracelab hardware`)",
    "model_map": "write --model-map NAME=ID, e.g. --model-map gpt-4o=llama-3.1-70b",
}
HINTS = {
    **PARAM_HINTS,
    "assume_model": "pass --assume-model ID (e.g. llama-3.1-8b) or --model-map NAME=ID "
                    "(ids: `tracelab models`)",
    "model_map": "fix --model-map NAME=ID or map to another id (ids: `tracelab models`)",
    "exclude": "drop --only/--exclude, or map the model to a smaller one with --model-map",
    "slos": "relax it with --slo MODE.FIELD=SECONDS, or allow more devices (--only/--exclude)",
    "window_s": "narrow --only, or change --window-s, --percentile or --growth",
    "by": "pass --by labels or --by cluster",
    "strict": "fix those rows, or drop --strict to write them to <out>.rejected",
    "format": "pass --format with the file's real format (see `tracelab formats`)",
    "precision": "choose another --precision (bf16, fp8, fp4) or another device",
    "sample_rate": "pass --sample-rate below 1 to sample, or 1 for an exact curve",
    "executor": "use --executor inline, local or dask",
    "scheduler": "use --executor dask with exactly one of --scheduler ADDRESS or "
                 "--local-cluster N",
    "local_cluster": "give --local-cluster N with N >= 1",
    "model": "pass a file written by `tracelab label --save-model`",
    "attainment": "pass --attainment in (0, 1], e.g. 0.99",
    "query": "pass --query SQL to read another table",
    "providers": "pass --providers bundled to plan with the per-token providers beside the "
                 "pools (or --providers FILE with your negotiated prices)",
}


def flag(param: str) -> str:
    """The CLI's spelling of a library option name."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


def render(exc: TracelabError) -> str:
    """The one line the CLI prints for ``exc``: its message in the CLI's terms, then the
    hint (the error's own, else the advice for the option it involves)."""
    message = exc.render(flag(exc.param or "")) if isinstance(exc, ParamError) else str(exc)
    table = PARAM_HINTS if isinstance(exc, ParamError) else HINTS
    hint = exc.hint or table.get(exc.param or "")
    return f"{message}; {hint}" if hint else message


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
        from tracelab.commands._sources import command_scope

        try:
            with contextlib.ExitStack() as stack:
                if folders or files:
                    from tracelab.outputs import claim

                    for name, is_folder in [(n, True) for n in folders] + [(n, False) for n in files]:
                        if kwargs.get(name) is not None:
                            stack.enter_context(claim(Path(kwargs[name]), folder=is_folder))
                stack.enter_context(command_scope())
                return func(*args, **kwargs)
        except TracelabError as exc:
            raise fail(render(exc)) from None

    return wrapper
