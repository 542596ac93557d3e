"""Access receipts (:class:`ledger.consent.AccessReceipt`): written with their outbox row, so each
is anchored in the next Merkle batch like an accepted version (the anchoring life cycle:
:mod:`ledger.db.outbox`; the anchored step stores their proofs: :mod:`ledger.db.inclusion`),
and counted against their grant's maximum number of uses in the same transaction.

The count is one row per grant in ``grant_uses``, raised by an upsert whose update only happens
while the count is below the maximum (``INSERT ... ON CONFLICT (grant_id) DO UPDATE SET uses =
uses + 1 WHERE uses < :max_uses RETURNING uses``; no row back: exhausted). On PostgreSQL the
upsert locks the grant's row until the transaction ends and a waiting one re-evaluates the
``WHERE`` on the committed count, so service processes racing for a grant's last use get exactly
one success; on SQLite writers are serialized anyway (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ledger import merkle
from ledger.consent import AccessReceipt
from ledger.db import schema
from ledger.db._checks import check_aware, check_bytes, check_int
from ledger.db._plumbing import Transactions
from ledger.db.errors import Conflict, NotFound, UseAuthorizationReplayed, UsesExhausted
from ledger.db.inclusion import proof_fields
from ledger.db.records import ReceiptInclusion, ReceiptStatus, StoredReceipt

_ar = schema.access_receipts
_gu = schema.grant_uses
_ob = schema.outbox
_b = schema.batches
_rp = schema.receipt_proofs

_INSERT_RECEIPT = sa.insert(_ar)
_INSERT_OUTBOX = sa.insert(_ob)
_AUTHORIZED = sa.select(_ar.c.receipt_id).where(
    _ar.c.use_authorization == sa.bindparam("use_authorization")
)
_USES = sa.select(_gu.c.uses).where(_gu.c.grant_id == sa.bindparam("grant_id"))
# A receipt with its outbox row and, if claimed, its batch and (once anchored) its proof.
_STORED = (
    sa.select(
        _ar.c.body,
        _ob.c.leaf,
        _ob.c.batch_id,
        _b.c.size,
        _b.c.tx_hash,
        _b.c.raw_tx,
        _b.c.block_number,
        _b.c.block_hash,
        _b.c.anchored_at,
        _rp.c.leaf_index,
        _rp.c.path,
        _rp.c.root,
    )
    .select_from(_ar)
    .join(_ob, _ob.c.receipt_id == _ar.c.receipt_id)
    .outerjoin(_b, _b.c.batch_id == _ob.c.batch_id)
    .outerjoin(_rp, _rp.c.receipt_id == _ar.c.receipt_id)
    .order_by(_ar.c.used_at, _ar.c.receipt_id)
)


def _count_use(dialect: str, *, limited: bool) -> Any:
    """The upsert that counts one use of ``grant_id`` (see the module's docstring)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_gu).values(grant_id=sa.bindparam("grant_id"), uses=1)
    return statement.on_conflict_do_update(
        index_elements=[_gu.c.grant_id],
        set_={"uses": _gu.c.uses + 1},
        where=(_gu.c.uses < sa.bindparam("max_uses")) if limited else None,
    ).returning(_gu.c.uses)


_COUNT_USE = {
    (dialect, limited): _count_use(dialect, limited=limited)
    for dialect in ("postgresql", "sqlite")
    for limited in (False, True)
}


class Receipts:
    """Access receipts and the use counts of grants; one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction

    def record_receipt(
        self,
        receipt: AccessReceipt,
        *,
        max_uses: int | None,
        queued_at: datetime | None = None,
    ) -> StoredReceipt:
        """Store ``receipt`` and its outbox row (its leaf: ``merkle.leaf_hash`` of its bytes)
        and count one use of its grant, in one transaction; returned ``queued``. ``max_uses``:
        the grant's maximum number of uses (None: unlimited). ``queued_at``: when the service
        queued it, on its own clock, which the anchoring loop times its batches by (default
        ``used_at``; a receipt's ``used_at`` is the chain's time, which may run ahead of the
        service's clock, and a row queued in the future would wait that long for its batch).

        If the grant already has ``max_uses`` receipts, :class:`UsesExhausted` and nothing is
        written; if a receipt already records its per-use authorization,
        :class:`UseAuthorizationReplayed` (a unique index holds it across processes). The same
        receipt again (a retry after a lost commit acknowledgment) is a no-op that counts no use
        and returns the receipt as stored; another receipt under a stored receipt ID is a
        :class:`Conflict` (nothing written either).
        """
        if not isinstance(receipt, AccessReceipt):
            raise ValueError(f"an AccessReceipt is recorded, not {type(receipt).__name__}")
        if max_uses is not None:
            check_int("max_uses", max_uses, minimum=1)
        if queued_at is None:
            queued_at = receipt.used_at
        check_aware("queued_at", queued_at)
        body = receipt.to_bytes()
        leaf = merkle.leaf_hash(body)
        with self._transaction(write=True) as conn:
            stored = conn.execute(_STORED.where(_ar.c.receipt_id == receipt.receipt_id)).first()
            if stored is not None:
                if bytes(stored.body) != body:
                    raise Conflict(f"another receipt is stored as {receipt.receipt_id}")
                return _stored(stored)
            authorization = receipt.use_authorization
            if authorization is not None:
                _check_unused(conn, authorization)
            counted = conn.execute(
                _COUNT_USE[conn.dialect.name, max_uses is not None],
                {"grant_id": receipt.grant_id, "max_uses": max_uses},
            ).scalar()
            if counted is None:
                raise UsesExhausted(
                    f"grant 0x{receipt.grant_id.hex()} has had all its {max_uses} uses"
                )
            values = {
                "receipt_id": receipt.receipt_id,
                "grant_id": receipt.grant_id,
                "caller": receipt.caller,
                "used_at": receipt.used_at,
                "body": body,
                "use_authorization": authorization,
            }
            try:  # the transaction is rolled back either way
                conn.execute(_INSERT_RECEIPT, values)
            except sa.exc.IntegrityError as error:  # another process wrote it meanwhile
                if authorization is not None and "use_authorization" in str(error.orig):
                    raise _replayed(authorization) from None
                raise
            conn.execute(
                _INSERT_OUTBOX,
                {"receipt_id": receipt.receipt_id, "leaf": leaf, "accepted_at": queued_at},
            )
        return StoredReceipt(
            receipt=receipt, leaf=leaf, status=ReceiptStatus.QUEUED, inclusion=None
        )

    def receipt(self, receipt_id: str) -> StoredReceipt:
        """A stored receipt, how far its anchoring got and its proof if anchored; NotFound."""
        with self._transaction() as conn:
            row = conn.execute(_STORED.where(_ar.c.receipt_id == receipt_id)).first()
        if row is None:
            raise NotFound(f"no access receipt {receipt_id!r}")
        return _stored(row)

    def receipts_of_grant(self, grant_id: bytes) -> list[StoredReceipt]:
        """Every receipt written under ``grant_id``, oldest first (by ``used_at``, then ID)."""
        check_bytes("grant_id", grant_id, 32)
        with self._transaction() as conn:
            rows = conn.execute(_STORED.where(_ar.c.grant_id == grant_id)).all()
        return [_stored(row) for row in rows]

    def receipts_between(self, start: datetime, end: datetime) -> list[StoredReceipt]:
        """Every receipt with ``start <= used_at < end`` (an auditor's period), oldest first."""
        check_aware("start", start)
        check_aware("end", end)
        if end < start:
            raise ValueError(f"a period ends after it starts: {start} .. {end}")
        with self._transaction() as conn:
            rows = conn.execute(_STORED.where(_ar.c.used_at >= start, _ar.c.used_at < end)).all()
        return [_stored(row) for row in rows]

    def uses_of(self, grant_id: bytes) -> int:
        """How many receipts were written under ``grant_id`` (0 if none)."""
        check_bytes("grant_id", grant_id, 32)
        with self._transaction() as conn:
            uses = conn.execute(_USES, {"grant_id": grant_id}).scalar()
        return 0 if uses is None else int(uses)


def _replayed(authorization: bytes) -> UseAuthorizationReplayed:
    return UseAuthorizationReplayed(
        f"the per-use authorization keccak256:{authorization.hex()} was used already"
    )


def _check_unused(conn: sa.Connection, authorization: bytes) -> None:
    if conn.execute(_AUTHORIZED, {"use_authorization": authorization}).first() is not None:
        raise _replayed(authorization)


def _stored(row: Any) -> StoredReceipt:
    receipt = AccessReceipt.from_bytes(bytes(row.body))
    inclusion = None
    if row.batch_id is None:
        status = ReceiptStatus.QUEUED
    elif row.root is None:
        status = ReceiptStatus.BATCHED
    else:
        status = ReceiptStatus.ANCHORED
        inclusion = ReceiptInclusion(receipt_id=receipt.receipt_id, **proof_fields(row))
    return StoredReceipt(receipt=receipt, leaf=bytes(row.leaf), status=status, inclusion=inclusion)
