"""Identity attestations made by this member's service: what ``/v1/attestations`` runs.

The member that runs the service (its brokers: the caller's member ID is the service's chain
account, and it holds the broker role) attests a customer it verified (KYC): the customer's
fields, the customer's SM2 public key (made on the customer's side), the level, the method and
the expiry, and the identity document the subject commitment is made from. In this order:

1. every field becomes a Disclosure (:func:`ledger.attestation.kyc.prepare`); the subject is a
   freshly salted commitment (:func:`~ledger.attestation.kyc.subject_commitment`; the salt is
   not kept: the commitment links to nothing without the customer);
2. the disclosures document is encrypted with a fresh SM4 key (SM4-GCM, bound to the
   attestation ID, computed offline) and put in the content store, synced;
3. the SM4 key, wrapped to the service's key (:mod:`ledger._keywrap`), is stored with the
   ciphertext's CID as a ``pending`` row: the only copy of the key, so deleting the row
   crypto-shreds the fields;
4. the attestation is sent; once mined the row is ``attested`` and the call returns. If the
   chain refuses it (simulation or a revert) the row is deleted and the ciphertext removed:
   nothing is left that the chain does not know. If the outcome is unknown (node down, not
   mined in time) the row stays ``pending``; reading it later finds it on chain and marks it.

Superseding (a re-verification: new fields, expiry) attests anew under the same subject and key
and ends the old one on chain, the same way; revoking sends the revocation with a reason. Reads
(:meth:`AttestationDesk.view`) are for the attester member, the customer whose key it binds,
auditors and the regulator; anyone else gets what a missing attestation gets
(:class:`AttestationNotFound`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address

from ledger import _keywrap
from ledger.attestation.kyc import (
    PreparedAttestation,
    disclosures_document,
    prepare,
    read_disclosures_document,
    subject_commitment,
)
from ledger.chain._binding import name_id
from ledger.chain.attestations import (
    Attestation,
    Attested,
    IdentityAttestationsContract,
    attestation_id_of,
)
from ledger.chain.errors import ContractRefused, StateConflict, TransactionFailed
from ledger.crypto import sm4
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.db import Database
from ledger.db.attestations import AttestationRow
from ledger.db.errors import NotFound
from ledger.errors import LedgerError
from ledger.httpsig import Caller
from ledger.member.access import READER_ROLES, Forbidden, Role, check_operator
from ledger.member.consents import ConsentRelay
from ledger.member.governance import Mined
from ledger.store import StoreBackend

__all__ = [
    "AttestationDesk",
    "AttestationDeskError",
    "AttestationNotFound",
    "AttestationView",
    "Made",
    "NewAttestation",
    "Reverification",
]

_log = logging.getLogger(__name__)
#: Additional data of the disclosures document's SM4-GCM encryption (then the attestation ID).
_DOCUMENT_AAD = b"ledger/kyc-disclosures/1\x00"
#: What a wrapped document key is bound to (then the attestation ID and the CID).
_KEY_BINDING = b"ledger/attestation-key/1\x00"


class AttestationDeskError(LedgerError):
    """Root of the attestation desk's own refusals (the contract's: :mod:`ledger.chain.errors`;
    malformed fields: :class:`~ledger.attestation.disclosure.DisclosureError`)."""


class AttestationNotFound(AttestationDeskError):
    """No such attestation, none of this service's, or none the caller may see (same words)."""


@dataclass(frozen=True)
class Reverification:
    """What a (re-)verification states: the fields (name -> value), level and method names,
    when it was verified (None: the chain's time now) and until when (UNIX seconds)."""

    fields: Mapping[str, object]
    level: str
    method: str
    expires_at: int
    verified_at: int | None = None


@dataclass(frozen=True)
class NewAttestation:
    """A first verification of a customer: its key and the identity document, and what it
    states."""

    customer_key: SM2PublicKey
    id_type: str
    id_number: str
    verification: Reverification


@dataclass(frozen=True)
class Made:
    """An attestation mined, with where its encrypted fields are stored."""

    attestation_id: bytes
    content_cid: str
    field_names: tuple[str, ...]
    mined: Mined


