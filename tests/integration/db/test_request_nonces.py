"""The nonces of signed requests on both backends: insert-or-refuse, also when processes race,
expired ones taken over and pruned, malformed arguments refused with nothing written."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ledger.db import Database, open_database
from ledger.db.nonces import NonceClaim
from ledger.db.schema import request_nonces
from ledger.service._committer import NonceCommitter
from ledger.service.errors import ServiceUnavailable

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=330)
NONCE = "0123456789abcdefghij"


def remember(db: Database, keyid: str = "sm3:aa", nonce: str = NONCE, now: datetime = NOW) -> bool:
    return db.remember_nonce(keyid, nonce, created_at=now, expires_at=now + WINDOW, now=now)


def rows(db: Database) -> list[tuple[str, str, datetime]]:
    with db.engine.connect() as conn:
        query = sa.select(
            request_nonces.c.keyid, request_nonces.c.nonce, request_nonces.c.expires_at
        )
        return [tuple(row) for row in conn.execute(query.order_by(*query.selected_columns))]  # type: ignore[misc]


def test_a_nonce_is_taken_once_per_key(database: Database) -> None:
    assert remember(database)
    assert not remember(database)
    assert not remember(database, now=NOW + WINDOW - timedelta(seconds=1))
    assert remember(database, keyid="sm3:bb")  # another key's nonces are its own
    assert rows(database) == [("sm3:aa", NONCE, NOW + WINDOW), ("sm3:bb", NONCE, NOW + WINDOW)]


def test_an_expired_nonce_is_taken_over(database: Database) -> None:
    assert remember(database)
    later = NOW + WINDOW
    assert remember(database, now=later)
    assert rows(database) == [("sm3:aa", NONCE, later + WINDOW)]


def test_expired_nonces_are_pruned(database: Database) -> None:
    for index in range(5):
        assert remember(database, nonce=f"{NONCE}{index}", now=NOW + timedelta(seconds=index))
    assert database.prune_nonces(NOW + WINDOW + timedelta(seconds=2)) == 3
    assert [row[1] for row in rows(database)] == [f"{NONCE}3", f"{NONCE}4"]
    # recording one prunes on the way, once a minute at most
    assert remember(database, nonce="another-nonce-00000", now=NOW + 2 * WINDOW)
    assert [row[1] for row in rows(database)] == ["another-nonce-00000"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"keyid": ""}, "^a keyid is a string of 1-256 characters$"),
        ({"nonce": "x" * 129}, "^a nonce is a string of 1-128 characters$"),
        ({"now": datetime(2026, 11, 28)}, "^now must be an aware datetime"),
        ({"expires_at": NOW}, "^a nonce expires after the signature was created$"),
    ],
)
def test_malformed_arguments_are_refused(
    database: Database, arguments: dict[str, object], message: str
) -> None:
    call: dict[str, object] = {
        "keyid": "sm3:aa",
        "nonce": NONCE,
        "created_at": NOW,
        "expires_at": NOW + WINDOW,
        "now": NOW,
        **arguments,
    }
    with pytest.raises(ValueError, match=message):
        database.remember_nonce(call.pop("keyid"), call.pop("nonce"), **call)  # type: ignore[arg-type]
    assert rows(database) == []


def test_racing_threads_with_their_own_pools_take_a_nonce_once(
    database: Database, database_url: str
) -> None:
    pools = [open_database(database_url) for _ in range(8)]
    start = threading.Barrier(len(pools))
    results: list[bool] = []

    def race(db: Database) -> None:
        start.wait()
        results.append(remember(db))

    threads = [threading.Thread(target=race, args=(db,)) for db in pools]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        for db in pools:
            db.close()
    assert sorted(results) == [False] * 7 + [True]


_RACER = """
import sys
from datetime import UTC, datetime, timedelta
from ledger.db import open_database
db = open_database(sys.argv[1])
now = datetime(2026, 11, 28, 12, tzinfo=UTC)
sys.stdin.readline()
taken = db.remember_nonce("sm3:aa", "0123456789abcdefghij", created_at=now,
                          expires_at=now + timedelta(seconds=330), now=now)
print("taken" if taken else "refused", flush=True)
"""


def test_racing_processes_take_a_nonce_once(database_url: str) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, database_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for racer in racers:  # all started and waiting: go
        assert racer.stdin is not None
        racer.stdin.write("go\n")
        racer.stdin.flush()
    outputs = sorted(racer.communicate(timeout=60)[0].strip() for racer in racers)
    assert outputs == ["refused", "refused", "refused", "taken"]
    assert all(racer.returncode == 0 for racer in racers)


def _claim(keyid: str, nonce: str = NONCE, now: datetime = NOW) -> NonceClaim:
    return NonceClaim(keyid, nonce, created_at=now, expires_at=now + WINDOW, now=now)


def test_many_claims_in_one_transaction_are_each_decided_as_alone(database: Database) -> None:
    assert remember(database, keyid="sm3:old")
    claims = [_claim("sm3:aa"), _claim("sm3:bb"), _claim("sm3:aa"), _claim("sm3:old")]
    assert database.remember_nonces(claims) == [True, True, False, False]
    assert database.remember_nonces([]) == []
    assert [r[0] for r in rows(database)] == ["sm3:aa", "sm3:bb", "sm3:old"]


def test_a_malformed_claim_refuses_the_whole_group_before_anything_is_written(
    database: Database,
) -> None:
    with pytest.raises(ValueError, match="a nonce is a string of 1-128 characters"):
        database.remember_nonces([_claim("sm3:aa"), _claim("sm3:bb", nonce="")])
    assert rows(database) == []


def test_the_nonce_committer_groups_concurrent_callers_and_refuses_replays(
    database: Database,
) -> None:
    committer = NonceCommitter(database=database)
    committer.start()
    try:
        with ThreadPoolExecutor(16) as pool:
            first = list(pool.map(lambda i: _remember_via(committer, f"sm3:{i % 8}"), range(64)))
        # 8 keys, each nonce claimed 8 times: exactly one claim per key wins
        assert sorted(first).count(True) == 8
        assert len(rows(database)) == 8
    finally:
        committer.stop()
    with pytest.raises(ServiceUnavailable, match="the service is stopping"):
        _remember_via(committer, "sm3:late")


def _remember_via(committer: NonceCommitter, keyid: str) -> bool:
    return committer.remember_nonce(keyid, NONCE, created_at=NOW, expires_at=NOW + WINDOW, now=NOW)
