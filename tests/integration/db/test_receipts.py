"""Access receipts in the database (SQLite and PostgreSQL): written with their outbox row and
counted against their grant's maximum in one transaction, anchored in batches mixed with
agreement versions, and read by receipt, grant and period."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from ledger.db import Conflict, Database, NotFound, open_database
from ledger.db.errors import UsesExhausted
from ledger.db.records import BatchStatus, ReceiptStatus
from ledger.merkle import MerkleTree, verify_inclusion
from tests.integration.db._support import accepted, access_receipt, at, digest, leaf_of, race

GRANT = digest("grant", 1)
OTHER_GRANT = digest("grant", 2)
T = at(0).replace(microsecond=0)


def _outbox_rows(db: Database) -> int:
    return db.counts().unbatched


def test_a_receipt_is_stored_queued_with_its_outbox_row(database: Database) -> None:
    receipt = access_receipt(GRANT, T)
    stored = database.record_receipt(receipt, max_uses=None)

    assert stored.receipt == receipt and stored.leaf == receipt.leaf_hash
    assert (stored.status, stored.inclusion) == (ReceiptStatus.QUEUED, None)
    assert database.receipt(receipt.receipt_id) == stored
    assert database.uses_of(GRANT) == 1 and database.uses_of(OTHER_GRANT) == 0
    assert _outbox_rows(database) == 1
    assert database.counts().accepted == 0  # a receipt is no agreement version


def test_a_receipt_is_queued_at_the_services_time_not_its_chain_time(database: Database) -> None:
    """``used_at`` is the chain's time, which may run ahead of the service's clock: the outbox
    row is timed by ``queued_at``, so the anchoring loop does not wait for the chain's time."""
    ahead = access_receipt(GRANT, T + timedelta(hours=7))
    database.record_receipt(ahead, max_uses=None, queued_at=T)
    assert database.anchoring_window().oldest_unbatched_at == T
    assert database.receipt(ahead.receipt_id).receipt.used_at == T + timedelta(hours=7)
    with pytest.raises(ValueError, match="queued_at"):
        database.record_receipt(
            access_receipt(GRANT, T), max_uses=None, queued_at=T.replace(tzinfo=None)
        )


def test_receipts_are_read_by_grant_and_by_period_oldest_first(database: Database) -> None:
    late = access_receipt(GRANT, T + timedelta(seconds=20))
    early = access_receipt(GRANT, T)
    other = access_receipt(OTHER_GRANT, T + timedelta(seconds=10))
    for receipt in (late, early, other):
        database.record_receipt(receipt, max_uses=None)

    assert [s.receipt for s in database.receipts_of_grant(GRANT)] == [early, late]
    assert [s.receipt for s in database.receipts_of_grant(OTHER_GRANT)] == [other]
    assert database.receipts_of_grant(digest("grant", 3)) == []
    # the period is [start, end): a receipt at the end belongs to the next one
    period = database.receipts_between(T, T + timedelta(seconds=20))
    assert [s.receipt for s in period] == [early, other]
    assert [
        s.receipt for s in database.receipts_between(T + timedelta(seconds=1), late.used_at)
    ] == [other]
    assert [s.receipt for s in database.receipts_between(T, T + timedelta(days=1))] == [
        early,
        other,
        late,
    ]
    assert database.receipts_between(T, T) == []


def test_uses_beyond_the_maximum_are_refused_and_leave_nothing(database: Database) -> None:
    for _ in range(2):
        database.record_receipt(access_receipt(GRANT, T), max_uses=2)
    refused = access_receipt(GRANT, T)

    with pytest.raises(UsesExhausted, match=rf"^grant 0x{GRANT.hex()} has had all its 2 uses$"):
        database.record_receipt(refused, max_uses=2)

    with pytest.raises(NotFound, match=rf"^no access receipt '{refused.receipt_id}'$"):
        database.receipt(refused.receipt_id)
    assert database.uses_of(GRANT) == 2
    assert len(database.receipts_of_grant(GRANT)) == 2
    assert _outbox_rows(database) == 2
    # a higher maximum (another grant's, or a caller's mistake) counts on from the stored uses
    database.record_receipt(access_receipt(GRANT, T), max_uses=3)
    with pytest.raises(UsesExhausted, match=r"has had all its 3 uses$"):
        database.record_receipt(access_receipt(GRANT, T), max_uses=3)
    # other grants are counted apart; no maximum is no limit
    database.record_receipt(access_receipt(OTHER_GRANT, T), max_uses=1)
    for _ in range(3):
        database.record_receipt(access_receipt(GRANT, T), max_uses=None)
    assert (database.uses_of(GRANT), database.uses_of(OTHER_GRANT)) == (6, 1)


