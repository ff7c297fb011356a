"""Database benchmark: LiteLLM's spend-log table streamed from a live PostgreSQL server.

    python benchmarks/bench_sources.py --rows 10000000 --compare-rows 1000000 [--json out.json]

Starts a throwaway server on 127.0.0.1 (``tests/pg_server.py``), creates LiteLLM's table
(``tests/fixtures/litellm_spendlogs.sql``) and fills it server-side with ``generate_series``
rows shaped like a proxy's (usage_object in metadata, a 200-character prompt in
``messages`` and ``proxy_server_request``). Then:

1. driver comparison on ``--compare-rows`` rows, the same SELECT that tracelab sends:
   ADBC through ``polars.read_database`` in batches (what tracelab uses), connectorx through
   ``polars.read_database_uri`` (whole result at once) and connectorx's own Arrow stream;
2. the streaming read alone (``tracelab.sources.spool``: the table into one Parquet file,
   batch by batch) on ``--rows`` rows;
3. ``tracelab ingest postgresql://… -o out.parquet`` on ``--rows`` rows, end to end.

Each measurement runs in its own process; its peak resident memory is the ``ru_maxrss`` of
that process alone (the server's memory is not counted: it is another program).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests.pg_server import start_server, stop_server  # noqa: E402
from tests.spendlogs import DDL, load_postgres  # noqa: E402

_MESSAGES = '[{"role": "user", "content": "' + "x" * 200 + '"}]'
FILL = """
INSERT INTO "LiteLLM_SpendLogs" ("request_id", "call_type", "api_key", "spend", "total_tokens",
  "prompt_tokens", "completion_tokens", "startTime", "endTime", "request_duration_ms",
  "completionStartTime", "model", "model_group", "metadata", "session_id", "status",
  "proxy_server_request", "messages")
SELECT 'req-' || i, 'acompletion', 'hash-' || (i % 50), 0.001, 0,
  10 + (i * 7919) % 4000, 1 + (i * 104729) % 800,
  TIMESTAMP '2026-05-01' + i * INTERVAL '250 milliseconds',
  TIMESTAMP '2026-05-01' + i * INTERVAL '250 milliseconds' + INTERVAL '2 seconds',
  2000, TIMESTAMP '2026-05-01' + i * INTERVAL '250 milliseconds' + INTERVAL '300 milliseconds',
  CASE WHEN i % 3 = 0 THEN 'gpt-4o' ELSE 'llama-3.1-70b' END, 'chat',
  ('{{"usage_object": {{"prompt_tokens": ' || (10 + (i * 7919) % 4000)
   || ', "prompt_tokens_details": {{"cached_tokens": ' || (((i * 7919) % 4000) / 2)
   || '}}}}, "user_api_key_alias": "team-' || (i % 20) || '"}}')::jsonb,
  'sess-' || (i % 200000), 'success',
  CASE WHEN i % 2 = 0 THEN '{{"stream": true, "messages": MESSAGES}}'::jsonb
       ELSE '{{"stream": false, "messages": MESSAGES}}'::jsonb END,
  'MESSAGES'::jsonb
FROM generate_series({start}::bigint, {stop}::bigint) AS i
"""
FILL_CHUNK = 1_000_000


CHILD = {
    "adbc": """
import polars as pl, adbc_driver_postgresql.dbapi as adbc
rows = 0
with adbc.connect(URI) as conn:
    for batch in pl.read_database(SQL, conn, iter_batches=True, batch_size=50_000):
        rows += batch.height
""",
    "connectorx": """
import polars as pl
rows = pl.read_database_uri(SQL, URI, engine="connectorx").height
""",
    "connectorx-stream": """
import connectorx as cx
rows = sum(b.num_rows for b in cx.read_sql(URI, SQL, return_type="arrow_stream",
                                            batch_size=50_000))
""",
}


def _measure(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``argv``; wall seconds and the child's peak RSS (GiB), via a wrapper process."""
    wrapper = (
        "import resource, subprocess, sys, time, json\n"
        "t = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20\n"
        "print(json.dumps({'wall_s': wall, 'peak_rss_gib': rss, 'rc': done.returncode,"
        " 'stdout': done.stdout[-2000:], 'stderr': done.stderr[-2000:]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True,
                         text=True, check=True, env=env)
    return json.loads(out.stdout)


def _fill(uri: str, start: int, stop: int) -> float:
    """Insert rows ``start..stop`` (in 1M-row statements); seconds taken."""
    started = time.perf_counter()
    for first in range(start, stop + 1, FILL_CHUNK):
        load_postgres(uri, FILL.format(start=first, stop=min(first + FILL_CHUNK - 1, stop))
                      .replace("MESSAGES", _MESSAGES))
    return time.perf_counter() - started


def _select(uri: str) -> str:
    """The SELECT tracelab sends for the table (columns cut to what the adapter reads)."""
    from tracelab.sources import DatabaseInput, locate
    from tracelab.sources.read import connect, statement

    location = locate(uri)
    assert location is not None
    with connect(location) as conn:
        return statement(conn, DatabaseInput(location))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--compare-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared with other users "
                   f"(load average {os.getloadavg()[0]:.1f} at start)",
    }
    server = start_server()
    try:
        uri = server.uri()
        load_postgres(uri, DDL)
        compare = min(args.compare_rows, args.rows)
        results["fill_s"] = _fill(uri, 1, compare)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if not args.skip_compare:
            sql = _select(uri)
            results["compare_rows"] = compare
            for name, body in CHILD.items():
                code = f"URI = {uri!r}\nSQL = {sql!r}\n{body}\nprint(rows)"
                run = _measure([sys.executable, "-c", code], env)
                run["rows_per_s"] = compare / run["wall_s"] if run["rc"] == 0 else None
                results[name] = run
                print(name, {k: v for k, v in run.items() if k not in ("stdout", "stderr")},
                      flush=True)
        if args.rows > compare:
            results["fill_s"] += _fill(uri, compare + 1, args.rows)
        with tempfile.TemporaryDirectory() as tmp:
            code = ("from pathlib import Path; from tracelab.sources import DatabaseInput, "
                    f"locate, spool; d = spool(DatabaseInput(locate({uri!r})), Path({tmp!r})); "
                    "print(d.rows)")
            run = _measure([sys.executable, "-c", code], env)
            run["rows"] = args.rows
            run["rows_per_s"] = args.rows / run["wall_s"]
            results["stream"] = run
            print("stream", {k: v for k, v in run.items() if k != "stderr"}, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "spendlogs.parquet"
            tracelab = [sys.executable, "-c", "from tracelab.cli import main; main()", "ingest",
                        uri, "-o", str(out)]
            run = _measure(tracelab, env)
            run["rows"] = args.rows
            run["rows_per_s"] = args.rows / run["wall_s"]
            results["ingest"] = run
            print("ingest", {k: v for k, v in run.items() if k != "stdout"}, flush=True)
    finally:
        stop_server(server)
    results["load_average_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
