"""The read side of the evidence service: stored versions, agreements and their state, proof
files of anchored versions, and the erasure of documents (crypto-shredding)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ledger.agreement import (
    Agreement,
    AgreementVersion,
    VersionStatus,
    check_agreement_id,
    check_version,
)
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import Database
from ledger.service._rows import database_errors, proof_file
from ledger.service.errors import NotAnchoredYet
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
        now: Callable[[], datetime],
    ) -> None:
        self._db = database
        self._store = store
        self._issuer = issuer_key
        self._distid = distid
        self._now = now

    @property
    def issuer_fingerprint(self) -> bytes:
        return self._issuer.public_key().fingerprint()

    def get_version(self, agreement_id: str, version: int) -> AgreementVersion:
        with database_errors():
            return self._db.get_version(check_agreement_id(agreement_id), check_version(version))

    def versions(self, agreement_id: str) -> list[AgreementVersion]:
        with database_errors():
            return self._db.versions(check_agreement_id(agreement_id))

    def agreement(self, agreement_id: str) -> Agreement:
        """Every version of the agreement and the state they put it in."""
        return Agreement(tuple(self.versions(agreement_id)))

    def proof(self, agreement_id: str, version: int, *, include_car: bool = True) -> bytes:
        """The ``ledger-proof/1`` file of an anchored version (sealed by this service)."""
        record = self.get_version(agreement_id, version)
        if record.status is not VersionStatus.ANCHORED:
            raise NotAnchoredYet(f"{agreement_id} v{version} is {record.status}, not anchored yet")
        with database_errors():
            inclusion = self._db.inclusion(agreement_id, version)
        car = car_bytes(self._store, record.document_cid) if include_car else None
        return proof_file(record, inclusion, car=car, issuer_key=self._issuer, distid=self._distid)

    def erase_document(self, agreement_id: str) -> int:
        """Crypto-shred every version's document: the wrapped keys go, proofs stay valid."""
        with database_errors():
            return self._db.erase_document_keys(
                check_agreement_id(agreement_id), erased_at=self._now()
            )

    def _latest(self, agreement_id: str) -> AgreementVersion:
        with database_errors():
            return self._db.latest_version(check_agreement_id(agreement_id))
