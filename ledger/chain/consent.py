"""The ConsentRegistry contract from Python: customers' signed consents (grants) to reuse an
identity attestation, their revocations, and the digests a customer's SM2 key signs.

What the customer signs is 32 bytes: keccak256 of the ABI-encoded record with its type tag and
the signing domain (chain ID, registry address): :func:`grant_digest`, :func:`revocation_digest`
and :func:`use_digest` compute it offline exactly as the contract's ``grantDigest``,
``revocationDigest`` and ``useDigest`` do (a test holds them equal). The SM2 signature is over
those 32 bytes as the message (GB/T 32918.2, default distinguishing ID).

The chain stores signatures unchecked: :meth:`GrantRecord.signed_by` and
:func:`effective_revocation` are the checks a service makes before relying on a record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from ledger.chain._binding import ContractBinding, name_id
from ledger.chain.client import SentTransaction
from ledger.chain.errors import ContractRefused, InvalidArgument, NotPermitted, StateConflict
from ledger.crypto.errors import InvalidSignature
from ledger.crypto.sm2 import SM2PublicKey

CONTRACT_NAME = "ConsentRegistry"

#: Type tags of the signed records (the contract's GRANT_TYPE, REVOCATION_TYPE, USE_TYPE).
GRANT_TYPE = name_id("ledger/consent-grant/1")
REVOCATION_TYPE = name_id("ledger/consent-revocation/1")
USE_TYPE = name_id("ledger/consent-use/1")

#: The contract's limits (its constants; a test holds them equal).
MAX_FIELDS = 32
MAX_LIST_LENGTH = 16
MAX_TEXT_LENGTH = 256
MAX_LANGUAGE_LENGTH = 35
MAX_SIGNATURE_LENGTH = 128

_NOTICE_TUPLE = "(string,string,bytes32[],bool,bytes32,string,bool)"
_GRANT_TUPLE = (
    "(address,bytes32,bytes32[],bytes32[],bytes32,uint64,uint64,uint32,uint8,bytes32,"
    f"{_NOTICE_TUPLE})"
)
_REVOCATION_TUPLE = "(bytes32,bytes32)"
_USE_TUPLE = "(bytes32,address,bytes32[],bytes32,bytes32,uint64)"

REFUSALS: dict[str, type[ContractRefused]] = {
    "ConsentRegistry__NotMember": NotPermitted,
    "ConsentRegistry__GranteeNotMember": StateConflict,
    "ConsentRegistry__UnknownAttestation": StateConflict,
    "ConsentRegistry__AttestationNotValid": StateConflict,
    "ConsentRegistry__FieldNotAttested": StateConflict,
    "ConsentRegistry__GrantAlreadyRecorded": StateConflict,
    "ConsentRegistry__NonceUsed": StateConflict,
    "ConsentRegistry__UnknownGrant": StateConflict,
    "ConsentRegistry__RevocationAlreadyRecorded": StateConflict,
    "ConsentRegistry__UnknownRevocation": StateConflict,
    "ConsentRegistry__ZeroAddress": InvalidArgument,
    "ConsentRegistry__InvalidWindow": InvalidArgument,
    "ConsentRegistry__WindowOver": InvalidArgument,
    "ConsentRegistry__InvalidFieldCount": InvalidArgument,
    "ConsentRegistry__DuplicateField": InvalidArgument,
    "ConsentRegistry__InvalidList": InvalidArgument,
    "ConsentRegistry__MissingValue": InvalidArgument,
    "ConsentRegistry__InvalidNoticeText": InvalidArgument,
    "ConsentRegistry__InvalidSignature": InvalidArgument,
}


def _values(raw: Sequence[Any] | Mapping[str, Any]) -> Sequence[Any]:
    """A struct's components in order: web3 decodes events' structs as mappings."""
    return list(raw.values()) if isinstance(raw, Mapping) else raw


class Mode(IntEnum):
    """``STANDING``: uses in the window need no further signature; ``PER_USE``: each use needs
    the customer's fresh signature over a :class:`UseAuthorization`."""

    STANDING = 0
    PER_USE = 1

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True)
class Notice:
    """The PIPL Art. 23 notice the customer saw. ``data_categories`` are name IDs,
    ``notice_digest`` SM3 of the notice text, ``language`` a BCP 47 tag."""

    recipient_name: str
    recipient_contact: str
    data_categories: tuple[bytes, ...]
    sensitive: bool
    notice_digest: bytes
    language: str
    separate_consent: bool

    def as_abi(self) -> tuple[Any, ...]:
        return (
            self.recipient_name,
            self.recipient_contact,
            list(self.data_categories),
            self.sensitive,
            self.notice_digest,
            self.language,
            self.separate_consent,
        )

    @classmethod
    def from_abi(cls, raw: Sequence[Any] | Mapping[str, Any]) -> Notice:
        raw = _values(raw)
        return cls(
            recipient_name=str(raw[0]),
            recipient_contact=str(raw[1]),
            data_categories=tuple(bytes(c) for c in raw[2]),
            sensitive=bool(raw[3]),
            notice_digest=bytes(raw[4]),
            language=str(raw[5]),
            separate_consent=bool(raw[6]),
        )


