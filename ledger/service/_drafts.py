"""Drafts, step by step: version 1 of a new agreement, a superseding version or a void,
stored as a draft (its document encrypted and stored first) for the parties to sign one by one
(:meth:`EvidenceService.add_signature <ledger.service.EvidenceService.add_signature>`)."""

from __future__ import annotations

from collections.abc import Sequence

from ledger.agreement import (
    REQUIRED_ROLES,
    AgreementVersion,
    Document,
    LatestVersion,
    SigningDomain,
    VersionKind,
    check_agreement_id,
    check_document,
    check_required_roles,
    new_agreement_id,
    next_version,
    void_notice,
)
from ledger.crypto.sm2 import SM2PublicKey
from ledger.service._acceptance import Acceptance
from ledger.service._records import VersionRecords
from ledger.service._rows import database_errors
from ledger.service.errors import AgreementConflict


class Drafts(VersionRecords):
    """The draft path of :class:`~ledger.service.EvidenceService` (its base class)."""

    _acceptance: Acceptance
    domain: SigningDomain

    def create_draft(
        self,
        document: Document,
        *,
        readers: Sequence[SM2PublicKey],
        required_roles: Sequence[str] = REQUIRED_ROLES,
        agreement_id: str | None = None,
        owner: str | None = None,
    ) -> AgreementVersion:
        """Store version 1 of a new agreement as a draft (document encrypted and stored), the
        agreement ``owner``'s."""
        if agreement_id is None:
            agreement_id, latest = new_agreement_id(), None
        else:
            agreement_id = check_agreement_id(agreement_id)
            with database_errors():
                latest = self._db.latest_versions([agreement_id]).get(agreement_id)
        return self._draft(
            agreement_id, 1, VersionKind.AGREEMENT, document, readers, required_roles, latest, owner
        )

    def supersede(
        self,
        agreement_id: str,
        document: Document,
        *,
        readers: Sequence[SM2PublicKey],
        required_roles: Sequence[str] | None = None,
    ) -> AgreementVersion:
        """A new draft version replacing the latest one (which stays, as every version does)."""
        latest = self._latest(agreement_id)
        roles = required_roles if required_roles is not None else latest.required_roles
        return self._draft(
            agreement_id,
            next_version(latest),
            VersionKind.AGREEMENT,
            document,
            readers,
            roles,
            latest,
            latest.owner,
        )

    def void(
        self, agreement_id: str, *, reason: str, readers: Sequence[SM2PublicKey]
    ) -> AgreementVersion:
        """A new draft version of kind void; once the parties sign it the agreement is void."""
        latest = self._latest(agreement_id)
        document = void_notice(agreement_id, voids_version=latest.version, reason=reason)
        return self._draft(
            agreement_id,
            next_version(latest),
            VersionKind.VOID,
            document,
            readers,
            latest.required_roles,
            latest,
            latest.owner,
        )

    def _draft(
        self,
        agreement_id: str,
        version: int,
        kind: VersionKind,
        document: Document,
        readers: Sequence[SM2PublicKey],
        required_roles: Sequence[str],
        latest: LatestVersion | None,
        owner: str | None,
    ) -> AgreementVersion:
        roles = check_required_roles(required_roles)
        check_document(document)
        self._acceptance.check_next(agreement_id, version, kind, latest, owner)
        sealed = self._acceptance.seal(agreement_id, document, readers)
        self._store.sync()  # the document is durable before the draft that refers to it
        try:
            with database_errors():
                return self._db.create_draft(
                    agreement_id,
                    version,
                    kind=kind,
                    document_sm3=document.sm3,
                    document_cid=sealed.cid,
                    media_type=document.media_type,
                    size=len(document.content),
                    required_roles=roles,
                    chain_id=self.domain.chain_id,
                    contract=self.domain.contract,
                    created_at=self._now(),
                    wrapped_keys=sealed.wrapped_keys,
                    owner=owner,
                )
        except AgreementConflict:  # a concurrent writer took the version after our check
            self._acceptance.discard([sealed.cid])
            raise
