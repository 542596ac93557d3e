"""The durable anchoring outbox: claiming accepted versions into batches and storing each
batch's root and signed transactions (:class:`Outbox`), up to the block that anchors it
(:mod:`ledger.db.inclusion`). Batches as stored, and their reads: :mod:`ledger.db.batches`.

The anchoring life cycle, and why it is idempotent across crashes:

1. :meth:`Database.accept` marks a version accepted *and* writes its outbox row in the same
   transaction: a version the service acknowledged is always waiting for an anchor.
   :meth:`Database.record_receipt` does the same for an access receipt (:mod:`ledger.db.receipts`):
   an outbox row holds one Merkle leaf, a version's or a receipt's, and the steps below treat
   both alike (the leaves are leaf hashes; the anchored step marks each kind anchored).
2. :meth:`Database.open_batch` claims the oldest unclaimed outbox rows (in ``seq`` order) into one
   ``open`` batch, leaf indexes 0..n-1. While a batch is unfinished (``open`` or ``submitted``)
   it returns *that* batch instead of claiming more, so a batcher restarting after a crash picks
   up exactly where it stopped. Claims are serialized (PostgreSQL: an advisory lock, rows read
   ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``) and the database holds at most one
   unfinished batch (a unique index), so two batchers racing share one batch, never a row.
3. :meth:`Database.set_batch_root` stores the Merkle root (the leaves are fixed, so a recomputed
   root must be equal; a different one is a :class:`Conflict`).
4. :meth:`Database.record_submission` stores the *signed* transaction (raw bytes, hash, nonce)
   **before** it is sent (and the root with it, if step 3 was left to it: one transaction
   fewer). After a crash or a lost receipt the batcher re-sends these same bytes or looks up
   this same hash; it never signs a second transaction for the batch, since a different
   ``raw_tx`` is refused. Re-recording the same bytes is a no-op.
5. :meth:`Database.record_anchored` stores the block, marks the batch and all its versions
   anchored and writes every inclusion proof, in one transaction. Repeating it with the same
   block and proofs is a no-op (the first ``anchored_at`` is kept); a different block or proof is
   a :class:`Conflict`.

:meth:`Outbox.anchoring_lease` hands out the lease that lets one process at a time act on these
steps (:mod:`ledger.db.lease`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ledger.db import schema
from ledger.db._checks import check_aware, check_bytes, check_int
from ledger.db._plumbing import Transactions
from ledger.db.batches import batch_record, load_batch, lock_batch, update_batch
from ledger.db.errors import Conflict, DatabaseError
from ledger.db.lease import AnchoringLease
from ledger.db.records import Batch, BatchLeaf, BatchStatus

#: How often open_batch retries after losing a race to create the one unfinished batch.
_CLAIM_ATTEMPTS = 3
#: Key of the PostgreSQL advisory lock serializing open_batch ("outbox").
_CLAIM_LOCK = 0x6F7574626F78

_ob = schema.outbox
_b = schema.batches
_ba = schema.batch_attempts

# Statements of the claim and submission steps, built once (see :mod:`ledger.db.batches`).
_UNFINISHED_BATCH = (
    sa.select(_b.c.batch_id)
    .where(_b.c.status != BatchStatus.ANCHORED.value)
    .order_by(_b.c.batch_id)
    .limit(1)
)
_CLAIMABLE = (
    sa.select(_ob.c.seq, _ob.c.agreement_id, _ob.c.version, _ob.c.leaf, _ob.c.receipt_id)
    .where(_ob.c.batch_id.is_(None))
    .order_by(_ob.c.seq)
    .limit(sa.bindparam("max_size"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    sa.update(_ob)
    .where(_ob.c.seq == sa.bindparam("claim_seq"), _ob.c.batch_id.is_(None))
    .values(batch_id=sa.bindparam("claim_batch"), leaf_index=sa.bindparam("claim_index"))
)
# The same for rows with consecutive seqs (the usual case), in one statement. Only for rows the
# transaction has read and locked: the seq range alone (a primary key range) selects them.
_CLAIM_RANGE = (
    sa.update(_ob)
    .where(_ob.c.seq.between(sa.bindparam("first_seq"), sa.bindparam("last_seq")))
    .values(batch_id=sa.bindparam("claim_batch"), leaf_index=_ob.c.seq - sa.bindparam("first_seq"))
)
_INSERT_BATCH = sa.insert(_b).returning(*_b.c)  # the columns: the parameters' keys
# A batch's signed transactions (the first, and replacements of stuck ones).
_INSERT_ATTEMPT = sa.insert(_ba)
_COUNT_ATTEMPTS = (
    sa.select(sa.func.count()).select_from(_ba).where(_ba.c.batch_id == sa.bindparam("batch_id"))
)


class Outbox:
    """Steps 2 to 4 of the anchoring life cycle (above), one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction
        self._engine = transactions.engine

    def open_batch(self, *, max_size: int, now: datetime) -> Batch | None:
        """The batch to work on: the unfinished one if there is one (crash recovery), else a
        new ``open`` batch of up to ``max_size`` unclaimed outbox rows in ``seq`` order; None if
        there is nothing to anchor.

        Claims are serialized: on PostgreSQL by a transaction-scoped advisory lock (the rows are
        then read ``FOR UPDATE SKIP LOCKED``), on SQLite by a ``BEGIN IMMEDIATE`` transaction;
        a second batcher arriving at the same moment gets the first one's batch. (Should two
        transactions still race to create a batch, the unique index on unfinished batches
        refuses the second, which retries and returns the first one's batch.)
        """
        check_int("max_size", max_size, minimum=1)
        check_aware("now", now)
        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                return self._open_batch(max_size=max_size, now=now)
            except Conflict:
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _open_batch(self, *, max_size: int, now: datetime) -> Batch | None:
        with self._transaction(write=True) as conn:
            if conn.dialect.name == "postgresql":
                # Claims are serialized (as BEGIN IMMEDIATE does on SQLite): a second batcher
                # waits a few milliseconds and then finds the first one's batch, so batches
                # always take the oldest rows. SKIP LOCKED below still keeps a claim from
                # waiting on rows someone else has locked.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CLAIM_LOCK)))
            unfinished = conn.execute(_UNFINISHED_BATCH).scalar()
            if unfinished is not None:
                return load_batch(conn, int(unfinished))
            rows = conn.execute(_CLAIMABLE, {"max_size": max_size}).all()
            if not rows:
                return None
            seqs = [int(row[0]) for row in rows]
            header = conn.execute(
                _INSERT_BATCH,
                {
                    "status": BatchStatus.OPEN.value,
                    "size": len(seqs),
                    "first_seq": seqs[0],
                    "last_seq": seqs[-1],
                    "created_at": now,
                },
            ).one()
            batch_id = int(header.batch_id)
            if seqs[-1] - seqs[0] == len(seqs) - 1:
                # Consecutive seqs: the range holds exactly the unclaimed rows read, which
                # this transaction has locked (FOR UPDATE; on SQLite, the write lock).
                claimed = conn.execute(
                    _CLAIM_RANGE,
                    {"first_seq": seqs[0], "last_seq": seqs[-1], "claim_batch": batch_id},
                ).rowcount
                if claimed != len(seqs):
                    raise DatabaseError(f"claimed {claimed} outbox rows, not {len(seqs)}")
            else:
                conn.execute(
                    _CLAIM,
                    [
                        {"claim_seq": seq, "claim_batch": batch_id, "claim_index": index}
                        for index, seq in enumerate(seqs)
                    ],
                )
            # the leaves are the rows just claimed: the batch is not read back
            leaves = tuple(
                BatchLeaf(
                    leaf_index=index,
                    seq=seq,
                    agreement_id=agreement_id,
                    version=None if version is None else int(version),
                    leaf=bytes(leaf),
                    receipt_id=receipt_id,
                )
                for index, (seq, (_, agreement_id, version, leaf, receipt_id)) in enumerate(
                    zip(seqs, rows, strict=True)
                )
            )
            return batch_record(header, leaves)

    def anchoring_lease(self) -> AnchoringLease:
        """A new handle on this database's anchoring lease (see :mod:`ledger.db.lease`)."""
        return AnchoringLease(self._engine)

    def set_batch_root(self, batch_id: int, root: bytes, *, with_leaves: bool = True) -> Batch:
        """Store an open batch's Merkle root; the same root again is a no-op.

        ``with_leaves=False`` returns the batch with empty ``leaves``, for a caller that holds
        them already (from :meth:`open_batch`): reading them again costs per leaf. The same goes
        for :meth:`record_submission` and :meth:`record_anchored`.
        """
        check_bytes("root", root, 32)
        with self._transaction(write=True) as conn:
            row = lock_batch(conn, batch_id)
            leaves = None if with_leaves else ()
            if row.root is not None:
                if bytes(row.root) != root:
                    raise Conflict(f"batch {batch_id} already has root {bytes(row.root).hex()}")
                return load_batch(conn, batch_id, leaves=leaves)
            return update_batch(conn, batch_id, leaves, root=root)

    def record_submission(
        self,
        batch_id: int,
        *,
        raw_tx: bytes,
        tx_hash: bytes,
        nonce: int,
        root: bytes | None = None,
        at: datetime | None = None,
        with_leaves: bool = True,
    ) -> Batch:
        """Store the signed anchoring transaction BEFORE sending it (status ``submitted``; it is
        the batch's attempt 0, signed ``at``).

        Idempotent for the same ``(raw_tx, tx_hash, nonce)``; any other transaction for a batch
        that has one is a :class:`Conflict` (re-send the stored bytes, or
        :meth:`record_replacement`). The root must have been set, or be given as ``root``: then
        it is stored in the same transaction, as :meth:`set_batch_root` would (a different
        stored root is a :class:`Conflict`).
        """
        check_bytes("raw_tx", raw_tx)
        check_bytes("tx_hash", tx_hash, 32)
        check_int("nonce", nonce, minimum=0)
        if root is not None:
            check_bytes("root", root, 32)
        if at is not None:
            check_aware("at", at)
        with self._transaction(write=True) as conn:
            row = lock_batch(conn, batch_id)
            leaves = None if with_leaves else ()
            if root is not None and row.root is not None and bytes(row.root) != root:
                raise Conflict(f"batch {batch_id} already has root {bytes(row.root).hex()}")
            if row.raw_tx is not None:
                stored = (bytes(row.raw_tx), bytes(row.tx_hash), int(row.nonce))
                if stored != (raw_tx, tx_hash, nonce):
                    raise Conflict(
                        f"batch {batch_id} already has transaction 0x{stored[1].hex()}"
                        f" (nonce {stored[2]}): re-send it, do not sign another"
                    )
                return load_batch(conn, batch_id, leaves=leaves)
            values: dict[str, Any] = {
                "status": BatchStatus.SUBMITTED.value,
                "raw_tx": raw_tx,
                "tx_hash": tx_hash,
                "nonce": nonce,
            }
            if row.root is None:
                if root is None:
                    raise Conflict(f"batch {batch_id} has no root yet")
                values["root"] = root
            conn.execute(
                _INSERT_ATTEMPT,
                {
                    "batch_id": batch_id,
                    "attempt": 0,
                    "tx_hash": tx_hash,
                    "raw_tx": raw_tx,
                    "nonce": nonce,
                    "created_at": at or datetime.now(UTC),
                },
            )
            return update_batch(conn, batch_id, leaves, **values)

    def record_replacement(
        self,
        batch_id: int,
        *,
        replaces: bytes,
        raw_tx: bytes,
        tx_hash: bytes,
        nonce: int,
        at: datetime,
    ) -> Batch:
        """Store another signed transaction for a submitted batch BEFORE sending it: a
        replacement of its latest one (``replaces``, the hash) that stayed in the pool, or one
        with a new nonce when the old nonce went to another transaction. It becomes the batch's
        latest attempt; the earlier ones are kept (any of them may still be mined).

        A compare-and-set: if the latest attempt is no longer ``replaces`` (another process
        replaced it), :class:`Conflict`; the same replacement again is a no-op. Returned without
        leaves.
        """
        check_bytes("replaces", replaces, 32)
        check_bytes("raw_tx", raw_tx)
        check_bytes("tx_hash", tx_hash, 32)
        check_int("nonce", nonce, minimum=0)
        check_aware("at", at)
        with self._transaction(write=True) as conn:
            row = lock_batch(conn, batch_id)
            if row.status != BatchStatus.SUBMITTED:
                raise Conflict(f"batch {batch_id} is {row.status}: nothing to replace")
            latest = bytes(row.tx_hash)
            if latest == tx_hash and bytes(row.raw_tx) == raw_tx:
                return load_batch(conn, batch_id, leaves=())
            if latest != replaces:
                raise Conflict(
                    f"batch {batch_id}'s latest transaction is 0x{latest.hex()},"
                    f" not 0x{replaces.hex()}"
                )
            attempts = conn.execute(_COUNT_ATTEMPTS, {"batch_id": batch_id}).scalar_one()
            conn.execute(
                _INSERT_ATTEMPT,
                {
                    "batch_id": batch_id,
                    "attempt": int(attempts),
                    "tx_hash": tx_hash,
                    "raw_tx": raw_tx,
                    "nonce": nonce,
                    "created_at": at,
                },
            )
            return update_batch(conn, batch_id, (), raw_tx=raw_tx, tx_hash=tx_hash, nonce=nonce)
