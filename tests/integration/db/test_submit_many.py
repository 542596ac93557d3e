"""Group commit (submit_many): many fully signed versions accepted in one transaction, each
checked like the step-by-step path, refused items in their own result slots."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, cast

import pytest
import sqlalchemy as sa

from ledger.db import (
    AgreementVersion,
    Conflict,
    Database,
    DatabaseError,
    NewVersion,
    NotFound,
    VersionKind,
    VersionStatus,
    group_commit,
    open_database,
)
from ledger.db.schema import outbox
from tests.integration.db._support import (
    AGREEMENT_ID,
    ROLES,
    accepted,
    at,
    create_draft,
    leaf_of,
    new_agreement_id,
    new_version,
    sign,
    utc,
)

VOID = VersionKind.VOID


def stored(results: list[AgreementVersion | Conflict]) -> list[AgreementVersion]:
    """The results, asserting none is a Conflict."""
    assert not [r for r in results if isinstance(r, Conflict)], results
    return [r for r in results if isinstance(r, AgreementVersion)]


def outbox_keys(db: Database) -> list[tuple[str, int]]:
    with db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.agreement_id, outbox.c.version).order_by(outbox.c.seq)
        )
        return [(row.agreement_id, row.version) for row in rows]


def test_results_are_what_is_stored_in_input_order(database: Database) -> None:
    items = [new_version(accepted_at=at(10 + i)) for i in range(3)]
    results = stored(database.submit_many(items))
    assert [(r.agreement_id, r.version) for r in results] == [
        (i.agreement_id, i.version) for i in items
    ]
    for item, result in zip(items, results, strict=True):
        assert result == database.get_version(item.agreement_id, 1)
        assert result.status is VersionStatus.ACCEPTED
        assert result.created_at == result.accepted_at == utc(item.accepted_at)
        assert result.keys_erased_at is None
        assert all(sig.recorded_at == utc(item.accepted_at) for sig in result.signatures)
    assert outbox_keys(database) == [(i.agreement_id, 1) for i in items]
    counts = database.counts()
    assert (counts.drafts, counts.accepted, counts.unbatched) == (0, 3, 3)
    assert counts.oldest_unanchored_at == at(10)
    assert database.submit_many([]) == []


def test_signatures_come_back_ordered_by_role(database: Database) -> None:
    roles = ("witness", "customer", "broker")
    item = new_version(roles=roles, signed_by=("customer", "witness", "broker"))
    [result] = stored(database.submit_many([item]))
    assert [sig.role for sig in result.signatures] == ["broker", "customer", "witness"]
    assert result.required_roles == roles  # as given
    assert database.get_version(item.agreement_id, 1) == result


def test_supersede_a_stored_version_and_within_one_call(database: Database) -> None:
    [(stored_id, _)] = accepted(database)
    fresh_id = new_agreement_id()
    results = stored(
        database.submit_many(
            [
                new_version(stored_id, 2),
                new_version(fresh_id, 1),
                new_version(fresh_id, 2),
                new_version(fresh_id, 3),
            ]
        )
    )
    assert [(r.agreement_id, r.version) for r in results] == [
        (stored_id, 2),
        (fresh_id, 1),
        (fresh_id, 2),
        (fresh_id, 3),
    ]
    assert [v.version for v in database.versions(fresh_id)] == [1, 2, 3]
    assert database.latest_version(stored_id).version == 2
    assert outbox_keys(database)[1:] == [(r.agreement_id, r.version) for r in results]


def test_void_rules(database: Database) -> None:
    [(voided, _)] = accepted(database)
    in_call = new_agreement_id()
    results = database.submit_many(
        [
            new_version(kind=VOID),  # a void is never version 1
            new_version(voided, 2, kind=VOID),
            new_version(voided, 3),  # follows the void accepted just before
            new_version(in_call, 1),
            new_version(in_call, 2, kind=VOID),
            new_version(in_call, 3, kind=VOID),  # not even another void
        ]
    )
    assert [type(r).__name__ for r in results] == [
        "Conflict",
        "AgreementVersion",
        "Conflict",
        "AgreementVersion",
        "AgreementVersion",
        "Conflict",
    ]
    assert "nothing to void" in str(results[0])
    assert "is void" in str(results[2]) and "is void" in str(results[5])
    assert database.latest_version(voided).kind is VOID
    [late] = database.submit_many([new_version(voided, 3)])  # a later call: still void
    assert isinstance(late, Conflict) and "is void" in str(late)


def test_a_void_draft_does_not_block_but_a_pending_draft_counts_as_a_version(
    database: Database,
) -> None:
    [(agreement_id, _)] = accepted(database)
    create_draft(database, agreement_id, 2, kind="void")  # not signed: not void yet
    pending = create_draft(database).agreement_id
    results = database.submit_many(
        [
            new_version(agreement_id, 2),  # version 2 is the void draft
            new_version(agreement_id, 3),  # as create_draft would allow
            new_version(pending, 1),  # version 1 is the pending draft
            new_version(pending, 2),
        ]
    )
    assert isinstance(results[0], Conflict) and "next version is 3, not 2" in str(results[0])
    assert isinstance(results[2], Conflict) and "next version is 2, not 1" in str(results[2])
    assert isinstance(results[1], AgreementVersion) and isinstance(results[3], AgreementVersion)
    assert database.get_version(pending, 1).status is VersionStatus.DRAFT  # untouched


def test_conflicting_items_get_their_slot_and_the_rest_is_written(database: Database) -> None:
    [(existing, _)] = accepted(database)
    twice = new_agreement_id()
    good = [new_version() for _ in range(3)]
    items = [
        good[0],
        new_version(existing, 1),  # the agreement exists: v1 is taken
        new_version(twice, 1),
        new_version(twice, 1, accepted_at=at(4)),  # the same key twice in one call
        good[1],
        new_version(version=2),  # a new agreement starts at version 1
        new_version(existing, 3),  # not the next version
        new_version(signed_by=("customer",)),  # a required role is missing
        new_version(signed_by=(*ROLES, "notary")),  # a role that is not required
        new_version(signed_by=("customer", "customer")),  # one role twice, the other never
        good[2],
    ]
    results = database.submit_many(items)
    assert len(results) == len(items)
    refused = [i for i, r in enumerate(results) if isinstance(r, Conflict)]
    assert refused == [1, 3, 5, 6, 7, 8, 9]
    assert "next version is 2, not 1" in str(results[1])
    assert "next version is 2, not 1" in str(results[3])
    assert "next version is 1, not 2" in str(results[5])
    assert "next version is 2, not 3" in str(results[6])
    for index in (7, 8, 9):
        assert "exactly one signature of each of ['broker', 'customer']" in str(results[index])
    written = [(items[i].agreement_id, items[i].version) for i in (0, 2, 4, 10)]
    assert [(r.agreement_id, r.version) for r in results if isinstance(r, AgreementVersion)] == (
        written
    )
    assert outbox_keys(database)[1:] == written  # input order, refused ones skipped
    assert database.get_version(twice, 1).accepted_at == at(3)  # the first one won
    for index in (5, 7, 8, 9):
        with pytest.raises(NotFound, match=f"^no agreement {items[index].agreement_id}$"):
            database.versions(items[index].agreement_id)
    assert database.counts().accepted == 1 + 4


#: One malformation each (``signature``: of the item's first signature).
MALFORMED: list[dict[str, Any]] = [
    {"leaf": b"\x01" * 31},
    {"document_sm3": b"\x01" * 33},
    {"accepted_at": at(3).replace(tzinfo=None)},
    {"agreement_id": "agr_XYZ"},
    {"version": 0},
    {"kind": "cancel"},
    {"size": -1},
    {"required_roles": ("customer", "customer")},
    {"required_roles": ("Customer",)},
    {"wrapped_keys": {b"\x01" * 31: b"wrapped"}},
    {"wrapped_keys": {b"\x01" * 32: b""}},
    {"signature": {"public_key": b"\x04" * 64}},
    {"signature": {"signed_at": at(1).replace(tzinfo=None)}},
    {"signature": {"signature": b"\x30\x02"}},  # shorter than any DER signature
    {"signature": {"distid": b""}},
    {"signature": {"role": "Bad Role"}},
]


def _malformed(item: NewVersion, change: dict[str, Any]) -> NewVersion:
    if "signature" not in change:
        return dataclasses.replace(item, **change)
    first = dataclasses.replace(item.signatures[0], **change["signature"])
    return dataclasses.replace(item, signatures=(first, *item.signatures[1:]))


def test_a_malformed_item_refuses_the_whole_call_before_any_write(database: Database) -> None:
    for change in MALFORMED:
        good = new_version()
        with pytest.raises(ValueError, match=r"items\[1\]"):
            database.submit_many([good, _malformed(new_version(), change), new_version()])
        with pytest.raises(NotFound, match=f"^no version 1 of {good.agreement_id}$"):
            database.get_version(good.agreement_id, 1)
    assert database.counts().accepted == 0 and outbox_keys(database) == []


def test_not_a_new_version_is_a_value_error(database: Database) -> None:
    with pytest.raises(ValueError, match=r"items\[0\]: expected a NewVersion"):
        database.submit_many([object()])  # type: ignore[list-item]


@pytest.fixture
def fail_on_outbox_insert(database: Database) -> Iterator[None]:
    def explode(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            raise sa.exc.OperationalError(statement, None, Exception("simulated I/O error"))

    sa.event.listen(database.engine, "before_cursor_execute", explode)
    try:
        yield
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", explode)


def test_a_failing_transaction_writes_nothing(
    database: Database, fail_on_outbox_insert: None
) -> None:
    items = [new_version() for _ in range(3)]
    with pytest.raises(DatabaseError, match="simulated I/O error"):
        database.submit_many(items)
    for item in items:
        with pytest.raises(NotFound, match=f"^no version 1 of {item.agreement_id}$"):
            database.get_version(item.agreement_id, 1)
        with pytest.raises(NotFound, match=f"^no version 1 of {item.agreement_id}$"):
            database.document_keys(item.agreement_id, 1)
    assert database.counts().accepted == 0


def test_a_version_stored_after_the_read_turns_into_a_conflict_slot(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent writer commits between submit_many's read and its insert (possible on
    PostgreSQL): the unique key refuses the insert, submit_many reads again and reports it."""
    [(taken, _)] = accepted(database)
    real = group_commit.read_latest
    reads: list[int] = []

    def stale_first(conn: sa.Connection, agreement_ids: set[str]) -> Any:
        reads.append(len(agreement_ids))
        return {} if len(reads) == 1 else real(conn, agreement_ids)

    monkeypatch.setattr(group_commit, "read_latest", stale_first)
    other = new_version()
    results = database.submit_many([new_version(taken, 1), other])
    assert len(reads) == 2
    assert isinstance(results[0], Conflict) and "next version is 2" in str(results[0])
    assert results[1] == database.get_version(other.agreement_id, 1)
    assert outbox_keys(database) == [(taken, 1), (other.agreement_id, 1)]


