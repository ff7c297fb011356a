"""LiteLLM's spend-log table read from a live PostgreSQL server, a DuckDB file and SQLite.

The server is started for this module on 127.0.0.1 (``pg_server``) and loaded with
LiteLLM's own DDL. Outside CI the tests skip when PostgreSQL is not installed; in CI
(``CI`` set) that is a failure, since ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import polars as pl
import pytest
from conftest import invoke
from pg_server import PgServer, find_binary, start_server, stop_server
from polars.testing import assert_frame_equal
from spendlogs import (
    DDL,
    ROWS,
    SECRET_PROMPT,
    insert_sql,
    load_postgres,
    make_duckdb,
    make_sqlite,
)

from tracelab.ingest import read_trace

TOTALS = {"rows": 4, "ok": 3, "input": 350, "cached": 169, "output": 80, "reasoning": 10}


@pytest.fixture(scope="module")
def server() -> PgServer:
    if find_binary("initdb") is None or find_binary("pg_ctl") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install PostgreSQL (Debian's postgresql package)")
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed: apt-get install postgresql")
    pg = start_server()
    try:
        load_postgres(pg.uri(), DDL + "\n" + insert_sql())
        yield pg
    finally:
        stop_server(pg)


def _totals(frame: pl.DataFrame) -> dict[str, int]:
    return {
        "rows": frame.height,
        "ok": int((frame["status"] == "ok").sum()),
        "input": int(frame["input_tokens"].sum()),
        "cached": int(frame["cached_input_tokens"].sum()),
        "output": int(frame["output_tokens"].sum()),
        "reasoning": int(frame["reasoning_tokens"].sum()),
    }


def _read(runner, args: list[str], tmp_path: Path) -> tuple[object, pl.DataFrame | None]:
    out = tmp_path / "out.parquet"
    result = invoke(runner, ["ingest", *args, "-o", str(out)])
    return result, (pl.read_parquet(out) if out.exists() else None)


def test_postgres_table_reads_to_exact_totals(server, runner, tmp_path):
    result, frame = _read(runner, [server.uri()], tmp_path)
    assert result.exit_code == 0, result.output
    assert "5 rows read = 4 accepted + 1 rejected" in result.output
    assert _totals(frame) == TOTALS
    first = frame.filter(pl.col("request_id") == "req-1").row(0, named=True)
    assert first["ttft_s"] == pytest.approx(0.4)
    assert first["e2e_latency_s"] == pytest.approx(2.5)
    assert first["is_streaming"] is True
    assert first["tenant_id"] == "hash-a"
    assert first["endpoint"] == "chat"
    assert frame.filter(pl.col("request_id") == "req-3")["cache_write_tokens"].item() == 2


def test_postgres_table_equals_its_csv_export(server, tmp_path):
    """psql's CSV export of the same table gives the same canonical frame."""
    csv = tmp_path / "spendlogs.csv"
    psql = find_binary("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    copy = '\\copy "LiteLLM_SpendLogs" TO STDOUT WITH CSV HEADER'
    done = subprocess.run([str(psql), server.uri(), "-c", copy], capture_output=True,
                          check=True, text=True)
    csv.write_text(done.stdout)
    from tracelab.commands._sources import resolve

    table = read_trace(resolve([server.uri()]))
    export = read_trace(csv)
    provenance = ["source_file", "source_row"]
    got = table.frame.collect().drop(provenance).sort("request_id")
    want = export.frame.collect().drop(provenance).sort("request_id")
    assert_frame_equal(got, want)
    assert table.rows_read == export.rows_read == len(ROWS)


def test_since_and_until_are_pushed_into_the_sql(server, runner, tmp_path):
    result, frame = _read(runner, [server.uri(), "--since", "2026-05-02",
                                   "--until", "2026-05-03T12:00:00"], tmp_path)
    assert result.exit_code == 0, result.output
    assert frame["request_id"].to_list() == ["req-3"]
    assert "1 rows read from the database" in result.output


def test_watermark_reads_only_new_rows(server, runner, tmp_path):
    mark = tmp_path / "mark.json"
    first, frame = _read(runner, [server.uri(), "--watermark", str(mark),
                                  "--until", "2026-05-03"], tmp_path)
    assert first.exit_code == 0, first.output
    assert sorted(frame["request_id"]) == ["req-1", "req-2", "req-3"]
    saved = json.loads(mark.read_text())
    assert saved["request_id"] == "req-3"
    assert saved["startTime"] == "2026-05-02T09:00:00"
    second, frame = _read(runner, [server.uri(), "--watermark", str(mark)], tmp_path)
    assert second.exit_code == 0, second.output
    assert "2 rows read from the database" in second.output  # req-4 and the rejected req-5
    assert frame["request_id"].to_list() == ["req-4"]
    assert json.loads(mark.read_text())["request_id"] == "req-5"
    third, _ = _read(runner, [server.uri(), "--watermark", str(mark)], tmp_path)
    assert "0 rows read = 0 accepted" in third.output


def test_failed_run_leaves_the_watermark(server, runner, tmp_path):
    mark = tmp_path / "mark.json"
    result = invoke(runner, ["ingest", server.uri(), "--watermark", str(mark), "--strict",
                             "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2  # req-5 is rejected under --strict
    assert not mark.exists()


def test_query_reads_other_rows(server, runner, tmp_path):
    query = ('SELECT request_id, "startTime", prompt_tokens AS input_tokens, '
             'completion_tokens AS output_tokens FROM "LiteLLM_SpendLogs" WHERE model = \'gpt-4o\'')
    result, frame = _read(runner, [server.uri(), "--query", query, "--since", "2026-05-01"],
                          tmp_path)
    assert result.exit_code == 0, result.output
    assert "[canonical]" in result.output
    assert frame["input_tokens"].sum() == 300  # req-1 and req-4; req-5 rejected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.uri().replace(s.password, "wrong"),
         "the server refused the password for user tracelab"),
        (lambda s: s.uri().replace(f":{s.port}/", ":1/"),
         "cannot reach the PostgreSQL server at 127.0.0.1:1"),
        (lambda s: s.uri(database="nodb"), "database nodb does not exist"),
    ],
)
def test_connection_failures_are_one_line(server, runner, tmp_path, change, expected):
    uri = change(server)
    result = invoke(runner, ["ingest", uri, "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert expected in lines[0]
    assert "wrong" not in result.output
    assert server.password not in result.output


def test_missing_table_and_column(server, runner, tmp_path):
    load_postgres(server.uri(), 'CREATE TABLE IF NOT EXISTS "other" (x int)')
    other = server.uri(database="postgres")
    result = invoke(runner, ["ingest", other, "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2
    assert "table LiteLLM_SpendLogs does not exist" in result.output
    result = invoke(runner, ["ingest", server.uri(), "--query", "SELECT x FROM other",
                             "--since", "2026-01-01", "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2
    assert "the query returns no column startTime" in result.output
    result = invoke(runner, ["ingest", server.uri(), "--query", "SELECT nope FROM other",
                             "-o", str(tmp_path / "x.parquet")])
    assert result.exit_code == 2
    assert "column nope does not exist" in result.output


def test_password_from_pgpassword_and_pgpass(server, runner, tmp_path, monkeypatch):
    bare = server.uri(password=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    result = invoke(runner, ["ingest", bare, "-o", str(tmp_path / "a.parquet")])
    assert result.exit_code == 2
    assert "none was given" in result.output or "refused the password" in result.output
    monkeypatch.setenv("PGPASSWORD", server.password)
    result = invoke(runner, ["ingest", bare, "-o", str(tmp_path / "b.parquet")])
    assert result.exit_code == 0, result.output
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{server.port}:*:{server.user}:{server.password}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    result = invoke(runner, ["ingest", bare, "-o", str(tmp_path / "c.parquet")])
    assert result.exit_code == 0, result.output


def test_credentials_never_reach_output_or_report(server, runner, tmp_path):
    folder = tmp_path / "report"
    result = invoke(runner, ["report", server.uri(), "-o", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert server.password not in result.output
    for path in folder.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert server.password not in text, path
            assert SECRET_PROMPT not in text, path


def test_prompt_text_stays_in_the_database(server, tmp_path):
    from tracelab.sources import DatabaseInput, locate, spool

    done = spool(DatabaseInput(locate(server.uri())), tmp_path)
    frame = pl.read_parquet(done.path)
    assert "messages" not in frame.columns
    assert frame["proxy_server_request"].str.contains(SECRET_PROMPT).sum() == 0
    assert done.rows == len(ROWS)


@pytest.mark.parametrize("make", [make_duckdb, make_sqlite])
def test_database_files_read_the_same(make, server, runner, tmp_path):
    path = make(tmp_path / ("logs.duckdb" if make is make_duckdb else "logs.sqlite"))
    result, frame = _read(runner, [str(path), "--since", "2026-05-01"], tmp_path)
    assert result.exit_code == 0, result.output
    assert _totals(frame) == TOTALS
    from tracelab.commands._sources import resolve

    want = read_trace(resolve([server.uri()])).frame.collect()
    provenance = ["source_file", "source_row"]
    assert_frame_equal(frame.drop(provenance).sort("request_id"),
                       want.drop(provenance).sort("request_id"), check_column_order=False)


def test_watermark_on_sqlite(runner, tmp_path):
    path = make_sqlite(tmp_path / "logs.sqlite")
    mark = tmp_path / "mark.json"
    result, frame = _read(runner, [str(path), "--watermark", str(mark),
                                   "--until", "2026-05-02 09:00:00.001"], tmp_path)
    assert sorted(frame["request_id"]) == ["req-1", "req-2", "req-3"]
    result, frame = _read(runner, [str(path), "--watermark", str(mark)], tmp_path)
    assert result.exit_code == 0, result.output
    assert frame["request_id"].to_list() == ["req-4"]


def test_options_without_a_database(runner, tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("input_tokens,output_tokens\n1,2\n")
    result = invoke(runner, ["ingest", str(csv), "--since", "2026-01-01",
                             "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert "--since apply to database inputs only" in result.output


def test_missing_database_file(runner, tmp_path):
    result = invoke(runner, ["ingest", str(tmp_path / "none.duckdb"), "-o",
                             str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert "no such database file" in result.output