@dataclass(frozen=True)
class Grant:
    """A consent as the customer signs it. ``fields`` are the attestation's field name IDs,
    ``purposes`` and ``processing_method`` name IDs; ``max_uses`` 0 is unlimited."""

    grantee: str
    attestation_id: bytes
    fields: tuple[bytes, ...]
    purposes: tuple[bytes, ...]
    processing_method: bytes
    not_before: int
    not_after: int
    max_uses: int
    mode: Mode
    nonce: bytes
    notice: Notice

    def as_abi(self) -> tuple[Any, ...]:
        return (
            to_checksum_address(self.grantee),
            self.attestation_id,
            list(self.fields),
            list(self.purposes),
            self.processing_method,
            self.not_before,
            self.not_after,
            self.max_uses,
            int(self.mode),
            self.nonce,
            self.notice.as_abi(),
        )

    @classmethod
    def from_abi(cls, raw: Sequence[Any] | Mapping[str, Any]) -> Grant:
        """From a call's tuple or an event's decoded struct (a mapping by component name)."""
        raw = _values(raw)
        return cls(
            grantee=to_checksum_address(raw[0]),
            attestation_id=bytes(raw[1]),
            fields=tuple(bytes(f) for f in raw[2]),
            purposes=tuple(bytes(p) for p in raw[3]),
            processing_method=bytes(raw[4]),
            not_before=int(raw[5]),
            not_after=int(raw[6]),
            max_uses=int(raw[7]),
            mode=Mode(int(raw[8])),
            nonce=bytes(raw[9]),
            notice=Notice.from_abi(raw[10]),
        )


@dataclass(frozen=True)
class Revocation:
    """A customer's revocation of the grant ``grant_id``."""

    grant_id: bytes
    nonce: bytes

    def as_abi(self) -> tuple[Any, ...]:
        return (self.grant_id, self.nonce)


@dataclass(frozen=True)
class UseAuthorization:
    """A customer's authorization of one use of a per-use grant (never sent to the chain)."""

    grant_id: bytes
    grantee: str
    fields: tuple[bytes, ...]
    purpose: bytes
    nonce: bytes
    requested_at: int

    def as_abi(self) -> tuple[Any, ...]:
        return (
            self.grant_id,
            to_checksum_address(self.grantee),
            list(self.fields),
            self.purpose,
            self.nonce,
            self.requested_at,
        )


def _digest(
    type_tag: bytes, tuple_type: str, record: tuple[Any, ...], chain_id: int, contract: str
) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "uint256", "address", tuple_type],
            [type_tag, chain_id, to_checksum_address(contract), record],
        )
    )


def grant_digest(grant: Grant, *, chain_id: int, contract: str) -> bytes:
    """What the customer signs to grant, and the grant's ID (the contract's ``grantDigest``)."""
    return _digest(GRANT_TYPE, _GRANT_TUPLE, grant.as_abi(), chain_id, contract)


def revocation_digest(revocation: Revocation, *, chain_id: int, contract: str) -> bytes:
    """What the customer signs to revoke (the contract's ``revocationDigest``)."""
    return _digest(REVOCATION_TYPE, _REVOCATION_TUPLE, revocation.as_abi(), chain_id, contract)


def use_digest(authorization: UseAuthorization, *, chain_id: int, contract: str) -> bytes:
    """What the customer signs to authorize one use (the contract's ``useDigest``)."""
    return _digest(USE_TYPE, _USE_TUPLE, authorization.as_abi(), chain_id, contract)


def revocation_id_of(digest: bytes, signature: bytes) -> bytes:
    """A recorded revocation's ID: keccak256(abi.encode(digest, signature))."""
    return keccak(abi_encode(["bytes32", "bytes"], [digest, signature]))


