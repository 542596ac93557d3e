"""The anchoring lease on both backends: one holder at a time, freed when the holder dies or (on
PostgreSQL) its session is cut."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg

from ledger.db import Database, open_database
from ledger.db.lease import _LEASE_KEY
from tests._fixtures.database import PostgresServer


def test_one_holder_at_a_time(database: Database) -> None:
    first, second = database.anchoring_lease(), database.anchoring_lease()
    try:
        assert first.acquire() and first.held and first.check()
        assert first.acquire()  # holding it already
        assert not second.acquire() and not second.held and not second.check()
        first.release()
        assert not first.held and not first.check()
        assert second.acquire() and second.check()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


_HOLDER = """
import sys, time
from ledger.db import open_database
lease = open_database(sys.argv[1]).anchoring_lease()
assert lease.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_a_holder_killed_with_sigkill_frees_the_lease(database_url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, database_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        db = open_database(database_url)
        lease = db.anchoring_lease()
        assert not lease.acquire()
        holder.kill()
        holder.wait(10)
        deadline = time.monotonic() + 5
        while not lease.acquire():
            assert time.monotonic() < deadline, "the lease of a dead holder was not freed"
            time.sleep(0.05)
        assert lease.check()
        lease.release()
        db.close()
    finally:
        holder.kill()
        holder.wait(10)


def test_a_cut_session_loses_the_lease_on_postgresql(postgres_server: PostgresServer) -> None:
    # (an flock cannot be cut from outside: on SQLite only the holder's death frees it)
    name = postgres_server.create_database()
    database = open_database(postgres_server.url(name))
    lease, other = database.anchoring_lease(), database.anchoring_lease()
    assert lease.acquire()
    with psycopg.connect(postgres_server.url(name), autocommit=True) as admin:
        cut = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND classid = %s AND objid = %s AND granted",
            (_LEASE_KEY >> 32, _LEASE_KEY & 0xFFFFFFFF),
        ).fetchall()
    assert cut == [(True,)]
    assert lease.held  # it does not know yet ...
    assert not lease.check()  # ... until it asks: then it stops acting
    assert not lease.held
    assert other.acquire()
    assert not lease.acquire()
    other.release()
    database.close()
    postgres_server.drop_database(name)
