"""Relaying customers' consents to the chain, and reading them back, as one member's service:
what ``/v1/consents`` runs.

Any member's service relays a customer's signed grant or revocation with its own chain account;
the customer's SM2 signature is the authorization, so the caller is the customer itself (its
key must be the one the attestation binds) or any member. The chain stores signatures
unchecked, so the service verifies the signature against the attestation's bound key **before**
sending: one that does not verify is :class:`ConsentSignatureInvalid` and nothing is sent. The
contract's own refusals (a replay, an unknown or ended attestation, a window already over...)
come from the simulation before sending, as its typed errors (:mod:`ledger.chain.errors`). A
relay returns once its transaction is mined.

A grant is read by the customer whose key the attestation binds, the grantee member, the
attester member, auditors and the regulator; anyone else is answered as if there were no such
grant (:class:`ConsentNotFound`). What is read is judged as every service judges it: a grant
whose signature does not verify is inert; its revocation is the earliest that verifies; it is
in force at the latest block's time or not (:class:`GrantState`).

The contracts are the recorded IdentityAttestations and ConsentRegistry, found on first use
(on the dev chain deployed first if there are none:
:func:`~ledger.chain.deployments.ensure_consent_contracts`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from ledger.chain.attestations import Attestation, IdentityAttestationsContract
from ledger.chain.client import ChainClient
from ledger.chain.consent import (
    ConsentRegistryContract,
    GrantRecord,
    RevocationRecord,
    effective_revocation,
    signs,
)
from ledger.chain.errors import StateConflict
from ledger.customer.documents import ConsentDomain, SignedGrant, SignedRevocation
from ledger.db.records import StoredReceipt
from ledger.errors import LedgerError
from ledger.httpsig import Caller
from ledger.member.access import READER_ROLES, Forbidden, Role
from ledger.member.governance import Mined

__all__ = [
    "ConsentNotFound",
    "ConsentRelay",
    "ConsentRelayError",
    "ConsentSignatureInvalid",
    "GrantState",
    "GrantView",
    "JudgedGrant",
    "Relayed",
    "grant_state",
]

#: Finds (or on the dev chain deploys) the two contracts, for the client's chain.
FindContracts = Callable[[], tuple[IdentityAttestationsContract, ConsentRegistryContract]]


class ConsentRelayError(LedgerError):
    """Root of the relay's own refusals (the contract's are :mod:`ledger.chain.errors`)."""


class ConsentSignatureInvalid(ConsentRelayError):
    """A relayed grant or revocation is not signed by the key the attestation binds (or is for
    another chain or registry): nothing was sent."""


class ConsentNotFound(ConsentRelayError):
    """No such grant, or none the caller may see (the same words either way)."""


class GrantState(StrEnum):
    """A recorded grant as services judge it at a time (the first that applies)."""

    INERT = "inert"  # its signature does not verify under the attestation's key: never in force
    REVOKED = "revoked"  # a revocation that verifies took effect
    EXPIRED = "expired"  # its window is over
    PENDING = "pending"  # its window has not begun
    ATTESTATION_NOT_VALID = "attestation-not-valid"  # revoked, superseded or expired
    IN_FORCE = "in-force"


@dataclass(frozen=True)
class Relayed:
    record_id: bytes  # the grant ID, or the revocation ID
    mined: Mined


@dataclass(frozen=True)
class GrantView:
    """A grant as recorded and as judged at ``at`` (the latest block's time)."""

    record: GrantRecord
    attestation: Attestation
    signature_verifies: bool
    revocations: list[RevocationRecord]
    revoked_by: RevocationRecord | None
    at: int
    state: GrantState


def _same_account(member_id: str, account: str) -> bool:
    return member_id.lower() == account.lower()


class ConsentRelay:
    """One member's relay of consents, sending with ``client``'s account; thread-safe."""

    def __init__(
        self,
        *,
        client: ChainClient,
        find_contracts: FindContracts,
        receipts_of: Callable[[bytes], list[StoredReceipt]] = lambda grant_id: [],
    ) -> None:
        """``receipts_of``: the access receipts this service recorded under a grant (its
        database's ``receipts_of_grant``)."""
        self.client = client
        self._find = find_contracts
        self._receipts_of = receipts_of
        self._finding = threading.Lock()
        self._sending = threading.Lock()
        self._contracts: tuple[IdentityAttestationsContract, ConsentRegistryContract] | None = None

    def contracts(self) -> tuple[IdentityAttestationsContract, ConsentRegistryContract]:
        with self._finding:
            if self._contracts is None:
                self._contracts = self._find()
            return self._contracts

    def domain(self) -> ConsentDomain:
        """What customers sign for: this chain and its ConsentRegistry."""
        return ConsentDomain(chain_id=self.client.chain_id, registry=self.contracts()[1].address)

    def chain_time(self) -> int:
        block = self.client.json_rpc("eth_getBlockByNumber", "latest", False)
        return int(block["timestamp"], 16)

    # -- relaying ----------------------------------------------------------------------------

    def relay_grant(self, caller: Caller, signed: SignedGrant) -> Relayed:
        """Check the grant's signature against the attestation's bound key, then record it."""
        attestations, registry = self.contracts()
        self._check_domain(signed.domain, "grant")
        attestation = attestations.attestation(signed.grant.attestation_id)
        self._check_signed(caller, attestation, signed, "grant")
        with self._sending:
            recorded = registry.record_grant(signed.grant, signed.signature)
        return Relayed(recorded.record_id, Mined.of(recorded.sent))

    def relay_revocation(
        self, caller: Caller, grant_id: bytes, signed: SignedRevocation
    ) -> Relayed:
        """Check the revocation is of ``grant_id`` and signed by the bound key, then record it
        (an unknown grant: :class:`ConsentNotFound`)."""
        attestations, registry = self.contracts()
        self._check_domain(signed.domain, "revocation")
        if signed.revocation.grant_id != grant_id:
            raise ConsentSignatureInvalid(
                f"the revocation is of grant 0x{signed.revocation.grant_id.hex()}, not of"
                f" 0x{grant_id.hex()}: nothing was sent"
            )
        record = self.recorded_grant(registry, grant_id)
        attestation = attestations.attestation(record.grant.attestation_id)
        self._check_signed(caller, attestation, signed, "revocation")
        with self._sending:
            recorded = registry.revoke(signed.revocation, signed.signature)
        return Relayed(recorded.record_id, Mined.of(recorded.sent))

    def _check_domain(self, domain: ConsentDomain, what: str) -> None:
        if domain != self.domain():
            raise ConsentSignatureInvalid(
                f"the {what} is signed for chain {domain.chain_id}, registry {domain.registry};"
                f" this service relays to chain {self.client.chain_id}, registry"
                f" {self.domain().registry}: nothing was sent"
            )

    @staticmethod
    def _check_signed(
        caller: Caller,
        attestation: Attestation,
        signed: SignedGrant | SignedRevocation,
        what: str,
    ) -> None:
        """A customer relays only under the attestation that binds its own key; the record is
        signed by that key."""
        shown = f"0x{attestation.attestation_id.hex()}"
        if Role.CUSTOMER in caller.roles and caller.public_key != attestation.customer_key:
            raise Forbidden(
                f"a customer relays a {what} only under an attestation of its own key;"
                f" attestation {shown} binds another key"
            )
        if not signs(attestation.customer_key, signed.digest, signed.signature):
            raise ConsentSignatureInvalid(
                f"the {what}'s signature does not verify under the key attestation {shown}"
                " binds: nothing was sent"
            )

    # -- reading ------------------------------------------------------------------------------

    def view(self, caller: Caller, grant_id: bytes) -> GrantView:
        """The grant as recorded and judged now, if ``caller`` may read it."""
        attestations, registry = self.contracts()
        record = self.recorded_grant(registry, grant_id)
        attestation = attestations.attestation(record.grant.attestation_id)
        if not self._may_read(caller, record, attestation):
            raise ConsentNotFound(f"no grant 0x{grant_id.hex()}")
        at = self.chain_time()  # first: every revocation up to ``at`` is in what is read next
        revocations = registry.revocations_of(grant_id)
        judged = JudgedGrant.of(record, attestation, revocations)
        return GrantView(
            record=record,
            attestation=attestation,
            signature_verifies=judged.signature_verifies,
            revocations=revocations,
            revoked_by=judged.revoked_by,
            at=at,
            state=judged.state_at(at),
        )

    def receipts(self, caller: Caller, grant_id: bytes) -> list[StoredReceipt]:
        """Every use this service recorded under the grant (oldest first), each with how far
        its anchoring got, if ``caller`` may read the grant (the same readers, the same 404)."""
        attestations, registry = self.contracts()
        record = self.recorded_grant(registry, grant_id)
        attestation = attestations.attestation(record.grant.attestation_id)
        if not self._may_read(caller, record, attestation):
            raise ConsentNotFound(f"no grant 0x{grant_id.hex()}")
        return self._receipts_of(grant_id)

    def views_under(self, caller: Caller, attestation_id: bytes) -> list[GrantView]:
        """Every grant under the attestation that ``caller`` may read, oldest first (none for a
        caller that may read none, or an attestation with none)."""
        registry = self.contracts()[1]
        views = []
        for grant_id in registry.grants_of_attestation(attestation_id):
            try:
                views.append(self.view(caller, grant_id))
            except ConsentNotFound:
                continue
        return views

    @staticmethod
    def _may_read(caller: Caller, record: GrantRecord, attestation: Attestation) -> bool:
        if READER_ROLES & caller.roles:
            return True
        if Role.CUSTOMER in caller.roles:
            return caller.public_key == attestation.customer_key
        return _same_account(caller.member_id, record.grant.grantee) or _same_account(
            caller.member_id, attestation.attester
        )

    @staticmethod
    def recorded_grant(registry: ConsentRegistryContract, grant_id: bytes) -> GrantRecord:
        """The grant as recorded (read now); :class:`ConsentNotFound` if there is none."""
        try:
            return registry.grant(grant_id)
        except StateConflict as exc:
            if exc.error == "ConsentRegistry__UnknownGrant":
                raise ConsentNotFound(f"no grant 0x{grant_id.hex()}") from None
            raise


@dataclass(frozen=True)
class JudgedGrant:
    """A grant with its signatures checked once (SM2: the costly part), to be judged at any
    time by :meth:`state_at`."""

    record: GrantRecord
    attestation: Attestation
    signature_verifies: bool
    revoked_by: RevocationRecord | None  # the effective revocation

    @classmethod
    def of(
        cls, record: GrantRecord, attestation: Attestation, revocations: list[RevocationRecord]
    ) -> JudgedGrant:
        key = attestation.customer_key
        return cls(
            record, attestation, record.signed_by(key), effective_revocation(revocations, key)
        )

    def state_at(self, at: int) -> GrantState:
        """In force by the rule every service applies (:meth:`GrantRecord.in_force_at`: signed
        by the attestation's key, in its window, before its effective revocation; and the
        attestation valid at ``at``); else the first reason it is not."""
        if not self.signature_verifies:
            return GrantState.INERT
        if self.revoked_by is not None and at >= self.revoked_by.at:
            return GrantState.REVOKED
        if at >= self.record.grant.not_after:
            return GrantState.EXPIRED
        if not self.attestation.valid_at(at):
            return GrantState.ATTESTATION_NOT_VALID
        if at < self.record.starts_at:
            return GrantState.PENDING
        return GrantState.IN_FORCE


def grant_state(
    record: GrantRecord,
    attestation: Attestation,
    revocations: list[RevocationRecord],
    at: int,
) -> GrantState:
    """The grant's state at ``at`` (:meth:`JudgedGrant.state_at`)."""
    return JudgedGrant.of(record, attestation, revocations).state_at(at)
