"""Which inputs are databases, which driver reads each, and how to name one without its secrets.

A database input is a URI or a database file:

* ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (also ``postgres://``): read through the
  libpq-based ADBC driver, so the password may also come from ``PGPASSWORD`` or
  ``~/.pgpass`` (``PGPASSFILE``), exactly as ``psql`` finds it;
* ``duckdb:///PATH`` or a ``.duckdb``/``.ddb`` file: DuckDB, opened read-only;
* ``sqlite:///PATH`` or a ``.sqlite``/``.sqlite3``/``.db`` file: SQLite (the standard
  library's driver), opened read-only.

``sqlite:///x.db`` is the relative file ``x.db`` and ``sqlite:////srv/x.db`` the absolute
one (SQLAlchemy's spelling). ``redact`` is the only form of a URI that is ever shown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

Dialect = Literal["postgresql", "duckdb", "sqlite"]

_SCHEMES: dict[str, Dialect] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "duckdb": "duckdb",
    "sqlite": "sqlite",
}
_SUFFIXES: dict[str, Dialect] = {
    ".duckdb": "duckdb",
    ".ddb": "duckdb",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".db": "sqlite",
}
_SECRET_PARAMS = {"password", "passfile", "sslpassword"}


@dataclass(frozen=True)
class Location:
    """Where a database is: its dialect, what the driver opens (URI or file) and a safe name."""

    dialect: Dialect
    target: str
    name: str

    @property
    def database(self) -> str:
        """The database's own name: the path's last part (server) or the file's stem."""
        if self.dialect == "postgresql":
            return urlsplit(self.target).path.strip("/") or "postgres"
        return Path(self.target).stem


def locate(text: str | os.PathLike[str]) -> Location | None:
    """The database ``text`` names, or None when it is not a database input (a path)."""
    text = os.fspath(text)
    scheme, sep, rest = text.partition("://")
    dialect = _SCHEMES.get(scheme.lower()) if sep else None
    if dialect == "postgresql":
        return Location(dialect, text, redact(text))
    if dialect is not None:
        path = rest[1:] if rest.startswith("/") else rest
        return Location(dialect, path, f"{dialect}:///{path}")
    if sep:
        return None
    suffix = Path(text).suffix.lower()
    if suffix in _SUFFIXES:
        return Location(_SUFFIXES[suffix], text, text)
    return None


def redact(uri: str) -> str:
    """``uri`` with any password (user info or query parameter) replaced by ``***``."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{hostport}"
    query = parts.query
    if query:
        pairs = [(k, "***" if k.lower() in _SECRET_PARAMS else v)
                 for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def server_of(uri: str) -> str:
    """``host:port`` of a PostgreSQL URI (libpq's defaults when absent), for messages."""
    parts = urlsplit(uri)
    host = parts.hostname or "localhost"
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    return f"{host}:{port}"


def user_of(uri: str) -> str | None:
    """The user name a PostgreSQL URI logs in as (None: libpq's default, the OS user)."""
    return urlsplit(uri).username
