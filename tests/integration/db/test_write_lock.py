"""SQLite writers queue on one lock, across threads and processes, before SQLite's own."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from ledger.db import open_database, upgrade
from tests.integration.db._support import create_draft

HOLD_S = 0.6

# Takes the write lock of the database given in argv[1] (as another service process's writer
# would), says so on stdout, holds it HOLD_S seconds.
_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + "-writelock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def sqlite_url(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "ledger.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url, path


def test_a_write_waits_for_another_process_holding_the_lock(tmp_path: Path) -> None:
    url, path = sqlite_url(tmp_path)
    with open_database(url) as database:
        holder = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(path), str(HOLD_S)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            began = time.monotonic()
            create_draft(database)
            waited = time.monotonic() - began
        finally:
            holder.wait(10)
        assert waited >= HOLD_S * 0.5  # it queued behind the other process (most of HOLD_S)
        assert database.counts().drafts == 1
        began = time.monotonic()
        database.counts()  # reads never take the write lock
        assert time.monotonic() - began < HOLD_S


def test_threads_of_one_process_write_one_at_a_time(tmp_path: Path) -> None:
    url, _ = sqlite_url(tmp_path)
    with open_database(url) as database:
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                for _ in range(n):
                    create_draft(database)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=write, args=(25,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert database.counts().drafts == 200
