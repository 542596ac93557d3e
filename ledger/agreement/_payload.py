"""The agreement's formats: its identity, its document, the domain its signatures are bound to,
what each party signs (signing payloads v0 and v1) and the Merkle leaf entry of an accepted
version."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime

from eth_utils.address import is_checksum_address

from ledger import canonical, merkle
from ledger._ids import AGREEMENT_ID, ROLE
from ledger.agreement._records import VERSION_KINDS
from ledger.crypto.sm3 import sm3 as sm3_digest
from ledger.errors import LedgerError

#: Checksum validation hashes with keccak in Python; a service sees the same few contracts.
_is_checksum_address = functools.lru_cache(maxsize=256)(is_checksum_address)


class AgreementError(LedgerError):
    """An agreement, its document or one of its fields is malformed."""


def new_agreement_id() -> str:
    return "agr_" + secrets.token_hex(16)


def check_agreement_id(agreement_id: str) -> str:
    if not AGREEMENT_ID.match(agreement_id):
        raise AgreementError(f"agreement IDs look like agr_<32 hex>, got {agreement_id!r}")
    return agreement_id


#: The highest agreement version (a signed 32-bit integer in the database and proof schema).
MAX_VERSION = 2**31 - 1


def check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise AgreementError(f"agreement versions are integers from 1, got {version!r}")
    return version


def check_role(role: str) -> str:
    if not ROLE.match(role):
        raise AgreementError(f"a role is 1-32 of [a-z0-9_-], starting with a letter: {role!r}")
    return role


#: The media type of a document that names none.
DEFAULT_MEDIA_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Document:
    """The agreement document as the parties read and sign it."""

    content: bytes
    media_type: str = DEFAULT_MEDIA_TYPE

    @functools.cached_property
    def sm3(self) -> bytes:
        """SM3 of the content (computed once: a document may be megabytes)."""
        return sm3_digest(self.content)


@dataclass(frozen=True)
class SigningDomain:
    """Where signatures count: one chain and one ledger deployment. A signature carries it, so it
    cannot be replayed onto another chain, deployment or agreement."""

    chain_id: int
    contract: str

    def __post_init__(self) -> None:
        if self.chain_id <= 0:
            raise AgreementError(f"chain ID must be positive, got {self.chain_id}")
        if not _is_checksum_address(self.contract):
            raise AgreementError(f"contract must be a checksummed address, got {self.contract!r}")


@dataclass(frozen=True)
class SigningPayload:
    """What one party signs for one version of an agreement (domain-separated canonical JSON).

    Payload version 1: agreement ID, agreement version, document SM3 digest, signer role, signing
    time, chain ID and ledger contract. A signature over it cannot be replayed onto another
    agreement, version, document, role, chain or deployment. It does not cover the CID of the
    encrypted document, so parties can sign before the service has encrypted and stored it; the
    CID is bound by the anchored leaf entry (:class:`LeafEntry`).
    """

    agreement_id: str
    agreement_version: int
    document_sm3: bytes
    role: str
    signed_at: datetime
    domain: SigningDomain

    TYPE = "ledger/agreement-signature"
    VERSION = 1

    def to_bytes(self) -> bytes:
        return canonical.dumps(
            {
                "type": self.TYPE,
                "version": self.VERSION,
                "agreement_id": check_agreement_id(self.agreement_id),
                "agreement_version": check_version(self.agreement_version),
                "document_digest": canonical.label("sm3", self.document_sm3),
                "role": check_role(self.role),
                "signed_at": canonical.timestamp(self.signed_at),
                "chain_id": self.domain.chain_id,
                "contract": self.domain.contract,
            }
        )


@dataclass(frozen=True)
class SigningPayloadV0:
    """Payload version 0 (``ledger-proof/0`` single-record anchors): no agreement version, and
    the CID of the stored ciphertext is signed. Kept so that v0 proofs keep verifying."""

    agreement_id: str
    document_sm3: bytes
    document_cid: str
    role: str
    signed_at: datetime
    domain: SigningDomain

    TYPE = "ledger/agreement-signature"
    VERSION = 0

    def to_bytes(self) -> bytes:
        return canonical.dumps(
            {
                "type": self.TYPE,
                "version": self.VERSION,
                "agreement_id": check_agreement_id(self.agreement_id),
                "document_digest": canonical.label("sm3", self.document_sm3),
                "document_cid": self.document_cid,
                "role": check_role(self.role),
                "signed_at": canonical.timestamp(self.signed_at),
                "chain_id": self.domain.chain_id,
                "contract": self.domain.contract,
            }
        )


@dataclass(frozen=True)
class LeafEntry:
    """What the service commits to when it accepts a version: the Merkle leaf of its batch.

    The leaf hash is ``merkle.leaf_hash(to_bytes())`` (SM3 with the RFC 6962 0x00 prefix). The
    entry binds the version, its document (digest, CID of the ciphertext, media type, size), the
    roles that had to sign, the SM3 of the signature set (signatures in role order, see
    :func:`ledger.signature.signature_set_digest`), the acceptance time and the domain.
    """

    agreement_id: str
    agreement_version: int
    kind: str
    document_sm3: bytes
    document_cid: str
    media_type: str
    size: int
    required_roles: tuple[str, ...]
    signature_set_digest: bytes
    accepted_at: datetime
    domain: SigningDomain

    TYPE = "ledger/agreement-leaf"
    VERSION = 1

    def to_bytes(self) -> bytes:
        if self.kind not in VERSION_KINDS:
            raise AgreementError(f"version kind is one of {VERSION_KINDS}, got {self.kind!r}")
        return canonical.dumps(
            {
                "type": self.TYPE,
                "version": self.VERSION,
                "agreement_id": check_agreement_id(self.agreement_id),
                "agreement_version": check_version(self.agreement_version),
                "kind": self.kind,
                "document": {
                    "digest": canonical.label("sm3", self.document_sm3),
                    "cid": self.document_cid,
                    "media_type": self.media_type,
                    "size": self.size,
                },
                "required_roles": [check_role(r) for r in self.required_roles],
                "signature_set_digest": canonical.label("sm3", self.signature_set_digest),
                "accepted_at": canonical.timestamp(self.accepted_at),
                "chain_id": self.domain.chain_id,
                "contract": self.domain.contract,
            }
        )

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.to_bytes())
