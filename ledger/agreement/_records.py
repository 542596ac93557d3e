"""The agreement's records: its versions (kind, status, document, required roles, signatures) as
the service stores and hands them out. Frozen dataclasses of bytes, ints, strings and aware
datetimes; the database (:mod:`ledger.db`) reads and writes them, the rules
(:mod:`ledger.agreement._rules`) judge them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class VersionKind(StrEnum):
    """Kinds of agreement version: a normal version, or a void record (a later version that
    voids the agreement; nothing is ever deleted)."""

    AGREEMENT = "agreement"
    VOID = "void"


class VersionStatus(StrEnum):
    DRAFT = "draft"  # being signed
    ACCEPTED = "accepted"  # every required role signed; in the outbox, waiting for an anchor
    ANCHORED = "anchored"  # its batch's root is in a block; it has an inclusion proof


#: The version kinds and statuses as strings (the database's CHECK constraints).
VERSION_KINDS: tuple[str, ...] = tuple(kind.value for kind in VersionKind)
VERSION_STATUSES: tuple[str, ...] = tuple(status.value for status in VersionStatus)


@dataclass(frozen=True)
class SignatureRecord:
    """One role's recorded signature of one version."""

    agreement_id: str
    version: int
    role: str
    signed_at: datetime
    public_key: bytes  # uncompressed SM2 point, 65 bytes
    distid: bytes
    signature: bytes  # DER
    recorded_at: datetime


@dataclass(frozen=True)
class AgreementVersion:
    agreement_id: str
    version: int
    kind: VersionKind
    status: VersionStatus
    document_sm3: bytes
    document_cid: str
    media_type: str
    size: int
    required_roles: tuple[str, ...]
    chain_id: int
    contract: str
    created_at: datetime
    accepted_at: datetime | None
    keys_erased_at: datetime | None = None  # when its wrapped document keys were erased
    signatures: tuple[SignatureRecord, ...] = ()
