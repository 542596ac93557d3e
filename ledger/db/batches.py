"""Batches of the anchoring outbox as stored: the statements on the ``batches`` and
``batch_attempts`` tables every step of the anchoring life cycle (:mod:`ledger.db.outbox`,
:mod:`ledger.db.inclusion`) shares, a batch row read, locked and updated as a
:class:`~ledger.db.records.Batch`, and :class:`Batches`, the reads: a batch, the unfinished ones,
a batch's transactions, the counts for health checks and the anchoring loop's window.

The statements are built once at import: they run for every batch, and building one (and its
cache key) costs SQLAlchemy more than executing it on a small table.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ledger.agreement import VersionStatus
from ledger.db import schema
from ledger.db._checks import opt_bytes
from ledger.db._plumbing import Transactions
from ledger.db.errors import NotFound
from ledger.db.records import (
    AnchoringWindow,
    Batch,
    BatchAttempt,
    BatchLeaf,
    BatchStatus,
    Counts,
)

_av = schema.agreement_versions
_ob = schema.outbox
_b = schema.batches
_ba = schema.batch_attempts

_BATCH_ROW = sa.select(_b).where(_b.c.batch_id == sa.bindparam("batch_id"))
# SET: the parameters' keys other than ``which_batch``; the row as stored comes back.
_UPDATE_BATCH = sa.update(_b).where(_b.c.batch_id == sa.bindparam("which_batch")).returning(*_b.c)
_LOCK_BATCH = _BATCH_ROW.with_for_update()
_BATCH_LEAVES = (
    sa.select(
        _ob.c.leaf_index,
        _ob.c.seq,
        _ob.c.agreement_id,
        _ob.c.version,
        _ob.c.leaf,
        _ob.c.receipt_id,
    )
    .where(_ob.c.batch_id == sa.bindparam("batch_id"))
    .order_by(_ob.c.leaf_index)
)
_BATCH_ATTEMPTS = (
    sa.select(_ba).where(_ba.c.batch_id == sa.bindparam("batch_id")).order_by(_ba.c.attempt)
)
_ANCHORING_WINDOW = (
    sa.select(
        sa.select(sa.func.count())
        .select_from(_b)
        .where(_b.c.status != BatchStatus.ANCHORED.value)
        .scalar_subquery(),
        sa.func.count(),
        sa.func.min(_ob.c.accepted_at),
    )
    .select_from(_ob)
    .where(_ob.c.batch_id.is_(None))
)


class Batches:
    """Reads of the outbox's batches, one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction

    def get_batch(self, batch_id: int) -> Batch:
        with self._transaction() as conn:
            return load_batch(conn, batch_id)

    def unfinished_batches(self) -> list[Batch]:
        """Batches ``open`` or ``submitted`` (at most one), oldest first."""
        with self._transaction() as conn:
            ids = conn.execute(
                sa.select(_b.c.batch_id)
                .where(_b.c.status != BatchStatus.ANCHORED.value)
                .order_by(_b.c.batch_id)
            ).scalars()
            return [load_batch(conn, int(batch_id)) for batch_id in list(ids)]

    def batch_attempts(self, batch_id: int) -> tuple[BatchAttempt, ...]:
        """Every signed transaction of a batch, in the order they were signed."""
        with self._transaction() as conn:
            return tuple(
                attempt_record(row)
                for row in conn.execute(_BATCH_ATTEMPTS, {"batch_id": batch_id}).all()
            )

    def counts(self) -> Counts:
        """Versions per status, outbox backlog and batches per status (one consistent read)."""

        def count(table: sa.Table, *where: sa.ColumnElement[bool]) -> Any:
            return sa.select(sa.func.count()).select_from(table).where(*where).scalar_subquery()

        with self._transaction() as conn:
            row = conn.execute(
                sa.select(
                    count(_av, _av.c.status == VersionStatus.DRAFT.value).label("drafts"),
                    count(_av, _av.c.status == VersionStatus.ACCEPTED.value).label("accepted"),
                    count(_av, _av.c.status == VersionStatus.ANCHORED.value).label("anchored"),
                    count(_ob, _ob.c.batch_id.is_(None)).label("unbatched"),
                    count(_b, _b.c.status == BatchStatus.OPEN.value).label("open"),
                    count(_b, _b.c.status == BatchStatus.SUBMITTED.value).label("submitted"),
                    count(_b, _b.c.status == BatchStatus.ANCHORED.value).label("anchored_b"),
                    sa.select(sa.func.min(_av.c.accepted_at))
                    .where(_av.c.status == VersionStatus.ACCEPTED.value)
                    .scalar_subquery()
                    .label("oldest"),
                )
            ).one()
        return Counts(
            drafts=int(row.drafts),
            accepted=int(row.accepted),
            anchored=int(row.anchored),
            unbatched=int(row.unbatched),
            open_batches=int(row.open),
            submitted_batches=int(row.submitted),
            anchored_batches=int(row.anchored_b),
            oldest_unanchored_at=row.oldest,
        )

    def anchoring_window(self) -> AnchoringWindow:
        """What the anchoring loop decides on (cheaper than :meth:`counts`, read every poll)."""
        with self._transaction() as conn:
            row = conn.execute(_ANCHORING_WINDOW).one()
        return AnchoringWindow(
            unfinished_batches=int(row[0]),
            unbatched=int(row[1]),
            oldest_unbatched_at=row[2],
        )


