"""The IdentityAttestations contract from Python: member brokers' KYC attestations of customers.

An attestation names the customer by a salted commitment (``subject``), binds the customer's SM2
key and commits to each KYC field by the SM3 digest of its disclosure; names (level, method,
fields) are IDs, keccak256 of the UTF-8 name (:func:`name_id`). The chain cannot compute SM3, so
it keeps the key fingerprint the attester states: every attestation read here is checked (the
fingerprint must be SM3 of the key, a point of the SM2 curve), else :class:`InvalidAttestation`.
Inputs built here always carry the right fingerprint (computed from the key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from ledger.chain._binding import ContractBinding, deployment_scoped_id, name_id
from ledger.chain.client import SentTransaction
from ledger.chain.errors import (
    ContractRefused,
    InvalidArgument,
    InvalidAttestation,
    NotPermitted,
    StateConflict,
)
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey

CONTRACT_NAME = "IdentityAttestations"

#: The contract's limits (its constants; a test holds them equal): fields per attestation,
#: bytes of a content reference.
MAX_FIELDS = 32
MAX_CONTENT_REF_LENGTH = 128

REFUSALS: dict[str, type[ContractRefused]] = {
    "IdentityAttestations__NotPermitted": NotPermitted,
    "IdentityAttestations__NotAttester": NotPermitted,
    "IdentityAttestations__AlreadyAttested": StateConflict,
    "IdentityAttestations__UnknownAttestation": StateConflict,
    "IdentityAttestations__AlreadyEnded": StateConflict,
    "IdentityAttestations__DifferentCustomer": StateConflict,
    "IdentityAttestations__ZeroConsortium": InvalidArgument,
    "IdentityAttestations__MissingValue": InvalidArgument,
    "IdentityAttestations__InvalidPublicKey": InvalidArgument,
    "IdentityAttestations__InvalidFingerprint": InvalidArgument,
    "IdentityAttestations__VerifiedInFuture": InvalidArgument,
    "IdentityAttestations__InvalidExpiry": InvalidArgument,
    "IdentityAttestations__InvalidFieldCount": InvalidArgument,
    "IdentityAttestations__InvalidField": InvalidArgument,
    "IdentityAttestations__DuplicateField": InvalidArgument,
    "IdentityAttestations__InvalidContentRef": InvalidArgument,
    "IdentityAttestations__MissingReason": InvalidArgument,
}

__all__ = [
    "CONTRACT_NAME",
    "MAX_CONTENT_REF_LENGTH",
    "MAX_FIELDS",
    "REFUSALS",
    "Attestation",
    "AttestationInput",
    "Attested",
    "IdentityAttestationsContract",
    "attestation_id_of",
    "name_id",
]


@dataclass(frozen=True)
class AttestationInput:
    """What an attester states (the contract's ``AttestationInput``). ``level``, ``method`` and
    each of ``field_names`` are name IDs (:func:`name_id`); ``field_digests[i]`` is SM3 of the
    disclosure of ``field_names[i]``; ``content_ref`` the content ID of the encrypted fields."""

    subject: bytes
    customer_key: SM2PublicKey
    level: bytes
    method: bytes
    verified_at: int
    expires_at: int
    field_names: tuple[bytes, ...]
    field_digests: tuple[bytes, ...]
    content_ref: bytes
    nonce: bytes

    def as_abi(self) -> tuple[Any, ...]:
        return (
            self.subject,
            self.customer_key.to_raw(),
            self.customer_key.fingerprint(),
            self.level,
            self.method,
            self.verified_at,
            self.expires_at,
            list(self.field_names),
            list(self.field_digests),
            self.content_ref,
            self.nonce,
        )


@dataclass(frozen=True)
class Attestation:
    """An attestation as stored, checked (fingerprint = SM3 of the customer key). Times are UNIX
    seconds; ``ended_at`` is None while neither revoked nor superseded, ``revocation_reason``
    None unless revoked, ``superseded_by``/``supersedes`` None when there is none."""

    attestation_id: bytes
    attester: str
    subject: bytes
    customer_key: SM2PublicKey
    level: bytes
    method: bytes
    verified_at: int
    expires_at: int
    field_names: tuple[bytes, ...]
    field_digests: tuple[bytes, ...]
    content_ref: bytes
    nonce: bytes
    attested_at: int
    ended_at: int | None
    revocation_reason: bytes | None
    superseded_by: bytes | None
    supersedes: bytes | None

    @property
    def ends_at(self) -> int:
        """When it stops being valid: its expiry, or its revocation or supersession if earlier."""
        return self.expires_at if self.ended_at is None else min(self.expires_at, self.ended_at)

    @property
    def revoked(self) -> bool:
        return self.revocation_reason is not None

    def valid_at(self, at: int) -> bool:
        """The contract's rule, offline: ``verified_at <= at < ends_at``."""
        return self.verified_at <= at < self.ends_at

    def field_digest(self, name: bytes) -> bytes | None:
        """The attested SM3 digest of the disclosure of field ``name`` (a name ID), if any."""
        for known, digest in zip(self.field_names, self.field_digests, strict=True):
            if known == name:
                return digest
        return None


@dataclass(frozen=True)
class Attested:
    attestation_id: bytes
    sent: SentTransaction


def attestation_id_of(
    *, chain_id: int, contract: str, attester: str, subject: bytes, nonce: bytes
) -> bytes:
    """The contract's attestation ID, computed offline (same as ``attestationIdOf``)."""
    return deployment_scoped_id(
        chain_id=chain_id,
        contract=contract,
        types=["address", "bytes32", "bytes32"],
        values=[to_checksum_address(attester), subject, nonce],
    )


class IdentityAttestationsContract(ContractBinding):
    CONTRACT_NAME = CONTRACT_NAME
    REFUSALS = REFUSALS

    @staticmethod
    def constructor_args(consortium: str) -> tuple[Any, ...]:
        return (to_checksum_address(consortium),)

    def attest(self, attestation: AttestationInput) -> Attested:
        """Attest a customer (the caller must be a broker)."""
        sent = self._transact(self._contract.functions.attest(attestation.as_abi()))
        return Attested(bytes(self._one_event("Attested", sent)["attestationId"]), sent)

    def revoke(self, attestation_id: bytes, reason: bytes) -> SentTransaction:
        """Revoke the caller's attestation from the block's time on; ``reason`` a name ID."""
        return self._transact(self._contract.functions.revoke(attestation_id, reason))

    def supersede(self, old_id: bytes, attestation: AttestationInput) -> Attested:
        """Attest a re-verification of the customer of ``old_id``, which ends at the block's
        time."""
        sent = self._transact(self._contract.functions.supersede(old_id, attestation.as_abi()))
        return Attested(bytes(self._one_event("Attested", sent)["attestationId"]), sent)

    def consortium(self) -> str:
        return to_checksum_address(self._read("consortium"))

    def attestation(self, attestation_id: bytes) -> Attestation:
        return _attestation(self._read("getAttestation", attestation_id))

    def is_valid_at(self, attestation_id: bytes, at: int) -> bool:
        return bool(self._read("isValidAt", attestation_id, at))

    def field_digest(self, attestation_id: bytes, name: bytes) -> bytes | None:
        """The attested digest of field ``name``; None if there is no such attestation or
        field."""
        digest = bytes(self._read("fieldDigest", attestation_id, name))
        return digest if any(digest) else None

    def customer_key_fingerprint_of(self, attestation_id: bytes) -> bytes | None:
        """The stated fingerprint of the bound key (unchecked: :meth:`attestation` checks it);
        None if there is no such attestation."""
        fingerprint = bytes(self._read("customerKeyFingerprintOf", attestation_id))
        return fingerprint if any(fingerprint) else None

    def attestations_of(self, attester: str) -> list[bytes]:
        return [bytes(i) for i in self._read("attestationsOf", to_checksum_address(attester))]

    def attestation_id_of(self, attester: str, subject: bytes, nonce: bytes) -> bytes:
        """The ID the contract computes (:func:`attestation_id_of` computes it offline)."""
        return bytes(self._read("attestationIdOf", to_checksum_address(attester), subject, nonce))


def _optional(value: Any) -> bytes | None:
    return bytes(value) if any(bytes(value)) else None


def _attestation(raw: Sequence[Any]) -> Attestation:
    attestation_id = bytes(raw[0])
    shown = "0x" + attestation_id.hex()
    fingerprint = bytes(raw[4])
    try:
        key = SM2PublicKey.from_raw(bytes(raw[3]))
    except CryptoError as exc:
        raise InvalidAttestation(f"attestation {shown}: no SM2 public key: {exc}") from exc
    if key.fingerprint() != fingerprint:
        raise InvalidAttestation(
            f"attestation {shown}: the stated key fingerprint {fingerprint.hex()} is not SM3 of"
            f" the key ({key.fingerprint().hex()})"
        )
    return Attestation(
        attestation_id=attestation_id,
        attester=to_checksum_address(raw[1]),
        subject=bytes(raw[2]),
        customer_key=key,
        level=bytes(raw[5]),
        method=bytes(raw[6]),
        verified_at=int(raw[7]),
        expires_at=int(raw[8]),
        field_names=tuple(bytes(n) for n in raw[9]),
        field_digests=tuple(bytes(d) for d in raw[10]),
        content_ref=bytes(raw[11]),
        nonce=bytes(raw[12]),
        attested_at=int(raw[13]),
        ended_at=int(raw[14]) or None,
        revocation_reason=_optional(raw[15]),
        superseded_by=_optional(raw[16]),
        supersedes=_optional(raw[17]),
    )
