"""A batch's signed transactions: the first, replacements of stuck ones, and the one mined."""

from __future__ import annotations

import pytest

from ledger.db import BatchStatus, Conflict, Database
from tests.integration.db._support import accepted, at

ROOT = b"\x0a" * 32
PROOFS = {0: [b"\x0c" * 32], 1: [b"\x0d" * 32]}


def _submitted(database: Database) -> int:
    accepted(database, 2)
    batch = database.open_batch(max_size=2, now=at(10))
    assert batch is not None
    database.record_submission(
        batch.batch_id, raw_tx=b"\x02first", tx_hash=b"\x01" * 32, nonce=5, root=ROOT, at=at(11)
    )
    return batch.batch_id


def test_replacements_are_kept_in_order_and_become_the_latest(database: Database) -> None:
    batch_id = _submitted(database)
    replaced = database.record_replacement(
        batch_id,
        replaces=b"\x01" * 32,
        raw_tx=b"\x02second",
        tx_hash=b"\x02" * 32,
        nonce=5,
        at=at(40),
    )
    assert (replaced.tx_hash, replaced.raw_tx, replaced.nonce) == (b"\x02" * 32, b"\x02second", 5)
    assert replaced.status is BatchStatus.SUBMITTED and replaced.leaves == ()
    # the same replacement again is a no-op (a retry after a crash)
    again = database.record_replacement(
        batch_id,
        replaces=b"\x01" * 32,
        raw_tx=b"\x02second",
        tx_hash=b"\x02" * 32,
        nonce=5,
        at=at(41),
    )
    assert again.tx_hash == b"\x02" * 32
    database.record_replacement(
        batch_id,
        replaces=b"\x02" * 32,
        raw_tx=b"\x02third",
        tx_hash=b"\x03" * 32,
        nonce=6,
        at=at(70),
    )
    attempts = database.batch_attempts(batch_id)
    assert [(a.attempt, a.tx_hash[0], a.raw_tx, a.nonce, a.created_at) for a in attempts] == [
        (0, 1, b"\x02first", 5, at(11)),
        (1, 2, b"\x02second", 5, at(40)),
        (2, 3, b"\x02third", 6, at(70)),
    ]


def test_a_replacement_of_what_is_no_longer_the_latest_is_refused(database: Database) -> None:
    batch_id = _submitted(database)
    database.record_replacement(
        batch_id,
        replaces=b"\x01" * 32,
        raw_tx=b"\x02second",
        tx_hash=b"\x02" * 32,
        nonce=5,
        at=at(40),
    )
    with pytest.raises(Conflict, match=f"batch {batch_id}'s latest transaction is 0x0202"):
        database.record_replacement(
            batch_id,
            replaces=b"\x01" * 32,
            raw_tx=b"\x02other",
            tx_hash=b"\x04" * 32,
            nonce=5,
            at=at(41),
        )
    assert len(database.batch_attempts(batch_id)) == 2


def test_the_mined_attempt_is_what_the_batch_records(database: Database) -> None:
    batch_id = _submitted(database)
    database.record_replacement(
        batch_id,
        replaces=b"\x01" * 32,
        raw_tx=b"\x02second",
        tx_hash=b"\x02" * 32,
        nonce=5,
        at=at(40),
    )
    with pytest.raises(Conflict, match=f"batch {batch_id} has no transaction 0x0909"):
        database.record_anchored(
            batch_id,
            block_number=9,
            block_hash=b"\x0b" * 32,
            anchored_at=at(50),
            proofs=PROOFS,
            tx_hash=b"\x09" * 32,
        )
    anchored = database.record_anchored(
        batch_id,
        block_number=9,
        block_hash=b"\x0b" * 32,
        anchored_at=at(50),
        proofs=PROOFS,
        tx_hash=b"\x01" * 32,  # the first attempt was mined after all
    )
    assert (anchored.tx_hash, anchored.raw_tx, anchored.nonce) == (b"\x01" * 32, b"\x02first", 5)
    inclusion = database.inclusion(anchored.leaves[0].agreement_id, 1)
    assert (inclusion.tx_hash, inclusion.raw_tx) == (b"\x01" * 32, b"\x02first")
    with pytest.raises(Conflict, match=f"batch {batch_id} is anchored: nothing to replace"):
        database.record_replacement(
            batch_id,
            replaces=b"\x01" * 32,
            raw_tx=b"\x02late",
            tx_hash=b"\x05" * 32,
            nonce=5,
            at=at(60),
        )
