"""Hand-made LiteLLM_SpendLogs rows, loaded into PostgreSQL, DuckDB and SQLite alike.

The PostgreSQL table is LiteLLM's own DDL (``fixtures/litellm_spendlogs.sql``); DuckDB and
SQLite get the same statement with their names for the types. The rows' expected totals:
5 rows read, 4 accepted (req-5 has negative prompt tokens), input 350, cached 169,
output 80, reasoning 10; 3 ok and 1 error; req-3 and req-4 start on or after 2026-05-02.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

DDL = "\n".join(
    line for line in (Path(__file__).parent / "fixtures" / "litellm_spendlogs.sql")
    .read_text().splitlines() if not line.startswith("--")
)
SECRET_PROMPT = "my secret prompt text"

_COLUMNS = (
    "request_id", "call_type", "api_key", "spend", "total_tokens", "prompt_tokens",
    "completion_tokens", "startTime", "endTime", "request_duration_ms", "completionStartTime",
    "model", "model_group", "metadata", "session_id", "status", "proxy_server_request",
    "messages", "team_id",
)


def _usage(**usage: Any) -> str:
    return json.dumps({"usage_object": usage, "user_api_key_alias": "alias-a"})


def _request(stream: bool) -> str:
    return json.dumps({"stream": stream, "messages": [{"role": "user", "content": SECRET_PROMPT}]})


ROWS: list[tuple[Any, ...]] = [
    ("req-1", "acompletion", "hash-a", 0.01, 130, 100, 30, "2026-05-01 10:00:00.000",
     "2026-05-01 10:00:02.500", 2500, "2026-05-01 10:00:00.400", "gpt-4o", "gpt-4o",
     _usage(prompt_tokens=100, completion_tokens=30, prompt_tokens_details={"cached_tokens": 64},
            completion_tokens_details={"reasoning_tokens": 10}),
     "s1", "success", _request(True), json.dumps([{"content": SECRET_PROMPT}]), "team-1"),
    ("req-2", "aembedding", "hash-b", 0.0, 40, 40, 0, "2026-05-01 10:05:00.000",
     "2026-05-01 10:05:00.200", 200, None, "text-embedding-3-small", None, "{}", None,
     "success", _request(False), "{}", None),
    ("req-3", "acompletion", "hash-a", 0.0, 10, 10, 0, "2026-05-02 09:00:00.000",
     "2026-05-02 09:00:01.000", 1000, "2026-05-02 09:00:01.000", "claude-sonnet-4", "claude",
     _usage(cache_read_input_tokens=5, cache_creation_input_tokens=2), "s2", "failure",
     _request(False), "{}", None),
    ("req-4", "acompletion", "hash-c", 0.02, 250, 200, 50, "2026-05-03 12:00:00.000",
     "2026-05-03 12:00:03.000", 3000, "2026-05-03 12:00:03.000", "gpt-4o", "gpt-4o",
     _usage(prompt_tokens=200, prompt_tokens_details={"cached_tokens": 100}), "s1",
     "success", _request(False), "{}", None),
    ("req-5", "acompletion", "hash-c", 0.0, 0, -1, 1, "2026-05-03 12:30:00.000",
     "2026-05-03 12:30:01.000", 1000, None, "gpt-4o", "gpt-4o", "{}", None, "success",
     _request(False), "{}", None),
]


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def insert_sql(rows: list[tuple[Any, ...]] = ROWS, table: str = "LiteLLM_SpendLogs") -> str:
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    values = ",\n".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
    return f'INSERT INTO "{table}" ({columns}) VALUES\n{values};'


def ddl_for(dialect: str) -> str:
    """LiteLLM's DDL with DuckDB's or SQLite's type names."""
    text = DDL
    if dialect == "duckdb":
        text = text.replace("DOUBLE PRECISION", "DOUBLE").replace("TIMESTAMP(3)", "TIMESTAMP")
        text = text.replace("JSONB", "JSON")
    elif dialect == "sqlite":
        text = text.replace("TIMESTAMP(3)", "TEXT").replace("JSONB", "TEXT")
    return text


def make_sqlite(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(ddl_for("sqlite") + "\n" + insert_sql())
    conn.close()
    return path


def make_duckdb(path: Path) -> Path:
    import duckdb

    with duckdb.connect(str(path)) as conn:
        for statement in (ddl_for("duckdb") + "\n" + insert_sql()).split(";"):
            if statement.strip():
                conn.execute(statement)
    return path


def load_postgres(uri: str, statements: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(uri) as conn, conn.cursor() as cur:
        for statement in statements.split(";"):
            if statement.strip():
                cur.execute(statement)
        conn.commit()
