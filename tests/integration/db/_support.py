"""Shared helpers of the database tests: realistic-looking rows without any crypto."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone

from ledger import canonical
from ledger.agreement import ErasureMethod, ErasureRecord
from ledger.chain.consent import Mode
from ledger.consent import AccessReceipt, new_receipt_id
from ledger.db import (
    AgreementVersion,
    Database,
    NewSignature,
    NewVersion,
    VersionKind,
    open_database,
)

#: A fixed, non-UTC time: values must come back as the same instant, in UTC.
T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
ROLES = ("customer", "broker")
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


#: The fixed part of every agreement id (``new_agreement_id``) in a ``match=`` pattern.
AGREEMENT_ID = r"agr_[0-9a-f]{32}"


def integrity_error(sqlite: str, postgresql: str) -> str:
    """A ``match=`` pattern for an IntegrityError from either backend: SQLAlchemy's message
    opens with the driver's exception class and its first line, then a newline and details."""
    return rf"^(?:{re.escape(sqlite)}|{re.escape(postgresql)})\n"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_agreement_id() -> str:
    return "agr_" + secrets.token_hex(16)


def digest(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def create_draft(
    db: Database,
    agreement_id: str | None = None,
    version: int = 1,
    *,
    kind: str = "agreement",
    wrapped_keys: Mapping[bytes, bytes] | None = None,
    owner: str | None = None,
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
        wrapped_keys=wrapped_keys or {},
        owner=owner,
    )


def signature_bytes(agreement_id: str, role: str) -> bytes:
    return b"\x30\x44" + digest("r", agreement_id, role) + b"\x02\x20" + digest("s")


def public_key_of(role: str) -> bytes:
    return b"\x04" + digest("x", role) + digest("y", role)


def keys_of(agreement_id: str, version: int, readers: int = 2) -> dict[bytes, bytes]:
    """Wrapped document keys of a version for ``readers`` readers (fingerprint -> ciphertext)."""
    return {
        digest("reader", reader): b"\x04" + digest("wrapped", agreement_id, version, reader) * 3
        for reader in range(readers)
    }


def new_version(
    agreement_id: str | None = None,
    version: int = 1,
    *,
    kind: VersionKind = VersionKind.AGREEMENT,
    roles: tuple[str, ...] = ROLES,
    signed_by: tuple[str, ...] | None = None,
    accepted_at: datetime | None = None,
    wrapped_keys: Mapping[bytes, bytes] | None = None,
) -> NewVersion:
    """A fully signed version for submit_many (``signed_by`` defaults to ``roles``)."""
    agreement_id = agreement_id or new_agreement_id()
    return NewVersion(
        agreement_id=agreement_id,
        version=version,
        kind=kind,
        document_sm3=digest("document", agreement_id, version),
        document_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        media_type="text/plain; charset=utf-8",
        size=1000 + version,
        required_roles=roles,
        chain_id=31337,
        contract=CONTRACT,
        accepted_at=accepted_at or at(3),
        signatures=tuple(
            NewSignature(
                role=role,
                signed_at=at(1),
                public_key=public_key_of(role),
                distid=b"1234567812345678",
                signature=signature_bytes(agreement_id, role),
            )
            for role in (roles if signed_by is None else signed_by)
        ),
        wrapped_keys=keys_of(agreement_id, version) if wrapped_keys is None else wrapped_keys,
        leaf=leaf_of(agreement_id, version),
    )


def sign(db: Database, agreement_id: str, version: int, role: str) -> None:
    db.add_signature(
        agreement_id,
        version,
        role=role,
        signed_at=at(1),
        public_key=public_key_of(role),
        distid=b"1234567812345678",
        signature=signature_bytes(agreement_id, role),
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


def erasure(
    agreement_id: str,
    erased_at: datetime,
    *,
    customer_key: bytes | None = None,
    nonce: str | None = None,
) -> ErasureRecord:
    """An erasure to record: the owning broker's, or with ``customer_key`` a customer's."""
    return ErasureRecord(
        agreement_id=agreement_id,
        erased_at=erased_at,
        method=ErasureMethod.BROKER if customer_key is None else ErasureMethod.CUSTOMER,
        caller_member_id="broker-a",
        caller_keyid="sm3:" + "ab" * 32,
        customer_key=customer_key,
        nonce=nonce,
    )


#: Member accounts and the ConsentRegistry of the receipts below (anvil's first accounts).
ATTESTER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
GRANTEE = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
REGISTRY = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def access_receipt(
    grant_id: bytes, used_at: datetime, *, fields: tuple[str, ...] = ("given_name",)
) -> AccessReceipt:
    """A standing-mode receipt under ``grant_id`` (a fresh receipt ID), at whole seconds."""
    receipt_id = new_receipt_id()
    return AccessReceipt(
        receipt_id=receipt_id,
        grant_id=grant_id,
        attestation_id=digest("attestation"),
        attester=ATTESTER,
        caller=GRANTEE,
        fields=fields,
        purpose="account_opening",
        used_at=canonical.whole_seconds(used_at),
        request_sm3=digest("request", receipt_id),
        mode=Mode.STANDING,
        use_authorization=None,
        chain_id=31337,
        consent_registry=REGISTRY,
    )


def race(
    database_url: str,
    racers: int,
    attempt: Callable[[Database], AccessReceipt],
    refused: type[Exception],
    *,
    max_uses: int | None = None,
) -> tuple[list[str], int]:
    """``racers`` writers, each on its own connection pool (as service processes are), record
    at once the receipt ``attempt`` makes (under ``max_uses``): the receipt IDs written and how
    many were ``refused``; any other error fails the race."""
    databases = [open_database(database_url) for _ in range(racers)]
    barrier = threading.Barrier(racers)
    won: list[str] = []
    lost: list[Exception] = []
    failed: list[BaseException] = []

    def run(db: Database) -> None:
        receipt = attempt(db)
        try:
            barrier.wait()
            db.record_receipt(receipt, max_uses=max_uses)
            won.append(receipt.receipt_id)
        except refused as error:
            lost.append(error)
        except BaseException as error:
            failed.append(error)

    threads = [threading.Thread(target=run, args=(db,)) for db in databases]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for db in databases:
            db.close()
    assert failed == []
    return won, len(lost)
