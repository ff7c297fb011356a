"""Database inputs at the CLI: their options, and the folder their rows are spooled into.

A verb's INPUT may name a database (``postgresql://…``, a ``.duckdb`` or ``.sqlite`` file;
``tracelab.sources.uri``). ``resolve`` streams each into a Parquet file in a temporary
folder that lives as long as the command (``command_scope``, opened by the CLI boundary)
and hands the verb that file instead. A watermark (``--watermark``) is rewritten only when
the command returns normally, so a failed run reads the same rows again.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from tracelab.errors import ConfigError

Query = Annotated[
    str | None,
    typer.Option("--query", help="Database inputs: read the rows of this SQL instead of "
                 "LiteLLM's LiteLLM_SpendLogs table."),
]


def _bound(flag: str, rule: str) -> Any:
    return typer.Option(flag, help=f"Database inputs: only rows with startTime {rule} this ISO "
                        "date/time (UTC unless it has an offset); filtered by the server.")


Since = Annotated[str | None, _bound("--since", "at or after")]
Until = Annotated[str | None, _bound("--until", "before")]
Watermark = Annotated[
    Path | None,
    typer.Option("--watermark", help="Database input: read only rows newer than the last run "
                 "recorded in this file, and record this run's last row in it on success."),
]


@dataclass(frozen=True)
class SourceOptions:
    query: str | None = None
    since: str | None = None
    until: str | None = None
    watermark: Path | None = None

    def given(self) -> list[str]:
        names = ("--query", "--since", "--until", "--watermark")
        values = (self.query, self.since, self.until, self.watermark)
        return [name for name, value in zip(names, values, strict=True) if value is not None]


class _Scope:
    def __init__(self, stack: ExitStack) -> None:
        self.stack = stack
        self.folder: Path | None = None
        self.on_success: list[tuple[Path, object, str]] = []

    def spool_dir(self) -> Path:
        if self.folder is None:
            tmp = self.stack.enter_context(tempfile.TemporaryDirectory(prefix="tracelab-db-"))
            self.folder = Path(tmp)
        return self.folder


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("tracelab_scope",
                                                                       default=None)


@functools.cache
def _process_scope() -> _Scope:
    """Outside a command (a caller of ``resolve`` in Python): files live until exit."""
    stack = ExitStack()
    atexit.register(stack.close)
    return _Scope(stack)


@contextmanager
def command_scope() -> Iterator[None]:
    """The lifetime of one command's spooled database reads; watermarks saved on success."""
    from tracelab.sources import watermark

    with ExitStack() as stack:
        scope = _Scope(stack)
        token = _SCOPE.set(scope)
        try:
            yield
            for path, mark, source in scope.on_success:
                watermark.save(path, mark, source)  # type: ignore[arg-type]
        finally:
            _SCOPE.reset(token)


def resolve(inputs: list[str], options: SourceOptions | None = None) -> list[str]:
    """``inputs`` with each database replaced by the Parquet file its rows were read into."""
    from tracelab.sources import DatabaseInput, Window, locate, parse_bound, spool
    from tracelab.sources import watermark as marks

    options = options or SourceOptions()
    located = [(text, locate(text)) for text in inputs]
    databases = [loc for _, loc in located if loc is not None]
    if not databases:
        if options.given():
            msg = (f"{', '.join(options.given())} apply to database inputs only "
                   "(postgresql://…, .duckdb, .sqlite); none was given")
            raise ConfigError(msg)
        return inputs
    if options.watermark is not None and len(databases) > 1:
        msg = "--watermark takes one database input; run once per database"
        raise ConfigError(msg)
    since = parse_bound(options.since) if options.since else None
    until = parse_bound(options.until) if options.until else None
    if since and until and since >= until:
        msg = f"--since {options.since} is not before --until {options.until}"
        raise ConfigError(msg)
    after = marks.load(options.watermark) if options.watermark else None
    scope = _SCOPE.get() or _process_scope()
    resolved = []
    for text, loc in located:
        if loc is None:
            resolved.append(text)
            continue
        db = DatabaseInput(loc, options.query, Window(since, until, after))
        folder = Path(tempfile.mkdtemp(dir=scope.spool_dir()))
        done = spool(db, folder)
        sys.stderr.write(f"{loc.name}: {done.rows:,} rows read from the database\n")
        if options.watermark is not None and done.mark is not None:
            scope.on_success.append((options.watermark, done.mark, loc.name))
        resolved.append(str(done.path))
    return resolved