@dataclass(frozen=True)
class AttestationView:
    """An attestation as the chain holds it now, and whether this service keeps its fields."""

    attestation: Attestation
    at: int
    stored: bool


class AttestationDesk:
    """This member's attestations: made with the service's chain account (the relay's client),
    fields kept encrypted in ``store``, keys wrapped to ``service_key``; thread-safe."""

    def __init__(
        self,
        *,
        relay: ConsentRelay,
        database: Database,
        store: StoreBackend,
        service_key: SM2PrivateKey,
        key_wrapper: _keywrap.KeyWrapper | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``relay`` finds the consent contracts once (:meth:`ConsentRelay.contracts`) and
        reads the chain's time; its client's account is the attester."""
        self._relay = relay
        self._db = database
        self._store = store
        self._key = service_key
        self._wrapper = key_wrapper if key_wrapper is not None else _keywrap.KeyWrapper()
        self._now = now

    @property
    def account(self) -> str:
        """The attester: the service's chain account."""
        return to_checksum_address(self._relay.client.address)

    def contract(self) -> IdentityAttestationsContract:
        return self._relay.contracts()[0]

    # -- writing -----------------------------------------------------------------------------

    def attest(self, caller: Caller, new: NewAttestation) -> Made:
        """Attest a customer this member verified (see the module's docstring)."""
        self._check_attester(caller)
        prepared = prepare(new.verification.fields)
        subject = subject_commitment(
            id_type=new.id_type, id_number=new.id_number, salt=os.urandom(32)
        )
        return self._make(prepared, subject, new.customer_key, new.verification, supersedes=None)

    def supersede(self, caller: Caller, old_id: bytes, verification: Reverification) -> Made:
        """Re-verify the customer of ``old_id`` (this member's): a new attestation under the
        same subject and key; the old one ends on chain when it is mined."""
        self._check_attester(caller)
        old = self._own(old_id)
        prepared = prepare(verification.fields)
        return self._make(prepared, old.subject, old.customer_key, verification, supersedes=old_id)

    def revoke(self, caller: Caller, attestation_id: bytes, reason: str) -> Mined:
        """Revoke this member's attestation from the block it lands in; ``reason`` a name."""
        self._check_attester(caller)
        self._own(attestation_id)
        if not reason:
            raise AttestationDeskError("a revocation names its reason")
        return Mined.of(self.contract().revoke(attestation_id, name_id(reason)))

    def _make(
        self,
        prepared: PreparedAttestation,
        subject: bytes,
        customer_key: SM2PublicKey,
        verification: Reverification,
        *,
        supersedes: bytes | None,
    ) -> Made:
        contract = self.contract()
        verified_at = verification.verified_at
        if verified_at is None:
            verified_at = self._relay.chain_time()
        nonce = os.urandom(32)
        attestation_id = attestation_id_of(
            chain_id=self._relay.client.chain_id,
            contract=contract.address,
            attester=self.account,
            subject=subject,
            nonce=nonce,
        )
        document_key = sm4.generate_key()
        ciphertext = sm4.encrypt(
            document_key, disclosures_document(prepared), aad=_DOCUMENT_AAD + attestation_id
        )
        cid = self._store.put(ciphertext)
        self._store.sync()
        self._db.add_attestation(
            AttestationRow(
                attestation_id=attestation_id,
                attester=self.account,
                state="pending",
                content_cid=cid,
                wrapped_key=self._wrapper.wrap(
                    document_key,
                    reader=self._key.public_key(),
                    binding=_binding(attestation_id, cid),
                ),
                created_at=self._now(),
                supersedes=supersedes,
            )
        )
        statement = prepared.attestation_input(
            subject=subject,
            customer_key=customer_key,
            level=verification.level,
            method=verification.method,
            verified_at=verified_at,
            expires_at=verification.expires_at,
            content_ref=cid.encode("ascii"),
            nonce=nonce,
        )
        try:
            attested: Attested = (
                contract.attest(statement)
                if supersedes is None
                else contract.supersede(supersedes, statement)
            )
        except (ContractRefused, TransactionFailed):
            self._forget(attestation_id, cid)
            raise
        if attested.attestation_id != attestation_id:  # the contract's ID rule changed?
            raise AttestationDeskError(
                f"the chain attested 0x{attested.attestation_id.hex()}, not the expected"
                f" 0x{attestation_id.hex()}"
            )
        self._db.mark_attested(attestation_id)
        return Made(
            attestation_id=attestation_id,
            content_cid=cid,
            field_names=tuple(d.name for d in prepared.disclosures),
            mined=Mined.of(attested.sent),
        )

    def _forget(self, attestation_id: bytes, cid: str) -> None:
        """The chain refused: delete the row (and with it the key) and the ciphertext."""
        self._db.delete_attestation(attestation_id)
        try:
            self._store.remove(cid)
        except LedgerError as exc:  # unreadable without its key anyway
            _log.warning("could not remove the refused attestation's ciphertext %s: %s", cid, exc)

    def _check_attester(self, caller: Caller) -> None:
        if Role.BROKER not in caller.roles:
            roles = ", ".join(sorted(caller.roles)) or "none"
            raise Forbidden(
                f"attesting customers needs the broker role; {caller.member_id!r} (roles:"
                f" {roles}) does not have it"
            )
        check_operator(caller, operator=self.account)

    def _own(self, attestation_id: bytes) -> Attestation:
        """This member's attestation (kept by this service), as the chain holds it now."""
        attestation = self._on_chain(attestation_id)
        if attestation.attester != self.account:
            raise AttestationNotFound(f"no attestation 0x{attestation_id.hex()}")
        return attestation

    def _on_chain(self, attestation_id: bytes) -> Attestation:
        try:
            return self.contract().attestation(attestation_id)
        except StateConflict as exc:
            if exc.error == "IdentityAttestations__UnknownAttestation":
                raise AttestationNotFound(f"no attestation 0x{attestation_id.hex()}") from None
            raise

    # -- reading -----------------------------------------------------------------------------

    def view(self, caller: Caller, attestation_id: bytes) -> AttestationView:
        """The attestation as the chain holds it now, if ``caller`` may read it."""
        attestation = self._on_chain(attestation_id)
        if not _may_read(caller, attestation):
            raise AttestationNotFound(f"no attestation 0x{attestation_id.hex()}")
        stored = self._stored_row(attestation_id)
        if stored is not None and stored.state == "pending":
            self._db.mark_attested(attestation_id)  # its outcome was unknown when it was sent
        return AttestationView(
            attestation=attestation, at=self._relay.chain_time(), stored=stored is not None
        )

    def _stored_row(self, attestation_id: bytes) -> AttestationRow | None:
        try:
            return self._db.attestation_row(attestation_id)
        except NotFound:
            return None

    def disclosures(self, attestation: Attestation) -> PreparedAttestation:
        """The stored Disclosures of this service's ``attestation`` (as read from the chain),
        decrypted; :class:`AttestationNotFound` if this service keeps none (erased, or
        another member's); each checked against the attestation's digests."""
        attestation_id = attestation.attestation_id
        row = self._stored_row(attestation_id)
        if row is None or row.content_cid.encode("ascii") != attestation.content_ref:
            raise AttestationNotFound(
                f"this service keeps no disclosures of attestation 0x{attestation_id.hex()}"
            )
        document_key = _keywrap.unwrap(
            row.wrapped_key, reader=self._key, binding=_binding(attestation_id, row.content_cid)
        )
        ciphertext = self._store.get(row.content_cid)
        prepared = read_disclosures_document(
            sm4.decrypt(document_key, ciphertext, aad=_DOCUMENT_AAD + attestation_id)
        )
        for disclosure in prepared.disclosures:
            if not disclosure.matches(attestation.field_digest(name_id(disclosure.name)) or b""):
                raise AttestationDeskError(
                    f"the stored disclosure of {disclosure.name!r} is not the one attestation"
                    f" 0x{attestation_id.hex()} commits to"
                )
        return prepared


def _binding(attestation_id: bytes, cid: str) -> bytes:
    return _KEY_BINDING + attestation_id + cid.encode("ascii")


def _may_read(caller: Caller, attestation: Attestation) -> bool:
    if READER_ROLES & caller.roles:
        return True
    if Role.CUSTOMER in caller.roles:
        return caller.public_key == attestation.customer_key
    return caller.member_id.lower() == attestation.attester.lower()