def lock_batch(conn: sa.Connection, batch_id: int) -> sa.Row[Any]:
    """The batch row, locked (``FOR UPDATE``) until the transaction ends; :class:`NotFound`."""
    row = conn.execute(_LOCK_BATCH, {"batch_id": batch_id}).first()
    if row is None:
        raise NotFound(f"no batch {batch_id}")
    return row


def load_batch(
    conn: sa.Connection, batch_id: int, *, leaves: tuple[BatchLeaf, ...] | None = None
) -> Batch:
    """The batch row, with ``leaves`` if given (else read, in leaf-index order)."""
    row = conn.execute(_BATCH_ROW, {"batch_id": batch_id}).first()
    if row is None:
        raise NotFound(f"no batch {batch_id}")
    return batch_record(row, _read_leaves(conn, batch_id) if leaves is None else leaves)


def update_batch(
    conn: sa.Connection, batch_id: int, leaves: tuple[BatchLeaf, ...] | None, **values: Any
) -> Batch:
    """Update the (locked) batch row and return it as stored (RETURNING: not read again), with
    ``leaves`` if given (else read)."""
    row = conn.execute(_UPDATE_BATCH, {"which_batch": batch_id, **values}).one()
    return batch_record(row, _read_leaves(conn, batch_id) if leaves is None else leaves)


def _read_leaves(conn: sa.Connection, batch_id: int) -> tuple[BatchLeaf, ...]:
    return tuple(
        BatchLeaf(
            leaf_index=int(leaf_index),
            seq=int(seq),
            agreement_id=agreement_id,
            version=None if version is None else int(version),
            leaf=bytes(leaf),
            receipt_id=receipt_id,
        )
        for leaf_index, seq, agreement_id, version, leaf, receipt_id in conn.execute(
            _BATCH_LEAVES, {"batch_id": batch_id}
        ).all()
    )


def attempt_record(row: Any) -> BatchAttempt:
    return BatchAttempt(
        batch_id=int(row.batch_id),
        attempt=int(row.attempt),
        tx_hash=bytes(row.tx_hash),
        raw_tx=bytes(row.raw_tx),
        nonce=int(row.nonce),
        created_at=row.created_at,
    )


def batch_record(row: Any, leaves: tuple[BatchLeaf, ...]) -> Batch:
    return Batch(
        batch_id=int(row.batch_id),
        status=BatchStatus(row.status),
        size=int(row.size),
        first_seq=int(row.first_seq),
        last_seq=int(row.last_seq),
        root=opt_bytes(row.root),
        created_at=row.created_at,
        tx_hash=opt_bytes(row.tx_hash),
        raw_tx=opt_bytes(row.raw_tx),
        nonce=None if row.nonce is None else int(row.nonce),
        block_number=None if row.block_number is None else int(row.block_number),
        block_hash=opt_bytes(row.block_hash),
        anchored_at=row.anchored_at,
        leaves=leaves,
    )
