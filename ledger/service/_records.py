"""The read side of the evidence service: stored versions, agreements and their state, proof
files of anchored versions, and the erasure of documents (crypto-shredding), each asked of the
access policy first for the caller (``None``: the service's own process)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ledger.agreement import (
    Agreement,
    AgreementVersion,
    ErasureMethod,
    ErasureRecord,
    SignedErasure,
    VersionStatus,
    check_agreement_id,
    check_version,
)
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import Database
from ledger.httpsig import Caller
from ledger.member import Action
from ledger.proof import ProofInvalid, ProofKeys
from ledger.service._authorize import Authorization
from ledger.service._proof_keys import RegistryKeys
from ledger.service._rows import database_errors, proof_file
from ledger.service.errors import NotAnchoredYet, ProofRefused
from ledger.store import StoreBackend
from ledger.store.car import car_bytes


class VersionRecords:
    """What :class:`~ledger.service.EvidenceService` reads back (its base class)."""

    def __init__(
        self,
        *,
        database: Database,
        store: StoreBackend,
        issuer_key: SM2PrivateKey,
        distid: bytes,
        authorization: Authorization,
        now: Callable[[], datetime],
        proof_keys: RegistryKeys | None = None,
    ) -> None:
        self._authorize = authorization
        self._proof_keys = proof_keys
        self._db = database
        self._store = store
        self._issuer = issuer_key
        self._distid = distid
        self._now = now

    @property
    def issuer_fingerprint(self) -> bytes:
        return self._issuer.public_key().fingerprint()

    def get_version(
        self, agreement_id: str, version: int, *, caller: Caller | None = None
    ) -> AgreementVersion:
        with database_errors():
            record = self._db.get_version(check_agreement_id(agreement_id), check_version(version))
        self._authorize.agreement(
            caller,
            Action.READ,
            agreement_id,
            [record],
            not_found=f"no version {version} of {agreement_id}",
        )
        return record

    def versions(self, agreement_id: str) -> list[AgreementVersion]:
        with database_errors():
            return self._db.versions(check_agreement_id(agreement_id))

    def agreement(self, agreement_id: str, *, caller: Caller | None = None) -> Agreement:
        """Every version of the agreement, the state they put it in, and its erasures."""
        agreement = self._stored(agreement_id)
        self._authorize.agreement(caller, Action.READ, agreement_id, agreement.versions)
        return agreement

    def _stored(self, agreement_id: str) -> Agreement:
        with database_errors():
            versions = self._db.versions(check_agreement_id(agreement_id))
            return Agreement(tuple(versions), erasures=tuple(self._db.erasures(agreement_id)))

    def proof(
        self,
        agreement_id: str,
        version: int,
        *,
        include_car: bool = True,
        caller: Caller | None = None,
    ) -> bytes:
        """The proof file of an anchored version, sealed by this service now: ``ledger-proof/2``
        with the registry entries of its keys (:mod:`ledger.service._proof_keys`), or
        ``ledger-proof/1`` where the service's sealing key is not registered.
        :class:`ProofRefused` if a key the registry holds was not valid when it signed."""
        record = self.get_version(agreement_id, version, caller=caller)
        if record.status is not VersionStatus.ANCHORED:
            raise NotAnchoredYet(f"{agreement_id} v{version} is {record.status}, not anchored yet")
        with database_errors():
            inclusion = self._db.inclusion(agreement_id, version)
        car = car_bytes(self._store, record.document_cid) if include_car else None
        sealer, keys = self._issuer, None
        if self._proof_keys is not None:
            sealing = self._proof_keys.for_proof(record, sealed_at=self._now())
            if sealing is not None:
                sealer, keys = sealing
        try:
            return proof_file(
                record, inclusion, car=car, keys=keys, issuer_key=sealer, distid=self._distid
            )
        except ProofInvalid as exc:  # the stored version is checked when it is accepted: keys
            raise ProofRefused(f"{agreement_id} v{version}: {exc}") from exc

    def sealing(self, sealed_at: datetime) -> tuple[SM2PrivateKey, ProofKeys | None, bytes]:
        """What seals a proof this service issues at ``sealed_at`` (a proof of consent): the
        key, its registry entry (None where the service's sealing key is not registered: it is
        then the issuer key) and the distinguishing ID."""
        sealing = None
        if self._proof_keys is not None:
            sealing = self._proof_keys.for_seal(sealed_at=sealed_at)
        key, keys = sealing if sealing is not None else (self._issuer, None)
        return key, keys, self._distid

    def erase_document(
        self,
        agreement_id: str,
        *,
        caller: Caller | None = None,
        request: SignedErasure | None = None,
    ) -> ErasureRecord:
        """Crypto-shred every version's document: the wrapped keys go, proofs stay valid, and
        the erasure is recorded (who, when, how). Asked by the owning broker, or with a
        ``request`` signed by the agreement's customer (relayed by any caller)."""
        if request is not None:  # judged before the agreement is read: it tells nothing of it
            self._authorize.erasure_request(request)
        agreement = self._stored(agreement_id)
        if request is not None:
            self._authorize.customer_erasure(caller, request, agreement)
            method, customer_key, nonce = (
                ErasureMethod.CUSTOMER,
                request.public_key.to_raw(),
                request.request.nonce,
            )
        else:
            self._authorize.agreement(caller, Action.ERASE, agreement_id, agreement.versions)
            method, customer_key, nonce = ErasureMethod.BROKER, None, None
        with database_errors():
            return self._db.erase_document_keys(
                ErasureRecord(
                    agreement_id=agreement_id,
                    erased_at=self._now(),
                    method=method,
                    caller_member_id="(service)" if caller is None else caller.member_id,
                    caller_keyid="(service)" if caller is None else caller.keyid,
                    customer_key=customer_key,
                    nonce=nonce,
                )
            )

    def _latest(self, agreement_id: str) -> AgreementVersion:
        with database_errors():
            return self._db.latest_version(check_agreement_id(agreement_id))
