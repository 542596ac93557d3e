"""The anchoring lease: at most one process acts for a database's anchoring at a time.

Every service process on a database runs an anchoring loop; the one holding the lease (the
leader) anchors, the others stand by and try to take it every second or so. The lease is tied
to the life of the holder, so a leader killed with SIGKILL gives it up at once:

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection of
  its own, outside the pool. The server releases it when that session ends: the process died,
  or the connection dropped (TCP keep-alives and ``tcp_user_timeout`` notice a dead peer within
  seconds). :meth:`AnchoringLease.check` asks over that connection; if the connection is gone the
  lease is lost, and the holder must stop acting at once (another process may have it now).
* SQLite on a file: ``flock`` on ``<database>-anchoring`` (beside the database, like
  :class:`~ledger.db._plumbing.WriteLock`), released by the kernel when the process dies. An
  in-memory database belongs to one process: its lease is always granted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from typing import Any

import psycopg
import sqlalchemy as sa

from ledger.db.engine import LOCK_TIMEOUT_MS

#: Key of the PostgreSQL advisory lock of the anchoring lease ("anchor").
_LEASE_KEY = 0x616E63686F72
#: Seconds before an unanswered lease connection counts as dead (TCP keep-alive and
#: ``tcp_user_timeout``): the longest a partitioned leader may go on believing it leads.
_DEAD_PEER_S = 5


class AnchoringLease:
    def __init__(self, engine: sa.Engine) -> None:
        self._url = engine.url
        self._dialect = engine.dialect.name
        database = engine.url.database or ""
        on_file = database not in ("", ":memory:") and not database.startswith("file:")
        self._path = database + "-anchoring" if self._dialect == "sqlite" and on_file else None
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this process held the lease when it last looked (no I/O)."""
        return self._held

    def acquire(self) -> bool:
        """Take the lease if it is free (never waits); True if this process holds it now."""
        with self._lock:
            if self._held:
                return True
            if self._dialect == "postgresql":
                self._held = self._acquire_advisory()
            elif self._path is not None:
                self._held = self._acquire_flock(self._path)
            else:
                self._held = True
            return self._held

    def check(self) -> bool:
        """Whether this process still holds the lease (PostgreSQL: one round trip on the lease's
        connection). False also if it never did; a lost lease is given up here."""
        with self._lock:
            if not self._held:
                return False
            if self._conn is not None:
                # The session holds the lock until it ends (only we could unlock it): a live
                # session is a held lease.
                try:
                    self._held = self._conn.execute("SELECT 1").fetchone() == (1,)
                except psycopg.Error:
                    self._held = False
                if not self._held:
                    self._close_connection()
            return self._held

    def release(self) -> None:
        with self._lock:
            self._held = False
            self._close_connection()
            if self._fd is not None:
                os.close(self._fd)  # closing the descriptor drops the flock
                self._fd = None

    def _acquire_advisory(self) -> bool:
        if self._conn is None:
            url = self._url.set(drivername="postgresql")
            try:
                self._conn = psycopg.connect(
                    url.render_as_string(hide_password=False),
                    autocommit=True,
                    connect_timeout=10,
                    keepalives=1,
                    keepalives_idle=_DEAD_PEER_S,
                    keepalives_interval=1,
                    keepalives_count=_DEAD_PEER_S,
                    tcp_user_timeout=_DEAD_PEER_S * 1000,
                    options=f"-c lock_timeout={LOCK_TIMEOUT_MS}"
                    f" -c statement_timeout={_DEAD_PEER_S * 1000}",
                )
            except psycopg.Error:
                return False
        try:
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (_LEASE_KEY,)).fetchone()
        except psycopg.Error:
            self._close_connection()
            return False
        return bool(row and row[0])

    def _acquire_flock(self, path: str) -> bool:
        if self._fd is None:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
