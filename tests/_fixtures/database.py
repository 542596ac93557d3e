"""The service database under test, on both backends.

* ``postgres_server`` (session): a private PostgreSQL cluster started by ``scripts/postgres.sh``
  in a fresh temporary directory on a free loopback port, stopped and removed at the end. It
  installs PostgreSQL first if it is missing (as root, from Debian's packages); if that or the
  start fails, the tests that need it FAIL with the reason: they are never skipped.
* ``empty_database_url``: parametrized ``sqlite`` (a file in the test's tmp dir) and
  ``postgresql`` (a fresh ``CREATE DATABASE test_<n>`` per test), not migrated;
* ``database_url``: the same, migrated to head; ``database``: a :class:`ledger.db.Database` on it;
* ``sqlite_database``: a migrated SQLite database only, for tests where the backend is not the
  point (request signatures, which need one to remember nonces in).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from ledger.chain.devnode import free_port
from ledger.db import Database, open_database, upgrade
from tests._fixtures.paths import ROOT

POSTGRES_SH = ROOT / "scripts" / "postgres.sh"
BACKENDS = ("sqlite", "postgresql")
_database_numbers = itertools.count(1)


@dataclass(frozen=True)
class PostgresServer:
    directory: Path
    port: int

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"test_{next(_database_numbers)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(POSTGRES_SH), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    installed = _script("install", timeout=900)
    if installed.returncode != 0:
        pytest.fail(
            "PostgreSQL is not installed and could not be installed"
            f" (scripts/postgres.sh install): {installed.stderr.strip()}",
            pytrace=False,
        )
    # Not under pytest's basetemp: that is private to the current user, and as root the
    # cluster runs as `postgres`, which must reach its directory.
    directory = Path(tempfile.mkdtemp(prefix="ledger-pg-"))
    port = free_port()
    started = _script("start", str(directory), str(port), timeout=120)
    if started.returncode != 0:
        _script("stop", str(directory), timeout=60)
        shutil.rmtree(directory, ignore_errors=True)
        pytest.fail(
            "PostgreSQL could not be started (scripts/postgres.sh start): "
            + started.stderr.strip(),
            pytrace=False,
        )
    try:
        yield PostgresServer(directory=directory, port=port)
    finally:
        _script("stop", str(directory), timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    db = open_database(url)
    try:
        yield db
    finally:
        db.close()
