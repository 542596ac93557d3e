"""Shared helpers of the database tests: realistic-looking rows without any crypto."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta, timezone

from ledger.db import AgreementVersion, Database

#: A fixed, non-UTC time: values must come back as the same instant, in UTC.
T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
ROLES = ("customer", "broker")
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_agreement_id() -> str:
    return "agr_" + secrets.token_hex(16)


def digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def create_draft(
    db: Database, agreement_id: str | None = None, version: int = 1, *, kind: str = "agreement"
) -> AgreementVersion:
    agreement_id = agreement_id or new_agreement_id()
    return db.create_draft(
        agreement_id,
        version,
        kind=kind,
        document_sm3=digest("document", agreement_id),
        document_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        media_type="text/plain; charset=utf-8",
        size=1234,
        required_roles=ROLES,
        chain_id=31337,
        contract=CONTRACT,
        created_at=T0,
    )


def sign(db: Database, agreement_id: str, version: int, role: str) -> None:
    db.add_signature(
        agreement_id,
        version,
        role=role,
        signed_at=at(1),
        public_key=b"\x04" + digest("x", role) + digest("y", role),
        distid=b"1234567812345678",
        signature=b"\x30\x44" + digest("r", agreement_id, role) + b"\x02\x20" + digest("s"),
        recorded_at=at(2),
    )


def leaf_of(agreement_id: str, version: int) -> bytes:
    return digest("leaf", agreement_id, version)


def accepted(db: Database, count: int = 1) -> list[tuple[str, int]]:
    """``count`` new agreements, signed by every role and accepted, in this order."""
    keys = []
    for _ in range(count):
        draft = create_draft(db)
        for role in ROLES:
            sign(db, draft.agreement_id, 1, role)
        db.accept(draft.agreement_id, 1, leaf=leaf_of(draft.agreement_id, 1), accepted_at=at(3))
        keys.append((draft.agreement_id, 1))
    return keys


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
