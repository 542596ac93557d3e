"""The outbox and its batches: atomic acceptance, claiming, crash recovery, idempotent anchoring."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.db import (
    Batch,
    BatchStatus,
    Conflict,
    Database,
    NotFound,
    VersionStatus,
    open_database,
)
from tests.integration.db._support import ROLES, accepted, at, create_draft, digest, leaf_of, sign


def root_of(batch: Batch) -> bytes:
    """A stand-in for the Merkle root: any deterministic function of the leaves will do here."""
    return digest("root", [leaf.leaf for leaf in batch.leaves])


def proofs_of(batch: Batch) -> dict[int, list[bytes]]:
    return {
        leaf.leaf_index: [digest("sibling", leaf.leaf, level) for level in range(3)]
        for leaf in batch.leaves
    }


def anchor(db: Database, batch: Batch, *, raw_tx: bytes | None = None) -> Batch:
    """What a batcher does with a batch; each step tolerates having been done before."""
    db.set_batch_root(batch.batch_id, root_of(batch))
    raw_tx = raw_tx or digest("raw", batch.batch_id) * 4
    try:
        batch = db.record_submission(
            batch.batch_id, raw_tx=raw_tx, tx_hash=digest("tx", raw_tx), nonce=batch.batch_id
        )
    except Conflict:
        batch = db.get_batch(batch.batch_id)  # another batcher signed first: re-send its bytes
    assert batch.raw_tx is not None
    return db.record_anchored(
        batch.batch_id,
        block_number=100 + batch.batch_id,
        block_hash=digest("block", batch.raw_tx),
        anchored_at=at(60),
        proofs=proofs_of(batch),
    )


@pytest.fixture
def fail_on_outbox_insert(database: Database) -> Iterator[None]:
    def explode(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            raise RuntimeError("simulated crash between the status update and the outbox insert")

    sa.event.listen(database.engine, "before_cursor_execute", explode)
    try:
        yield
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", explode)


def test_accept_is_atomic_with_its_outbox_row(
    database: Database, fail_on_outbox_insert: None
) -> None:
    draft = create_draft(database)
    for role in ROLES:
        sign(database, draft.agreement_id, 1, role)
    with pytest.raises(RuntimeError, match="simulated crash"):
        database.accept(
            draft.agreement_id, 1, leaf=leaf_of(draft.agreement_id, 1), accepted_at=at(3)
        )
    version = database.get_version(draft.agreement_id, 1)
    assert version.status is VersionStatus.DRAFT and version.accepted_at is None
    counts = database.counts()
    assert (counts.drafts, counts.accepted, counts.unbatched) == (1, 0, 0)


def test_open_batch_claims_in_seq_order_up_to_max_size(database: Database) -> None:
    assert database.open_batch(max_size=10, now=at(10)) is None
    keys = accepted(database, 5)
    batch = database.open_batch(max_size=3, now=at(10))
    assert batch is not None
    assert batch.status is BatchStatus.OPEN and batch.size == 3 and batch.root is None
    assert [(leaf.agreement_id, leaf.version) for leaf in batch.leaves] == keys[:3]
    assert [leaf.leaf_index for leaf in batch.leaves] == [0, 1, 2]
    assert [leaf.leaf for leaf in batch.leaves] == [leaf_of(*key) for key in keys[:3]]
    seqs = [leaf.seq for leaf in batch.leaves]
    assert seqs == sorted(seqs) and (batch.first_seq, batch.last_seq) == (seqs[0], seqs[-1])
    assert batch.created_at == at(10)
    assert database.counts().unbatched == 2

    # Unfinished: every later call (after a crash: from a fresh process) gets the same batch.
    assert database.open_batch(max_size=3, now=at(11)) == batch
    again = open_database(str(database.engine.url.render_as_string(hide_password=False)))
    try:
        assert again.open_batch(max_size=50, now=at(12)) == batch
        assert again.unfinished_batches() == [batch]
    finally:
        again.close()

    anchor(database, batch)
    rest = database.open_batch(max_size=3, now=at(13))
    assert rest is not None and rest.batch_id != batch.batch_id
    assert [(leaf.agreement_id, leaf.version) for leaf in rest.leaves] == keys[3:]
    anchor(database, rest)
    assert database.open_batch(max_size=3, now=at(14)) is None
    assert database.unfinished_batches() == []


def test_open_batch_claims_rows_with_gaps_between_their_seqs(database: Database) -> None:
    # Sequences leave gaps (a rolled back insert on PostgreSQL): the claim is then row by row.
    keys = accepted(database, 4)
    with database.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE outbox SET seq = seq + 1000 WHERE seq = (SELECT max(seq) FROM outbox)")
        )
    batch = database.open_batch(max_size=10, now=at(10))
    assert batch is not None and batch.size == 4
    assert [(leaf.agreement_id, leaf.version) for leaf in batch.leaves] == keys
    assert [leaf.leaf_index for leaf in batch.leaves] == [0, 1, 2, 3]
    assert batch.last_seq - batch.first_seq > 1000
    assert database.get_batch(batch.batch_id) == batch  # what was claimed is what is stored
    anchor(database, batch)
    assert database.counts().anchored == 4


def test_open_batch_claims_a_run_of_seqs_with_their_leaf_indexes(database: Database) -> None:
    keys = accepted(database, 6)
    first = database.open_batch(max_size=2, now=at(10))
    assert first is not None
    anchor(database, first)
    batch = database.open_batch(max_size=3, now=at(11))  # seqs 3..5 of 1..6: a consecutive run
    assert batch is not None
    assert [(leaf.agreement_id, leaf.version) for leaf in batch.leaves] == keys[2:5]
    assert database.get_batch(batch.batch_id) == batch
    with database.engine.connect() as conn:
        claimed = conn.execute(
            sa.text("SELECT seq, leaf_index FROM outbox WHERE batch_id = :b ORDER BY seq"),
            {"b": batch.batch_id},
        ).all()
    assert [(int(seq), int(index)) for seq, index in claimed] == [
        (leaf.seq, leaf.leaf_index) for leaf in batch.leaves
    ]
    assert database.counts().unbatched == 1


def test_submission_may_carry_the_root_and_leaves_may_be_left_out(database: Database) -> None:
    accepted(database, 3)
    batch = database.open_batch(max_size=10, now=at(10))
    assert batch is not None
    root = root_of(batch)
    with pytest.raises(ValueError, match=r"^root must be 32 bytes, got 5$"):
        database.record_submission(
            batch.batch_id, raw_tx=b"raw", tx_hash=b"\x05" * 32, nonce=0, root=b"short"
        )
    # root and signed transaction in one step, the batch row alone coming back
    submitted = database.record_submission(
        batch.batch_id, raw_tx=b"raw", tx_hash=b"\x05" * 32, nonce=0, root=root, with_leaves=False
    )
    assert submitted.status is BatchStatus.SUBMITTED and submitted.root == root
    assert submitted.leaves == ()
    stored = database.get_batch(batch.batch_id)
    assert stored.leaves == batch.leaves
    assert replace(stored, leaves=()) == submitted
    # repeats: the same root and bytes are a no-op, another root is a conflict
    assert (
        database.record_submission(
            batch.batch_id, raw_tx=b"raw", tx_hash=b"\x05" * 32, nonce=0, root=root
        )
        == stored
    )
    with pytest.raises(Conflict, match="already has root"):
        database.record_submission(
            batch.batch_id, raw_tx=b"raw", tx_hash=b"\x05" * 32, nonce=0, root=b"\x09" * 32
        )
    assert database.set_batch_root(batch.batch_id, root, with_leaves=False).leaves == ()
    done = database.record_anchored(
        batch.batch_id,
        block_number=9,
        block_hash=b"\x06" * 32,
        anchored_at=at(20),
        proofs=proofs_of(batch),
        with_leaves=False,
    )
    assert done.leaves == () and done.status is BatchStatus.ANCHORED
    assert replace(database.get_batch(batch.batch_id), leaves=()) == done
    assert done.anchored_at == at(20)


def test_a_submitted_batch_survives_a_crash_with_its_signed_transaction(database_url: str) -> None:
    db = open_database(database_url)
    accepted(db, 2)
    batch = db.open_batch(max_size=10, now=at(10))
    assert batch is not None
    db.set_batch_root(batch.batch_id, root_of(batch))
    db.record_submission(batch.batch_id, raw_tx=b"\x02signed-tx", tx_hash=b"\x07" * 32, nonce=4)
    db.close()  # the batcher dies before (or after) sending: the receipt is lost

    db = open_database(database_url)
    try:
        [unfinished] = db.unfinished_batches()
        assert unfinished.status is BatchStatus.SUBMITTED
        assert (unfinished.raw_tx, unfinished.tx_hash, unfinished.nonce) == (
            b"\x02signed-tx",
            b"\x07" * 32,
            4,
        )
        assert db.open_batch(max_size=10, now=at(11)) == unfinished
        # Re-recording the same bytes is harmless; signing a new transaction is refused.
        assert (
            db.record_submission(
                batch.batch_id, raw_tx=b"\x02signed-tx", tx_hash=b"\x07" * 32, nonce=4
            )
            == unfinished
        )
        with pytest.raises(Conflict, match="re-send it"):
            db.record_submission(
                batch.batch_id, raw_tx=b"\x02other-tx", tx_hash=b"\x08" * 32, nonce=5
            )
        with pytest.raises(
            Conflict,
            match=rf"^batch {batch.batch_id} already has transaction 0x(07){{32}} \(nonce 4\):"
            " re-send it, do not sign another$",
        ):
            db.record_submission(
                batch.batch_id, raw_tx=b"\x02signed-tx", tx_hash=b"\x07" * 32, nonce=5
            )
        assert db.get_batch(batch.batch_id).raw_tx == b"\x02signed-tx"
    finally:
        db.close()


def test_root_then_submission_then_anchor_in_that_order(database: Database) -> None:
    accepted(database, 2)
    batch = database.open_batch(max_size=10, now=at(10))
    assert batch is not None
    with pytest.raises(Conflict, match="no root"):
        database.record_submission(batch.batch_id, raw_tx=b"tx", tx_hash=b"\x01" * 32, nonce=0)
    with pytest.raises(Conflict, match="record its submission first"):
        database.record_anchored(
            batch.batch_id,
            block_number=1,
            block_hash=b"\x01" * 32,
            anchored_at=at(20),
            proofs=proofs_of(batch),
        )
    database.set_batch_root(batch.batch_id, root_of(batch))
    assert database.set_batch_root(batch.batch_id, root_of(batch)).root == root_of(batch)
    with pytest.raises(Conflict, match="already has root"):
        database.set_batch_root(batch.batch_id, b"\x00" * 32)
    with pytest.raises(NotFound, match=f"^no batch {batch.batch_id + 1000}$"):
        database.set_batch_root(batch.batch_id + 1000, root_of(batch))


def test_record_anchored_is_idempotent_and_anchors_everything(database: Database) -> None:
    keys = accepted(database, 3)
    batch = database.open_batch(max_size=10, now=at(10))
    assert batch is not None
    database.set_batch_root(batch.batch_id, root_of(batch))
    database.record_submission(batch.batch_id, raw_tx=b"raw", tx_hash=b"\x05" * 32, nonce=0)
    proofs = proofs_of(batch)
    with pytest.raises(ValueError, match="one proof for each"):
        database.record_anchored(
            batch.batch_id,
            block_number=9,
            block_hash=b"\x06" * 32,
            anchored_at=at(20),
            proofs={0: proofs[0]},
        )

    def record(**changes: Any) -> Batch:
        arguments: dict[str, Any] = {
            "block_number": 9,
            "block_hash": b"\x06" * 32,
            "anchored_at": at(20),
            "proofs": proofs,
        }
        return database.record_anchored(batch.batch_id, **(arguments | changes))

    done = record()
    assert done.status is BatchStatus.ANCHORED
    assert (done.block_number, done.block_hash, done.anchored_at) == (9, b"\x06" * 32, at(20))
    assert record() == done  # a repeat (a retry after a lost reply) is a no-op
    assert record(anchored_at=at(99)) == done  # the first anchoring time stays
    with pytest.raises(Conflict, match="already anchored"):
        record(block_number=10)
    with pytest.raises(Conflict, match="already anchored"):
        record(block_hash=b"\x07" * 32)
    with pytest.raises(Conflict, match="already anchored"):
        record(proofs=proofs | {1: [b"\x00" * 32]})

    for leaf in batch.leaves:
        key = (leaf.agreement_id, leaf.version)
        assert database.get_version(*key).status is VersionStatus.ANCHORED
        inclusion = database.inclusion(*key)
        assert inclusion.batch_id == batch.batch_id and inclusion.leaf_index == leaf.leaf_index
        assert inclusion.tree_size == batch.size == 3
        assert inclusion.leaf == leaf_of(*key)
        assert list(inclusion.path) == proofs[leaf.leaf_index]
        assert inclusion.root == root_of(batch)
        assert (inclusion.tx_hash, inclusion.raw_tx) == (b"\x05" * 32, b"raw")
        assert (inclusion.block_number, inclusion.block_hash) == (9, b"\x06" * 32)
    assert {(leaf.agreement_id, leaf.version) for leaf in batch.leaves} == set(keys)
    counts = database.counts()
    assert (counts.accepted, counts.anchored, counts.unbatched) == (0, 3, 0)
    assert (counts.open_batches, counts.submitted_batches, counts.anchored_batches) == (0, 0, 1)
    assert counts.oldest_unanchored_at is None
    assert database.unfinished_batches() == []


def _race(workers: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``workers`` threads released at the same moment."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_claimers_at_once_never_claim_a_row_twice(database_url: str) -> None:
    setup = open_database(database_url)
    keys = accepted(setup, 25)
    claimers = [open_database(database_url) for _ in range(2)]  # separate pools, connections
    try:
        results = _race(2, lambda i: claimers[i].open_batch(max_size=10, now=at(10)))
        assert not [result for result in results if isinstance(result, BaseException)], results
        batches = [result for result in results if isinstance(result, Batch)]
        assert batches, results
        # Whoever lost the race got the winner's batch (or nothing yet), never a second one.
        assert len({batch.batch_id for batch in batches}) == 1
        [batch] = setup.unfinished_batches()
        assert [(leaf.agreement_id, leaf.version) for leaf in batch.leaves] == keys[:10]
        assert setup.counts().unbatched == 15
    finally:
        for db in claimers:
            db.close()
        setup.close()


def test_two_batchers_racing_anchor_everything_exactly_once(database_url: str) -> None:
    setup = open_database(database_url)
    keys = accepted(setup, 23)
    batchers = [open_database(database_url) for _ in range(2)]

    def batcher(index: int) -> list[int]:
        db, anchored = batchers[index], []
        while (batch := db.open_batch(max_size=4, now=at(10))) is not None:
            raw_tx = b"tx of batcher %d for batch %d" % (index, batch.batch_id)
            anchored.append(anchor(db, batch, raw_tx=raw_tx).batch_id)
        return anchored

    try:
        results = _race(2, batcher)
        assert not [result for result in results if isinstance(result, BaseException)], results
        claimed: dict[tuple[str, int], int] = {}
        with setup.engine.connect() as conn:
            batch_ids = conn.execute(sa.text("SELECT batch_id FROM batches")).scalars().all()
        for batch_id in batch_ids:
            batch = setup.get_batch(batch_id)
            assert batch.status is BatchStatus.ANCHORED
            assert batch.raw_tx is not None
            assert batch.raw_tx.startswith(b"tx of batcher ")
            assert batch.raw_tx.endswith(b" for batch %d" % batch_id)
            assert [leaf.leaf_index for leaf in batch.leaves] == list(range(batch.size))
            for leaf in batch.leaves:
                key = (leaf.agreement_id, leaf.version)
                assert key not in claimed  # no row in two batches
                claimed[key] = batch_id
                assert setup.inclusion(*key).batch_id == batch_id
        assert set(claimed) == set(keys)  # none lost
        assert len(batch_ids) == 6  # 23 rows, 4 per batch
        counts = setup.counts()
        assert (counts.accepted, counts.anchored, counts.unbatched) == (0, 23, 0)
    finally:
        for db in batchers:
            db.close()
        setup.close()