def signs(public_key: SM2PublicKey, digest: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s SM2 signature of the 32-byte ``digest``."""
    try:
        public_key.verify(signature, digest)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class GrantRecord:
    """A recorded grant: the grant, the stated fingerprint of the attestation's customer key,
    the signature as relayed (unchecked on chain), the relayer and when it was recorded."""

    grant_id: bytes
    grant: Grant
    customer_key_fingerprint: bytes
    signature: bytes
    relayer: str
    recorded_at: int

    def signed_by(self, public_key: SM2PublicKey) -> bool:
        """Whether the grant's signature verifies under ``public_key`` (the key the attestation
        binds) and that key has the recorded fingerprint: else the grant is inert."""
        return public_key.fingerprint() == self.customer_key_fingerprint and signs(
            public_key, self.grant_id, self.signature
        )

    @property
    def starts_at(self) -> int:
        """When its window begins: ``not_before``, or its recording if later."""
        return max(self.grant.not_before, self.recorded_at)

    def in_force_at(
        self,
        at: int,
        *,
        customer_key: SM2PublicKey,
        revocations: Iterable[RevocationRecord],
    ) -> bool:
        """The grant's own part of the rule services apply at ``at``: signed by the customer's
        key, on chain already (``recorded_at``) and inside its window ``[not_before,
        not_after)``, and before the earliest recorded revocation whose signature verifies.
        (The attestation's validity at ``at``, the scope, the mode's per-use signature and the
        uses left are the service's other checks.)"""
        if not self.signed_by(customer_key):
            return False
        if not self.starts_at <= at < self.grant.not_after:
            return False
        revoked = effective_revocation(revocations, customer_key)
        return revoked is None or at < revoked.at


@dataclass(frozen=True)
class RevocationRecord:
    """A recorded revocation; it takes effect at ``at`` if its signature verifies."""

    revocation_id: bytes
    digest: bytes
    nonce: bytes
    signature: bytes
    relayer: str
    at: int


def effective_revocation(
    revocations: Iterable[RevocationRecord], public_key: SM2PublicKey
) -> RevocationRecord | None:
    """The earliest revocation whose signature verifies under the customer's ``public_key``
    (the rule every service applies); None if none does."""
    valid = [r for r in revocations if signs(public_key, r.digest, r.signature)]
    return min(valid, key=lambda r: r.at, default=None)


@dataclass(frozen=True)
class Recorded:
    record_id: bytes  # the grant ID, or the revocation ID
    sent: SentTransaction


class ConsentRegistryContract(ContractBinding):
    CONTRACT_NAME = CONTRACT_NAME
    REFUSALS = REFUSALS

    @staticmethod
    def constructor_args(consortium: str, attestations: str) -> tuple[Any, ...]:
        return (to_checksum_address(consortium), to_checksum_address(attestations))

    def record_grant(self, grant: Grant, signature: bytes) -> Recorded:
        """Relay the customer's grant with its signature (the caller must be a member)."""
        sent = self._transact(self._contract.functions.recordGrant(grant.as_abi(), signature))
        return Recorded(bytes(self._one_event("GrantRecorded", sent)["grantId"]), sent)

    def revoke(self, revocation: Revocation, signature: bytes) -> Recorded:
        """Relay the customer's revocation with its signature (the caller must be a member)."""
        sent = self._transact(self._contract.functions.revoke(revocation.as_abi(), signature))
        return Recorded(bytes(self._one_event("RevocationRecorded", sent)["revocationId"]), sent)

    def consortium(self) -> str:
        return to_checksum_address(self._read("consortium"))

    def attestations(self) -> str:
        return to_checksum_address(self._read("attestations"))

    def grant(self, grant_id: bytes) -> GrantRecord:
        raw = self._read("getGrant", grant_id)
        return GrantRecord(
            grant_id=bytes(raw[0]),
            grant=Grant.from_abi(raw[1]),
            customer_key_fingerprint=bytes(raw[2]),
            signature=bytes(raw[3]),
            relayer=to_checksum_address(raw[4]),
            recorded_at=int(raw[5]),
        )

    def revocations_of(self, grant_id: bytes) -> list[RevocationRecord]:
        """Every revocation recorded for the grant, oldest first (one call)."""
        raws = self._read("revocationsOf", grant_id)
        return [_revocation(raw) for raw in raws]

    def revocation_count(self, grant_id: bytes) -> int:
        return int(self._read("revocationCount", grant_id))

    def revocation_at(self, grant_id: bytes, index: int) -> RevocationRecord:
        """The ``index``-th revocation of the grant: for a list too long for one call."""
        return _revocation(self._read("revocationAt", grant_id, index))

    def grants_of(self, grantee: str) -> list[bytes]:
        return [bytes(i) for i in self._read("grantsOf", to_checksum_address(grantee))]

    def grants_of_attestation(self, attestation_id: bytes) -> list[bytes]:
        return [bytes(i) for i in self._read("grantsOfAttestation", attestation_id)]

    # The digests as the contract computes them (the module's functions compute them offline).
    def grant_digest(self, grant: Grant) -> bytes:
        return bytes(self._read("grantDigest", grant.as_abi()))

    def revocation_digest(self, revocation: Revocation) -> bytes:
        return bytes(self._read("revocationDigest", revocation.as_abi()))

    def use_digest(self, authorization: UseAuthorization) -> bytes:
        return bytes(self._read("useDigest", authorization.as_abi()))


def _revocation(raw: Sequence[Any]) -> RevocationRecord:
    return RevocationRecord(
        revocation_id=bytes(raw[0]),
        digest=bytes(raw[1]),
        nonce=bytes(raw[2]),
        signature=bytes(raw[3]),
        relayer=to_checksum_address(raw[4]),
        at=int(raw[5]),
    )
