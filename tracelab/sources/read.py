"""Stream a database's rows into one Parquet file, batch by batch, for ingest to read.

Drivers, all through ``polars.read_database(..., iter_batches=True)``:

* PostgreSQL: ADBC (``adbc-driver-postgresql``, libpq underneath: ``PGPASSWORD`` and
  ``~/.pgpass`` work as in psql). It streams the server's binary COPY output as Arrow
  batches of ~16 MB, so a month of logs is never in memory at once; chosen over connectorx
  on speed and install weight (README, "Databases").
* DuckDB: its own Python package (Arrow record-batch reader), opened read-only.
* SQLite: the standard library's ``sqlite3`` (row batches), opened read-only. Every column
  is kept as text, as a CSV export would have it: SQLite's columns have no fixed type, so a
  batch's inferred types could differ from the next one's.

Each batch is appended to ``<folder>/<database>.parquet`` as a row group (peak memory: one
batch), and the last ``(startTime, request_id)`` seen is kept for the watermark.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from tracelab.errors import DatabaseError
from tracelab.ingest.formats.base import parse_time
from tracelab.sources import query as sql
from tracelab.sources.errors import explain
from tracelab.sources.uri import Location

BATCH_ROWS = 50_000


@dataclass(frozen=True)
class DatabaseInput:
    """What to read from one database.

    ``query``: SQL whose rows are read instead of LiteLLM's table. ``since``/``until``:
    naive-UTC bounds on ``startTime`` (``since`` inclusive, ``until`` exclusive), pushed into
    the SQL. ``after``: read only rows after this mark (the incremental mode).
    """

    location: Location
    query: str | None = None
    window: sql.Window = field(default_factory=sql.Window)
    batch_rows: int = BATCH_ROWS


@dataclass(frozen=True)
class Spooled:
    """A database read: the Parquet file holding its rows, their count and the last mark."""

    path: Path
    rows: int
    mark: sql.Mark | None


@contextmanager
def connect(location: Location) -> Iterator[Any]:
    """A DB-API connection to ``location`` (closed on exit); DatabaseError when it fails."""
    if location.dialect != "postgresql" and not Path(location.target).is_file():
        msg = f"{location.name}: no such database file"
        raise DatabaseError(msg)
    try:
        if location.dialect == "postgresql":
            import adbc_driver_postgresql.dbapi as adbc

            conn: Any = adbc.connect(location.target)
        elif location.dialect == "duckdb":
            try:
                import duckdb
            except ImportError:
                msg = (f"{location.name}: reading DuckDB files needs the duckdb package, "
                       "which is not installed (the project's duckdb extra)")
                raise DatabaseError(msg) from None
            conn = duckdb.connect(location.target, read_only=True)
        else:
            target = Path(location.target).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(target, uri=True)
    except DatabaseError:
        raise
    except Exception as exc:  # drivers raise their own types; each is explained
        raise explain(location, exc) from None
    with closing(conn):
        yield conn


def _batches(conn: Any, statement: str, rows: int) -> Iterator[pl.DataFrame]:
    result = pl.read_database(statement, conn, iter_batches=True, batch_size=rows)
    yield from result


def _columns(conn: Any, location: Location, source: str) -> list[str]:
    """The column names ``source`` (a row source ``q``) returns, from an empty read."""
    try:
        return pl.read_database(f"{source} LIMIT 0", conn).columns
    except Exception as exc:
        raise explain(location, exc) from None


def statement(conn: Any, db: DatabaseInput) -> str:
    """The SQL for ``db``: LiteLLM's table cut to the adapter's columns, or the user's query;
    then the window. Missing columns the window or the adapter needs are named."""
    loc = db.location
    if db.query is None:
        present = _columns(conn, loc, f"SELECT * FROM {sql.quote(sql.TABLE)} AS q")
        missing = [c for c in sql.REQUIRED if c not in present]
        if missing:
            msg = (f"{loc.name}: table {sql.TABLE} has no column {', '.join(missing)}; "
                   "is it LiteLLM's spend-log table?")
            raise DatabaseError(msg)
        source = sql.select_table(loc.dialect, sql.TABLE, sql.table_columns(present))
    else:
        source = sql.wrap_query(db.query)
        bounded = db.window != sql.Window()
        needed = [sql.TIME_COLUMN] + ([sql.ID_COLUMN] if db.window.after else [])
        present = _columns(conn, loc, source) if bounded else []
        missing = [c for c in needed if bounded and c not in present]
        if missing:
            msg = (f"{loc.name}: the query returns no column {', '.join(missing)}, which "
                   "the time window (since/until/watermark) filters on")
            raise DatabaseError(msg)
    return source + sql.where(loc.dialect, db.window)


def _last(batch: pl.DataFrame) -> sql.Mark | None:
    """The largest ``(startTime, request_id)`` of a batch (None without those columns)."""
    if sql.TIME_COLUMN not in batch.columns or sql.ID_COLUMN not in batch.columns:
        return None
    times = batch.select(
        (parse_time(pl.col(sql.TIME_COLUMN)) if batch.schema[sql.TIME_COLUMN] == pl.String
         else pl.col(sql.TIME_COLUMN).cast(pl.Datetime("us"))).dt.replace_time_zone(None)
        .alias("t"),
        pl.col(sql.ID_COLUMN).cast(pl.String).alias("id"),
    ).drop_nulls()
    if not times.height:
        return None
    time, rid = times.sort(["t", "id"]).row(-1)
    return sql.Mark(time, rid)


def spool(db: DatabaseInput, folder: Path) -> Spooled:
    """Read ``db`` into ``folder/<database>.parquet`` batch by batch (see the module doc)."""
    import pyarrow.parquet as pq

    loc = db.location
    path = folder / f"{loc.database}.parquet"
    rows, mark = 0, db.window.after
    writer: Any = None
    schema: dict[str, pl.DataType] = {}
    with connect(loc) as conn:
        text = statement(conn, db)
        try:
            for batch in _batches(conn, text, db.batch_rows):
                if loc.dialect == "sqlite" or not schema:
                    batch = batch.with_columns(
                        pl.col(n).cast(pl.String) for n, t in batch.schema.items()
                        if loc.dialect == "sqlite" or t == pl.Null)
                if writer is None:
                    schema = dict(batch.schema)
                    writer = pq.ParquetWriter(path, batch.to_arrow().schema, compression="lz4")
                elif dict(batch.schema) != schema:
                    batch = batch.cast(schema)  # type: ignore[arg-type]
                writer.write_table(batch.to_arrow())
                rows += batch.height
                last = _last(batch)
                if last is not None and (mark is None or (last.time, last.request_id)
                                         > (mark.time, mark.request_id)):
                    mark = last
        except DatabaseError:
            raise
        except Exception as exc:  # the driver's, mid-stream
            raise explain(loc, exc) from None
        finally:
            if writer is not None:
                writer.close()
        if writer is None:  # no rows: an empty file with the columns the query returns
            empty = pl.read_database(f"{text} LIMIT 0", conn)
            empty.with_columns(pl.col(n).cast(pl.String) for n, t in empty.schema.items()
                               if t == pl.Null).write_parquet(path)
    return Spooled(path, rows, mark)


def parse_bound(text: str) -> datetime:
    """``--since``/``--until`` text (ISO date or date-time; an offset is turned to UTC, a
    naive time is UTC) as a naive-UTC datetime; DatabaseError when it does not parse."""
    from datetime import UTC

    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        msg = f"time bound {text!r} is not an ISO date or date-time (e.g. 2026-05-01T00:00:00)"
        raise DatabaseError(msg) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value
