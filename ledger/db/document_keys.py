"""Wrapped document keys, crypto-shredding, and the record of every erasure.

Each version's document key, wrapped to each reader, is stored in ``document_keys`` (written with
the version: :meth:`~ledger.db.versions.Versions.create_draft` through :func:`insert_keys`, and
submit_many). :meth:`DocumentKeys.erase_document_keys` deletes them for every version of an
agreement (the versions, signatures and proofs stay) and records who asked, how and when
(``erasures``, read back by :meth:`DocumentKeys.erasures`). On SQLite ``secure_delete`` zeroes the
deleted bytes in the file; they leave the WAL file once it is checkpointed and truncated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from ledger.agreement import ErasureMethod, ErasureRecord
from ledger.db import schema
from ledger.db._checks import check_agreement_id, check_aware, check_bytes, check_text
from ledger.db._plumbing import Transactions
from ledger.db.errors import NotFound

_av = schema.agreement_versions
_dk = schema.document_keys
_er = schema.erasures


def insert_keys(
    conn: sa.Connection, agreement_id: str, version: int, wrapped_keys: Mapping[bytes, bytes]
) -> None:
    """Store a new version's wrapped keys (checked by the caller), in its transaction."""
    if wrapped_keys:
        conn.execute(
            sa.insert(_dk),
            [
                {
                    "agreement_id": agreement_id,
                    "version": version,
                    "reader_fingerprint": fingerprint,
                    "wrapped_key": wrapped,
                }
                for fingerprint, wrapped in wrapped_keys.items()
            ],
        )


class DocumentKeys:
    """The wrapped document keys of every version; one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction

    def document_keys(self, agreement_id: str, version: int) -> dict[bytes, bytes]:
        """A version's wrapped document keys: reader key fingerprint -> wrapped key.

        Empty once the agreement's keys are erased (or if it was stored without any).
        """
        with self._transaction() as conn:
            exists = conn.execute(
                sa.select(sa.literal(1)).where(
                    _av.c.agreement_id == agreement_id, _av.c.version == version
                )
            ).first()
            if exists is None:
                raise NotFound(f"no version {version} of {agreement_id}")
            rows = conn.execute(
                sa.select(_dk.c.reader_fingerprint, _dk.c.wrapped_key)
                .where(_dk.c.agreement_id == agreement_id, _dk.c.version == version)
                .order_by(_dk.c.reader_fingerprint)
            )
            return {bytes(row.reader_fingerprint): bytes(row.wrapped_key) for row in rows}

    def erase_document_keys(self, erasure: ErasureRecord) -> ErasureRecord:
        """Crypto-shred an agreement: delete the wrapped document keys of every one of its
        versions, mark them all erased and record ``erasure`` (its ``keys_erased`` set to how
        many keys were deleted), in one transaction; return the record as stored.

        Idempotent: a repeat deletes nothing (0 keys, recorded too) and keeps each version's
        first ``keys_erased_at``. :class:`NotFound` if the agreement has no version.
        """
        agreement_id = erasure.agreement_id
        erased_at = erasure.erased_at
        check_agreement_id(agreement_id)
        check_aware("erased_at", erased_at)
        method = ErasureMethod(erasure.method)
        check_text("caller_member_id", erasure.caller_member_id)
        check_text("caller_keyid", erasure.caller_keyid)
        if (method is ErasureMethod.CUSTOMER) != (erasure.customer_key is not None):
            raise ValueError("a customer erasure, and only one, names the customer's key")
        if erasure.customer_key is not None:
            check_bytes("customer_key", erasure.customer_key, 65)
            check_text("nonce", erasure.nonce or "")
        with self._transaction(write=True) as conn:
            # The versions first: on PostgreSQL their row locks order this after (or before)
            # a concurrent accept of one of them.
            marked = conn.execute(
                sa.update(_av)
                .where(_av.c.agreement_id == agreement_id, _av.c.keys_erased_at.is_(None))
                .values(keys_erased_at=erased_at)
            ).rowcount
            if not marked:
                exists = conn.execute(
                    sa.select(sa.literal(1)).where(_av.c.agreement_id == agreement_id).limit(1)
                ).first()
                if exists is None:
                    raise NotFound(f"no agreement {agreement_id}")
            deleted = int(
                conn.execute(sa.delete(_dk).where(_dk.c.agreement_id == agreement_id)).rowcount
            )
            stored = ErasureRecord(
                agreement_id=agreement_id,
                erased_at=erased_at,
                method=method,
                caller_member_id=erasure.caller_member_id,
                caller_keyid=erasure.caller_keyid,
                keys_erased=deleted,
                customer_key=erasure.customer_key,
                nonce=erasure.nonce,
            )
            conn.execute(sa.insert(_er).values(**_row(stored)))
            return stored

    def erasures(self, agreement_id: str) -> list[ErasureRecord]:
        """Every erasure of the agreement's documents, oldest first."""
        with self._transaction() as conn:
            rows = conn.execute(
                sa.select(_er).where(_er.c.agreement_id == agreement_id).order_by(_er.c.erasure_id)
            ).all()
        return [
            ErasureRecord(
                agreement_id=row.agreement_id,
                erased_at=row.erased_at,
                method=ErasureMethod(row.method),
                caller_member_id=row.caller_member_id,
                caller_keyid=row.caller_keyid,
                keys_erased=int(row.keys_erased),
                customer_key=None if row.customer_key is None else bytes(row.customer_key),
                nonce=row.nonce,
            )
            for row in rows
        ]


def _row(erasure: ErasureRecord) -> dict[str, Any]:
    return {
        "agreement_id": erasure.agreement_id,
        "erased_at": erasure.erased_at,
        "method": erasure.method.value,
        "caller_member_id": erasure.caller_member_id,
        "caller_keyid": erasure.caller_keyid,
        "keys_erased": erasure.keys_erased,
        "customer_key": erasure.customer_key,
        "nonce": erasure.nonce,
    }
