"""What every new version goes through before it is stored, step by step or at once: the
checks that need no database (form, next version against the latest one read, one signature
per role, signing times, the signatures themselves), then the encrypted document stored; and
the removal of that document should the database refuse the version at commit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from ledger.agreement import (
    AgreementError,
    AgreementVersion,
    Document,
    LatestVersion,
    SigningDomain,
    SigningPayload,
    SigningTimeOutOfWindow,
    SigningWindow,
    VersionKind,
    VersionStatus,
    check_agreement_id,
    check_document,
    check_required_roles,
    check_version,
    owner_refusal,
    signature_set_refusal,
    signer_keys_refusal,
    signer_refusal,
    version_refusal,
)
from ledger.canonical import whole_seconds
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey
from ledger.db import Conflict
from ledger.db.records import NewVersion
from ledger.document import DocumentError, KeyWrapper, SealedDocument, seal_and_store
from ledger.errors import LedgerError
from ledger.service._rows import Submission, Written, accepted_row
from ledger.service.errors import AgreementConflict, SignatureRejected, SigningTimeRejected
from ledger.signature import Signature
from ledger.store import StoreBackend, StoreError

_log = logging.getLogger(__name__)

#: What a submission may be refused with (in its result slot, having stored nothing).
_REFUSALS = (AgreementError, DocumentError, SignatureRejected, AgreementConflict)


class Acceptance:
    """The service's checks and document storage (one per :class:`EvidenceService
    <ledger.service.EvidenceService>`)."""

    def __init__(
        self,
        *,
        store: StoreBackend,
        domain: SigningDomain,
        key_wrapper: KeyWrapper,
        signing_window: SigningWindow,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store
        self.domain = domain
        self._keys = key_wrapper
        self._window = signing_window
        self._now = now

    @staticmethod
    def check_next(
        agreement_id: str,
        version: int,
        kind: VersionKind,
        latest: LatestVersion | None,
        owner: str | None,
    ) -> None:
        """``version`` may follow ``latest`` and be ``owner``'s (the owner's ID is asked first,
        so another member learns only that the ID is taken)."""
        refusal = owner_refusal(agreement_id, latest, owner) or version_refusal(
            agreement_id, version, kind, latest
        )
        if refusal is not None:
            raise AgreementConflict(refusal)

    def accept_many(
        self,
        submissions: Sequence[Submission],
        latest: dict[str, LatestVersion],
        commit_many: Callable[[Sequence[NewVersion]], list[AgreementVersion | Conflict]],
    ) -> list[AgreementVersion | LedgerError]:
        """Prepare each submission (``latest``: the latest stored version of each agreement,
        updated as they are queued), commit the prepared ones together with ``commit_many``, and
        remove the documents of those the database refused; one result per submission."""
        results: list[AgreementVersion | LedgerError | None] = []
        rows: list[NewVersion] = []
        try:
            for submission in submissions:
                try:
                    row = self.prepare(submission, latest.get(submission.agreement_id))
                except _REFUSALS as error:
                    results.append(error)
                    continue
                latest[row.agreement_id] = Written(
                    row.version, row.kind, VersionStatus.ACCEPTED, row.owner
                )
                rows.append(row)
                results.append(None)
        except BaseException:
            self.discard(row.document_cid for row in rows)  # the store failed: none goes on
            raise
        outcomes = iter(commit_many(rows))
        queued = iter(rows)
        final: list[AgreementVersion | LedgerError] = []
        refused: list[str] = []
        for slot in results:
            if slot is not None:
                final.append(slot)
                continue
            row, outcome = next(queued), next(outcomes)
            if isinstance(outcome, Conflict):  # a concurrent writer was first: found at commit
                refused.append(row.document_cid)
                final.append(AgreementConflict(str(outcome)))
            else:
                final.append(outcome)
        self.discard(refused)
        return final

    def prepare(self, submission: Submission, latest: LatestVersion | None) -> NewVersion:
        """Check, verify, then encrypt and store one submission; the row the committer writes."""
        agreement_id = check_agreement_id(submission.agreement_id)
        version = check_version(submission.version)
        kind = VersionKind(submission.kind)
        document = check_document(submission.document)
        signatures = submission.signatures
        roles = check_required_roles(submission.required_roles)
        # 1. it may follow the stored versions (a replay is refused here), each role signs once
        self.check_next(agreement_id, version, kind, latest, submission.owner)
        refusal = signature_set_refusal(agreement_id, version, roles, [s.role for s in signatures])
        if refusal is not None:
            raise AgreementConflict(refusal)
        # 2. every signature is timely and verifies over this version's payload
        self.verify(agreement_id, version, document.sm3, roles, signatures)
        # 3. only now the document, encrypted under a fresh key, is stored (503 if the store is
        # down)
        readers = (
            list(submission.readers)
            if submission.readers is not None
            else [s.public_key for s in signatures]
        )
        sealed = self.seal(agreement_id, document, readers)
        # 4. the leaf the batch will anchor, from the very fields that are stored
        return accepted_row(
            agreement_id=agreement_id,
            version=version,
            kind=kind,
            document=document,
            document_cid=sealed.cid,
            required_roles=roles,
            domain=self.domain,
            accepted_at=whole_seconds(self._now()),
            signatures=signatures,
            wrapped_keys=sealed.wrapped_keys,
            owner=submission.owner,
        )

    def seal(
        self, agreement_id: str, document: Document, readers: Sequence[SM2PublicKey]
    ) -> SealedDocument:
        return seal_and_store(
            document,
            agreement_id=agreement_id,
            readers=readers,
            store=self._store,
            key_wrapper=self._keys,
        )

    def discard(self, cids: Iterable[str]) -> None:
        """Remove the documents of versions the database refused. Each was just encrypted under
        a fresh random key and nonce, so its ciphertext, hence its CID and every block of it,
        is no other version's (equal blocks would need equal keys and nonces): removing it
        cannot take anything from a stored version. A store that fails here leaves garbage,
        logged, not an error: the refusal stands."""
        for cid in cids:
            try:
                self._store.remove(cid)
            except StoreError as exc:
                _log.warning("could not remove the document %s of a refused version: %s", cid, exc)

    def verify(
        self,
        agreement_id: str,
        version: int,
        document_sm3: bytes,
        required_roles: Sequence[str],
        signatures: Sequence[Signature],
        *,
        signed: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Refuse a signature by a role that is not required or has signed already (``signed``:
        the (role, raw public key) of the version's recorded signatures), by a key that signs
        for another role too, made outside the signing window, or not over this version's
        payload (agreement, version, document digest, role, time, chain, contract)."""
        # the cheap checks of every signature first, then the SM2 verifications
        now = self._now()
        signed_roles = [role for role, _ in signed]
        refusal = signer_keys_refusal(
            agreement_id,
            version,
            [*signed, *((s.role, s.public_key.to_raw()) for s in signatures)],
        )
        if refusal is not None:
            raise SignatureRejected(refusal)
        for signature in signatures:
            refusal = signer_refusal(
                agreement_id, version, required_roles, signature.role, signed_roles
            )
            if refusal is not None:
                raise AgreementConflict(refusal)
            try:
                self._window.check(signature.signed_at, now=now)
            except SigningTimeOutOfWindow as exc:
                raise SigningTimeRejected(
                    f"signature of {signature.role!r} over {agreement_id} v{version}: {exc}"
                ) from exc
        for signature in signatures:
            payload = SigningPayload(
                agreement_id=agreement_id,
                agreement_version=version,
                document_sm3=document_sm3,
                role=signature.role,
                signed_at=signature.signed_at,
                domain=self.domain,
            )
            try:
                signature.verify(payload)
            except CryptoError as exc:
                raise SignatureRejected(
                    f"signature of {signature.role!r} does not verify over"
                    f" {agreement_id} v{version} on chain {self.domain.chain_id}"
                    f" / {self.domain.contract}: {exc}"
                ) from exc