def test_the_same_receipt_again_is_a_no_op_and_another_under_its_id_a_conflict(
    database: Database,
) -> None:
    receipt = access_receipt(GRANT, T)
    first = database.record_receipt(receipt, max_uses=1)

    # a retry (the first commit's acknowledgment lost): no second use, no second outbox row
    assert database.record_receipt(receipt, max_uses=1) == first
    again = dataclasses.replace(receipt, used_at=T + timedelta(seconds=1))
    with pytest.raises(Conflict, match=rf"^another receipt is stored as {receipt.receipt_id}$"):
        database.record_receipt(again, max_uses=5)

    assert database.uses_of(GRANT) == 1
    assert database.receipt(receipt.receipt_id).receipt == receipt
    assert _outbox_rows(database) == 1


def test_malformed_arguments_are_refused(database: Database) -> None:
    receipt = access_receipt(GRANT, T)
    with pytest.raises(ValueError, match=r"^max_uses must be an int >= 1, got 0$"):
        database.record_receipt(receipt, max_uses=0)
    with pytest.raises(ValueError, match=r"^an AccessReceipt is recorded, not bytes$"):
        database.record_receipt(receipt.to_bytes(), max_uses=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^a period ends after it starts: "):
        database.receipts_between(T, T - timedelta(seconds=1))
    with pytest.raises(ValueError, match=r"^end must be an aware datetime, got "):
        database.receipts_between(T, T.replace(tzinfo=None))
    with pytest.raises(ValueError, match=r"^grant_id must be 32 bytes, got 31$"):
        database.uses_of(b"\x01" * 31)
    assert database.uses_of(GRANT) == 0 and _outbox_rows(database) == 0


def test_racing_for_the_last_use_exactly_one_wins(database_url: str) -> None:
    """Eight writers, each on its own connection pool (as service processes are), race for the
    last of five uses: one receipt is written, seven are refused and leave nothing."""
    racers = 8
    first = open_database(database_url)
    try:
        for _ in range(4):
            first.record_receipt(access_receipt(GRANT, T), max_uses=5)
    finally:
        first.close()
    won, refused = race(
        database_url,
        racers,
        lambda db: access_receipt(GRANT, T + timedelta(seconds=1)),
        UsesExhausted,
        max_uses=5,
    )
    assert (len(won), refused) == (1, racers - 1)
    with open_database(database_url) as db:
        assert db.uses_of(GRANT) == 5
        stored = db.receipts_of_grant(GRANT)
        assert len(stored) == 5 and stored[-1].receipt.receipt_id == won[0]
        assert db.counts().unbatched == 5


def test_a_mixed_batch_anchors_versions_and_receipts_with_their_proofs(
    database: Database,
) -> None:
    keys = accepted(database, 2)
    receipts = [access_receipt(GRANT, T + timedelta(seconds=i)) for i in range(2)]
    database.record_receipt(receipts[0], max_uses=None)
    keys += accepted(database, 1)
    database.record_receipt(receipts[1], max_uses=None)

    batch = database.open_batch(max_size=10, now=at(10))
    assert batch is not None and batch.size == 5
    assert [(leaf.agreement_id, leaf.version, leaf.receipt_id) for leaf in batch.leaves] == [
        (*keys[0], None),
        (*keys[1], None),
        (None, None, receipts[0].receipt_id),
        (*keys[2], None),
        (None, None, receipts[1].receipt_id),
    ]
    assert [leaf.leaf for leaf in batch.leaves] == [
        leaf_of(*keys[0]),
        leaf_of(*keys[1]),
        receipts[0].leaf_hash,
        leaf_of(*keys[2]),
        receipts[1].leaf_hash,
    ]
    assert database.receipt(receipts[0].receipt_id).status is ReceiptStatus.BATCHED
    tree = MerkleTree([leaf.leaf for leaf in batch.leaves])
    database.record_submission(
        batch.batch_id, raw_tx=b"\x02tx", tx_hash=b"\x01" * 32, nonce=0, root=tree.root
    )
    assert database.receipt(receipts[1].receipt_id).status is ReceiptStatus.BATCHED
    proofs = {i: tree.inclusion_proof(i) for i in range(tree.size)}

    anchored = database.record_anchored(
        batch.batch_id,
        block_number=7,
        block_hash=b"\x0b" * 32,
        anchored_at=at(11),
        proofs=proofs,
    )

    assert anchored.status is BatchStatus.ANCHORED
    for agreement_id, version in keys:
        inclusion = database.inclusion(agreement_id, version)
        assert inclusion.root == tree.root
        verify_inclusion(
            leaf_hash_value=leaf_of(agreement_id, version),
            index=inclusion.leaf_index,
            tree_size=5,
            path=inclusion.path,
            root=tree.root,
        )
    for index, receipt in zip((2, 4), receipts, strict=True):
        stored = database.receipt(receipt.receipt_id)
        assert stored.status is ReceiptStatus.ANCHORED and stored.inclusion is not None
        inclusion = stored.inclusion
        assert (inclusion.receipt_id, inclusion.batch_id, inclusion.leaf_index) == (
            receipt.receipt_id,
            batch.batch_id,
            index,
        )
        assert (inclusion.tree_size, inclusion.leaf, inclusion.root) == (
            5,
            receipt.leaf_hash,
            tree.root,
        )
        assert (inclusion.tx_hash, inclusion.raw_tx, inclusion.block_number) == (
            b"\x01" * 32,
            b"\x02tx",
            7,
        )
        assert (inclusion.block_hash, inclusion.anchored_at) == (b"\x0b" * 32, at(11))
        verify_inclusion(
            leaf_hash_value=receipt.leaf_hash,
            index=inclusion.leaf_index,
            tree_size=inclusion.tree_size,
            path=inclusion.path,
            root=inclusion.root,
        )
    assert [s.inclusion for s in database.receipts_of_grant(GRANT)] == [
        database.receipt(r.receipt_id).inclusion for r in receipts
    ]
    # the anchored step again with the same proofs is a no-op; a receipt's other path conflicts
    database.record_anchored(
        batch.batch_id, block_number=7, block_hash=b"\x0b" * 32, anchored_at=at(12), proofs=proofs
    )
    with pytest.raises(Conflict, match=rf"^batch {batch.batch_id} is already anchored in block 7"):
        database.record_anchored(
            batch.batch_id,
            block_number=7,
            block_hash=b"\x0b" * 32,
            anchored_at=at(12),
            proofs={**proofs, 4: [b"\x0c" * 32, *proofs[4][1:]]},
        )
    assert database.counts().anchored == 3 and database.counts().unbatched == 0


def test_a_batch_of_receipts_alone_is_anchored(database: Database) -> None:
    receipts = [access_receipt(GRANT, T) for _ in range(3)]
    for receipt in receipts:
        database.record_receipt(receipt, max_uses=3)
    batch = database.open_batch(max_size=2, now=at(10))
    assert batch is not None
    assert [leaf.receipt_id for leaf in batch.leaves] == [r.receipt_id for r in receipts[:2]]
    tree = MerkleTree([leaf.leaf for leaf in batch.leaves])
    database.record_submission(
        batch.batch_id, raw_tx=b"\x02tx", tx_hash=b"\x01" * 32, nonce=0, root=tree.root
    )
    database.record_anchored(
        batch.batch_id,
        block_number=3,
        block_hash=b"\x0b" * 32,
        anchored_at=at(11),
        proofs={i: tree.inclusion_proof(i) for i in range(tree.size)},
    )
    statuses = {s.receipt.receipt_id: s.status for s in database.receipts_of_grant(GRANT)}
    assert statuses == {
        receipts[0].receipt_id: ReceiptStatus.ANCHORED,
        receipts[1].receipt_id: ReceiptStatus.ANCHORED,
        receipts[2].receipt_id: ReceiptStatus.QUEUED,
    }
    assert database.counts().anchored == 0  # no version was touched
