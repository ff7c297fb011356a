"""A driver's exception as one line naming what failed: the server, the login, the table, a column.

Messages name the database by its redacted form only (``uri.redact``): the driver's own
text never carries the password (libpq does not echo it), and the query text is cut off.
"""

from __future__ import annotations

import re

from tracelab.errors import DatabaseError
from tracelab.sources.uri import Location, server_of, user_of

_UNREACHABLE = ("connection refused", "could not connect", "timeout expired",
                "could not translate host name", "no route to host", "is the server running")


def _first(text: str) -> str:
    text = re.sub(r"^(IO|NOT_FOUND|INVALID_ARGUMENT|INVALID_STATE|UNKNOWN): ", "", text.strip())
    text = text.split("Query was:")[0].replace("[libpq] ", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def _found(pattern: str, text: str) -> str | None:
    """The first group that matched ``pattern`` in ``text``."""
    match = re.search(pattern, text)
    return next((g for g in match.groups() if g), None) if match else None


def explain(location: Location, exc: BaseException) -> DatabaseError:
    """The ``DatabaseError`` to raise for ``exc`` met while reading ``location``."""
    raw = str(exc)
    low = raw.lower()
    name = location.name
    if location.dialect == "postgresql":
        user = user_of(location.target) or "(the OS user)"
        server = server_of(location.target)
        if "password authentication failed" in low:
            msg = (f"{name}: the server refused the password for user {user}; check the "
                   "password in the URI, PGPASSWORD or ~/.pgpass")
            return DatabaseError(msg)
        if "no password supplied" in low or "fe_sendauth" in low:
            msg = (f"{name}: the server wants a password for user {user} and none was "
                   "given; put it in the URI, PGPASSWORD or ~/.pgpass")
            return DatabaseError(msg)
        if any(word in low for word in _UNREACHABLE):
            msg = (f"{name}: cannot reach the PostgreSQL server at {server} "
                   f"({_first(raw).split(' failed: ')[-1]}); is it running?")
            return DatabaseError(msg)
        missing_db = re.search(r'database "([^"]+)" does not exist', raw)
        if missing_db:
            msg = f"{name}: database {missing_db.group(1)} does not exist on {server}"
            return DatabaseError(msg)
    table = _found(r'relation "([^"]+)" does not exist|no such table: (\S+)|'
                   r"Table with name (\S+) does not exist", raw)
    if table:
        msg = f"{name}: table {table} does not exist"
        return DatabaseError(msg, param="query")
    column = _found(r'column "?([^"\s]+)"? does not exist|no such column: (\S+)|'
                    r'Referenced column "([^"]+)" not found', raw)
    if column:
        msg = f"{name}: column {column} does not exist in the rows read"
        return DatabaseError(msg)
    msg = f"{name}: {_first(raw)}"
    return DatabaseError(msg)
