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
    #: The member whose broker created the version (its agreement's owner); None for versions
    #: stored before calls were attributed.
    owner: str | None = None

    def signer_key(self, role: str) -> bytes | None:
        """The raw public key that signed this version as ``role`` (None: not signed)."""
        return next((s.public_key for s in self.signatures if s.role == role), None)


class ErasureMethod(StrEnum):
    """How an erasure was authorized."""

    BROKER = "broker"  # the owning broker asked
    CUSTOMER = "customer"  # a request signed by the agreement's customer key


@dataclass(frozen=True)
class ErasureRecord:
    """One erasure of an agreement's document keys: who asked, when, how, and how many keys
    went (0 for a repeat)."""

    agreement_id: str
    erased_at: datetime
    method: ErasureMethod
    caller_member_id: str  # who sent the (signed) HTTP request
    caller_keyid: str
    keys_erased: int = 0
    customer_key: bytes | None = None  # the customer key that signed the request (raw point)
    nonce: str | None = None  # the customer-signed request's nonce
