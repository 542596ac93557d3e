"""A batch's signed transactions: the first, replacements of stuck ones, and the one mined."""

from __future__ import annotations

import pytest

from ledger.db import Batch, BatchStatus, Conflict, Database
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


def _replace(
    database: Database, batch_id: int, old: int, new: int, raw_tx: bytes, nonce: int, seconds: int
) -> Batch:
    """Replace the attempt whose hash is ``old`` repeated with one hashed ``new`` repeated."""
    return database.record_replacement(
        batch_id,
        replaces=bytes([old]) * 32,
        raw_tx=raw_tx,
        tx_hash=bytes([new]) * 32,
        nonce=nonce,
        at=at(seconds),
    )


def test_replacements_are_kept_in_order_and_become_the_latest(database: Database) -> None:
    batch_id = _submitted(database)
    replaced = _replace(database, batch_id, 0x01, 0x02, b"\x02second", 5, 40)
    assert (replaced.tx_hash, replaced.raw_tx, replaced.nonce) == (b"\x02" * 32, b"\x02second", 5)
    assert replaced.status is BatchStatus.SUBMITTED and replaced.leaves == ()
    # the same replacement again is a no-op (a retry after a crash)
    again = _replace(database, batch_id, 0x01, 0x02, b"\x02second", 5, 41)
    assert again.tx_hash == b"\x02" * 32
    _replace(database, batch_id, 0x02, 0x03, b"\x02third", 6, 70)
    attempts = database.batch_attempts(batch_id)
    assert [(a.attempt, a.tx_hash[0], a.raw_tx, a.nonce, a.created_at) for a in attempts] == [
        (0, 1, b"\x02first", 5, at(11)),
        (1, 2, b"\x02second", 5, at(40)),
        (2, 3, b"\x02third", 6, at(70)),
    ]


def test_a_replacement_of_what_is_no_longer_the_latest_is_refused(database: Database) -> None:
    batch_id = _submitted(database)
    _replace(database, batch_id, 0x01, 0x02, b"\x02second", 5, 40)
    with pytest.raises(Conflict, match=f"batch {batch_id}'s latest transaction is 0x0202"):
        _replace(database, batch_id, 0x01, 0x04, b"\x02other", 5, 41)
    assert len(database.batch_attempts(batch_id)) == 2


def test_the_mined_attempt_is_what_the_batch_records(database: Database) -> None:
    batch_id = _submitted(database)
    _replace(database, batch_id, 0x01, 0x02, b"\x02second", 5, 40)
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
        _replace(database, batch_id, 0x01, 0x05, b"\x02late", 5, 60)