def _race(calls: list[Callable[[], object]]) -> list[object]:
    """Run the calls in threads released at the same moment; their results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_calls_racing_for_the_same_new_agreement(database_url: str) -> None:
    writers = [open_database(database_url) for _ in range(2)]  # separate pools, connections
    try:
        for _ in range(5):
            shared = new_agreement_id()
            calls = [
                [new_version(), new_version(shared, 1, accepted_at=at(i)), new_version()]
                for i in range(2)
            ]
            results = _race(
                [partial(db.submit_many, items) for db, items in zip(writers, calls, strict=True)]
            )
            assert all(isinstance(r, list) for r in results), results
            slots = [cast(list[Any], r)[1] for r in results]
            winners = [s for s in slots if isinstance(s, AgreementVersion)]
            assert len(winners) == 1, slots
            assert sum(isinstance(s, Conflict) for s in slots) == 1
            assert writers[0].versions(shared) == winners
            for items, result in zip(calls, results, strict=True):
                for index in (0, 2):
                    assert cast(list[Any], result)[index] == writers[0].get_version(
                        items[index].agreement_id, 1
                    )
    finally:
        for db in writers:
            db.close()


def test_a_thousand_in_one_call_are_batched_in_input_order(database: Database) -> None:
    """A sanity check of the fast path's shape, not a timed assertion."""
    items = [new_version(accepted_at=at(20)) for _ in range(1000)]
    started = time.perf_counter()
    results = stored(database.submit_many(items))
    elapsed = time.perf_counter() - started
    print(f"\nsubmit_many of 1000 on {database.backend}: {elapsed * 1000:.0f} ms")
    assert len(results) == 1000
    keys = [(item.agreement_id, 1) for item in items]
    assert outbox_keys(database) == keys
    batch = database.open_batch(max_size=1000, now=at(30))
    assert batch is not None and batch.size == 1000
    assert [(leaf.agreement_id, leaf.version) for leaf in batch.leaves] == keys
    assert [leaf.leaf for leaf in batch.leaves] == [leaf_of(*key) for key in keys]
    assert database.counts().unbatched == 0


def test_versions_lists_every_version_with_its_signatures(database: Database) -> None:
    with pytest.raises(NotFound, match=f"^no agreement {AGREEMENT_ID}$"):
        database.versions(new_agreement_id())
    [(agreement_id, _)] = accepted(database)
    database.submit_many([new_version(agreement_id, 2)])
    create_draft(database, agreement_id, 3)
    sign(database, agreement_id, 3, "customer")
    versions = database.versions(agreement_id)
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions == [database.get_version(agreement_id, v) for v in (1, 2, 3)]
    assert [len(v.signatures) for v in versions] == [2, 2, 1]
    assert [v.status for v in versions] == [
        VersionStatus.ACCEPTED,
        VersionStatus.ACCEPTED,
        VersionStatus.DRAFT,
    ]
    assert [s.role for s in versions[0].signatures] == sorted(ROLES)
