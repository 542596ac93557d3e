"""Wrapped document keys and crypto-shredding.

Each version's document key, wrapped to each reader, is stored in ``document_keys`` (written with
the version: :meth:`~ledger.db.versions.Versions.create_draft` through :func:`insert_keys`, and
submit_many). :meth:`DocumentKeys.erase_document_keys` deletes them for every version of an
agreement (the versions, signatures and proofs stay). On SQLite ``secure_delete`` zeroes the
deleted bytes in the file; they leave the WAL file once it is checkpointed and truncated.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa

from ledger.db import schema
from ledger.db._checks import check_agreement_id, check_aware
from ledger.db._plumbing import Transactions
from ledger.db.errors import NotFound

_av = schema.agreement_versions
_dk = schema.document_keys


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

    def erase_document_keys(self, agreement_id: str, *, erased_at: datetime) -> int:
        """Crypto-shred an agreement: delete the wrapped document keys of every one of its
        versions and mark them all erased; return how many keys were deleted.

        Idempotent: a repeat deletes nothing (returns 0) and keeps each version's first
        ``keys_erased_at``. :class:`NotFound` if the agreement has no version.
        """
        check_agreement_id(agreement_id)
        check_aware("erased_at", erased_at)
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
            deleted = conn.execute(sa.delete(_dk).where(_dk.c.agreement_id == agreement_id))
            return int(deleted.rowcount)
