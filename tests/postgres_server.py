"""A real PostgreSQL server for the ledger tests: Debian's ``postgresql`` package (scripts/test-deps.sh installs
it), a cluster of its own made with initdb in a temporary folder, on a free loopback port, started and stopped
with pg_ctl. PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres`` user and the
commands run through ``runuser``. Import the fixture into a test module: ``from postgres_server import
postgres_server``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import free_port


def _binaries() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    assert versions, "PostgreSQL is not installed (apt-get install postgresql): the ledger tests need it"
    return versions[-1].parent


@dataclass
class PostgresServer:
    folder: Path
    port: int
    bin: Path
    user: str | None  # the system user the server runs as (None: this one)

    def _run(self, *command: str) -> None:
        argv = [str(self.bin / command[0]), *command[1:]]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        """Start and wait until it accepts connections (pg_ctl -w)."""
        self._run(
            "pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop at once (fast: open connections are cut), and wait until it is down."""
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-w", "-t", "60", "-m", "fast", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A database of its own for one test; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    binaries = _binaries()
    user = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="llmcost-pg-"))
    folder.chmod(0o755)
    if user is not None:
        shutil.chown(folder, user)
    server = PostgresServer(folder, free_port(), binaries, user)
    server._run("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
