"""The identity attestations this member made (:mod:`ledger.member.attestations`): where the
encrypted disclosures document of each is stored and its SM4 key, wrapped to the service's key.

A row is written ``pending`` before the attestation is sent to the chain (nothing is sent that
is not stored first), marked ``attested`` once mined, and deleted if the chain refuses it.
Deleting a row is crypto-shredding: the wrapped key is the only copy of the document key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ledger.db import schema
from ledger.db._checks import check_aware, check_bytes, check_text
from ledger.db._plumbing import Transactions
from ledger.db.errors import NotFound

__all__ = ["AttestationRow", "Attestations"]

_at = schema.attestations


@dataclass(frozen=True)
class AttestationRow:
    """One attestation as this service keeps it (``state``: ``pending`` or ``attested``)."""

    attestation_id: bytes
    attester: str
    state: str
    content_cid: str
    wrapped_key: bytes
    created_at: datetime
    supersedes: bytes | None = None


class Attestations:
    """This member's attestations' stored disclosures; one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction

    def add_attestation(self, row: AttestationRow) -> None:
        """Store a ``pending`` row (an attestation about to be sent); :class:`Conflict` if the
        ID is stored already."""
        check_bytes("attestation_id", row.attestation_id, 32)
        check_text("attester", row.attester)
        check_text("content_cid", row.content_cid)
        check_aware("created_at", row.created_at)
        if row.supersedes is not None:
            check_bytes("supersedes", row.supersedes, 32)
        if row.state != "pending" or not row.wrapped_key:
            raise ValueError("a new attestation row is pending and has its wrapped key")
        with self._transaction(write=True) as conn:
            conn.execute(sa.insert(_at).values(**_values(row)))

    def mark_attested(self, attestation_id: bytes) -> None:
        """The attestation was mined: its row is ``attested`` (:class:`NotFound` without one)."""
        with self._transaction(write=True) as conn:
            changed = conn.execute(
                sa.update(_at)
                .where(_at.c.attestation_id == attestation_id)
                .values(state="attested")
            ).rowcount
        if not changed:
            raise NotFound(f"no stored attestation 0x{attestation_id.hex()}")

    def delete_attestation(self, attestation_id: bytes) -> bool:
        """Delete the row (crypto-shredding its disclosures); whether there was one."""
        with self._transaction(write=True) as conn:
            deleted = conn.execute(sa.delete(_at).where(_at.c.attestation_id == attestation_id))
        return bool(deleted.rowcount)

    def attestation_row(self, attestation_id: bytes) -> AttestationRow:
        """The stored row; :class:`NotFound` if this service keeps none."""
        check_bytes("attestation_id", attestation_id, 32)
        with self._transaction() as conn:
            row = conn.execute(sa.select(_at).where(_at.c.attestation_id == attestation_id)).first()
        if row is None:
            raise NotFound(f"no stored attestation 0x{attestation_id.hex()}")
        return AttestationRow(
            attestation_id=bytes(row.attestation_id),
            attester=row.attester,
            state=row.state,
            content_cid=row.content_cid,
            wrapped_key=bytes(row.wrapped_key),
            created_at=row.created_at,
            supersedes=None if row.supersedes is None else bytes(row.supersedes),
        )


def _values(row: AttestationRow) -> dict[str, Any]:
    return {
        "attestation_id": row.attestation_id,
        "attester": row.attester,
        "state": row.state,
        "content_cid": row.content_cid,
        "wrapped_key": row.wrapped_key,
        "created_at": row.created_at,
        "supersedes": row.supersedes,
    }
