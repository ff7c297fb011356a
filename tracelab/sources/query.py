"""The SQL a database read sends: LiteLLM's table (or the user's query) and the time window.

Reading LiteLLM's ``LiteLLM_SpendLogs`` selects only the columns the ``litellm`` adapter
maps (``tracelab.ingest.formats.litellm``), so prompt and response text (``messages``,
``response``) never leave the database; of the two JSON columns only the keys the adapter
reads are kept (``metadata.usage_object``/``additional_usage_values`` and
``proxy_server_request.stream``: the latter otherwise holds the whole request body).

``--since``/``--until`` and the watermark become a ``WHERE`` on ``"startTime"`` (and
``request_id`` for ties), so the server sends only those rows and can use LiteLLM's
``(startTime, request_id)`` index. A user's ``--query`` is wrapped as a subquery, so it must
return ``startTime`` (and ``request_id``) for those to apply. Times are naive UTC, as LiteLLM
writes them (Prisma ``DateTime`` → ``TIMESTAMP(3)`` without time zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tracelab.sources.uri import Dialect

TABLE = "LiteLLM_SpendLogs"
TIME_COLUMN = "startTime"
ID_COLUMN = "request_id"
# Every column the litellm adapter reads, in the table's order (schema.prisma).
COLUMNS = (
    "request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens",
    "completion_tokens", "startTime", "endTime", "request_duration_ms", "completionStartTime",
    "model", "model_group", "user", "metadata", "team_id", "organization_id", "end_user",
    "session_id", "status", "proxy_server_request",
)
REQUIRED = ("request_id", "call_type", "prompt_tokens", "completion_tokens", "startTime")
JSON_KEYS = {
    "metadata": ("usage_object", "additional_usage_values"),
    "proxy_server_request": ("stream",),
}


@dataclass(frozen=True)
class Mark:
    """The last row read: its ``startTime`` (naive UTC) and ``request_id``."""

    time: datetime
    request_id: str


@dataclass(frozen=True)
class Window:
    """Rows with ``since <= startTime < until`` and after ``after`` (all optional)."""

    since: datetime | None = None
    until: datetime | None = None
    after: Mark | None = None


def quote(name: str) -> str:
    """An SQL identifier, quoted (LiteLLM's names are mixed case)."""
    return '"' + name.replace('"', '""') + '"'


def text_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _time(dialect: Dialect, column: str) -> str:
    """A time column as the dialect compares it (SQLite: normalised ISO text to the ms)."""
    if dialect == "sqlite":
        return f"strftime('%Y-%m-%d %H:%M:%f', {column})"
    return column


def time_literal(dialect: Dialect, value: datetime) -> str:
    if dialect == "sqlite":
        return text_literal(value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
    return f"TIMESTAMP {text_literal(value.strftime('%Y-%m-%d %H:%M:%S.%f'))}"


def _json_subset(dialect: Dialect, column: str, keys: tuple[str, ...]) -> str:
    """Only ``keys`` of a JSON column, as JSON text (null where the column is null)."""
    ref = quote(column)
    if dialect == "postgresql":
        pairs = ", ".join(f"{text_literal(k)}, {ref}::jsonb -> {text_literal(k)}" for k in keys)
        body = f"json_build_object({pairs})::text"
    elif dialect == "sqlite":
        pairs = ", ".join(f"{text_literal(k)}, json({ref} -> {text_literal('$.' + k)})"
                          for k in keys)
        body = f"json_object({pairs})"
    else:
        pairs = ", ".join(f"{text_literal(k)}, json_extract({ref}, {text_literal('$.' + k)})"
                          for k in keys)
        body = f"CAST(json_object({pairs}) AS VARCHAR)"
    return f"CASE WHEN {ref} IS NULL THEN NULL ELSE {body} END AS {ref}"


def table_columns(present: list[str]) -> list[str]:
    """The adapter's columns the table has (the required ones are checked by the caller)."""
    have = set(present)
    return [name for name in COLUMNS if name in have]


def select_table(dialect: Dialect, table: str, columns: list[str]) -> str:
    """``SELECT`` the adapter's columns of ``table``, JSON columns cut to the keys it reads."""
    items = [_json_subset(dialect, c, JSON_KEYS[c]) if c in JSON_KEYS else quote(c)
             for c in columns]
    return f"SELECT {', '.join(items)} FROM {quote(table)} AS q"


def where(dialect: Dialect, window: Window) -> str:
    """The ``WHERE`` clause of ``window`` on the row source ``q`` ('' when unbounded)."""
    at = _time(dialect, f"q.{quote(TIME_COLUMN)}")
    rid = f"q.{quote(ID_COLUMN)}"
    terms = []
    if window.since is not None:
        terms.append(f"{at} >= {time_literal(dialect, window.since)}")
    if window.until is not None:
        terms.append(f"{at} < {time_literal(dialect, window.until)}")
    if window.after is not None:
        mark, last = time_literal(dialect, window.after.time), text_literal(window.after.request_id)
        if dialect == "postgresql":  # a row comparison uses the (startTime, request_id) index
            terms.append(f"({at}, {rid}) > ({mark}, {last})")
        else:
            terms.append(f"({at} > {mark} OR ({at} = {mark} AND {rid} > {last}))")
    return f" WHERE {' AND '.join(terms)}" if terms else ""


def wrap_query(query: str) -> str:
    """A user's query as the row source ``q`` (trailing semicolons dropped)."""
    return f"SELECT * FROM ({query.strip().rstrip(';')}) AS q"
