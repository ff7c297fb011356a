"""A throwaway PostgreSQL server on 127.0.0.1 for the database tests and benchmark.

``start_server`` runs Debian's ``initdb`` into a fresh folder and ``pg_ctl start`` on a free
port, password authentication (scram-sha-256) over TCP; as root (CI) the server runs as the
``postgres`` user that Debian's package creates, since PostgreSQL refuses to run as root.
``stop_server`` stops it and removes the folder. ``find_binary`` says whether the
binaries are installed at all (the tests skip with that reason only outside CI).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "tracelab"
PASSWORD = "s3cret-test-pw"
DATABASE = "litellm"


def find_binary(name: str) -> Path | None:
    """``initdb``/``pg_ctl``/``postgres`` on PATH or in Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return Path(candidates[-1]) if candidates else None


@dataclass
class PgServer:
    root: Path
    port: int
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    database: str = DATABASE

    def uri(self, *, password: bool = True, database: str | None = None) -> str:
        secret = f":{self.password}" if password else ""
        return (f"postgresql://{self.user}{secret}@{self.host}:{self.port}/"
                f"{database or self.database}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], owner: str | None, timeout: float = 120) -> None:
    command = ["runuser", "-u", owner, "--", *args] if owner else args
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        msg = f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-500:]}"
        raise RuntimeError(msg)


def start_server() -> PgServer:
    """initdb + pg_ctl start a server with database ``litellm`` owned by ``tracelab``."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        msg = "PostgreSQL binaries (initdb, pg_ctl) are not installed"
        raise RuntimeError(msg)
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="tracelab-pg-"))
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if owner:
        entry = pwd.getpwnam(owner)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    data = root / "data"
    _run([str(initdb), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
          "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8",
          "--no-locale", "--no-sync"], owner)
    server = PgServer(root, _free_port())
    options = (f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB")
    _run([str(pg_ctl), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
          "-t", "120", "start"], owner, timeout=180)
    _run([str(find_binary("createdb") or "createdb"), "-h", str(root), "-p", str(server.port),
          "-U", USER, DATABASE], owner)
    return server


def stop_server(server: PgServer) -> None:
    """Stop the server (fast shutdown) and remove its folder."""
    pg_ctl = find_binary("pg_ctl")
    owner = "postgres" if os.geteuid() == 0 else None
    if pg_ctl is not None:
        try:
            _run([str(pg_ctl), "-D", str(server.root / "data"), "-m", "fast", "-w", "stop"],
                 owner)
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
    shutil.rmtree(server.root, ignore_errors=True)
