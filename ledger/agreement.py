"""Account agreements: the document, its identity, and the domain its signatures are bound to."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from eth_utils import is_checksum_address

from ledger import _canonical
from ledger._ids import AGREEMENT_ID, ROLE
from ledger.crypto.sm3 import sm3 as sm3_digest
from ledger.errors import LedgerError

#: Roles every account agreement must be signed by.
REQUIRED_ROLES = ("customer", "broker")


class AgreementError(LedgerError):
    """An agreement, its document or one of its fields is malformed."""


def new_agreement_id() -> str:
    return "agr_" + secrets.token_hex(16)


def check_agreement_id(agreement_id: str) -> str:
    if not AGREEMENT_ID.match(agreement_id):
        raise AgreementError(f"agreement IDs look like agr_<32 hex>, got {agreement_id!r}")
    return agreement_id


def check_role(role: str) -> str:
    if not ROLE.match(role):
        raise AgreementError(f"a role is 1-32 of [a-z0-9_-], starting with a letter: {role!r}")
    return role


@dataclass(frozen=True)
class Document:
    """The agreement document as the parties read and sign it."""

    content: bytes
    media_type: str = "text/plain; charset=utf-8"

    @property
    def sm3(self) -> bytes:
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
        if not is_checksum_address(self.contract):
            raise AgreementError(f"contract must be a checksummed address, got {self.contract!r}")


@dataclass(frozen=True)
class SigningPayload:
    """What one party signs for one agreement (domain-separated, canonical JSON)."""

    agreement_id: str
    document_sm3: bytes
    document_cid: str
    role: str
    signed_at: datetime
    domain: SigningDomain

    TYPE = "ledger/agreement-signature"
    VERSION = 0

    def to_bytes(self) -> bytes:
        return _canonical.dumps(
            {
                "type": self.TYPE,
                "version": self.VERSION,
                "agreement_id": check_agreement_id(self.agreement_id),
                "document_digest": _canonical.label("sm3", self.document_sm3),
                "document_cid": self.document_cid,
                "role": check_role(self.role),
                "signed_at": _canonical.timestamp(self.signed_at),
                "chain_id": self.domain.chain_id,
                "contract": self.domain.contract,
            }
        )
