"""What a process reported committed survives its SIGKILL (on both databases)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys

import sqlalchemy as sa

from ledger.db import VersionStatus, open_database
from ledger.db.schema import outbox
from tests._fixtures.paths import ROOT
from tests.integration.db._support import leaf_of

COUNT = 20

# Accepts COUNT agreements, says so, then waits to be killed: its pool keeps connections open,
# nothing is closed or checkpointed cleanly.
CHILD = """
import sys, time
from ledger.db import open_database
from tests.integration.db._support import accepted

db = open_database(sys.argv[1])
keys = accepted(db, int(sys.argv[2]))
print("committed", *(agreement_id for agreement_id, _ in keys), flush=True)
time.sleep(600)
"""


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"the child said nothing within {timeout} s")
    return process.stdout.readline()


def test_accepted_agreements_survive_sigkill_of_the_writer(database_url: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, database_url, str(COUNT)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_line(child, timeout=60)
        os.kill(child.pid, signal.SIGKILL)  # right after it said it committed
    finally:
        if child.poll() is None:
            child.kill()
        _, stderr = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, stderr
    word, *agreement_ids = line.split()
    assert word == "committed" and len(agreement_ids) == COUNT, (line, stderr)

    db = open_database(database_url)  # a fresh engine: nothing shared with the dead process
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox).order_by(outbox.c.seq)).all()
        assert [row.agreement_id for row in rows] == agreement_ids
        assert [bytes(row.leaf) for row in rows] == [leaf_of(a, 1) for a in agreement_ids]
        assert all(row.batch_id is None for row in rows)
        for agreement_id in agreement_ids:
            assert db.get_version(agreement_id, 1).status is VersionStatus.ACCEPTED
        counts = db.counts()
        assert (counts.accepted, counts.unbatched) == (COUNT, COUNT)
        batch = db.open_batch(max_size=COUNT, now=rows[0].accepted_at)
        assert batch is not None and batch.size == COUNT
    finally:
        db.close()
