"""The evidence service: agreement versions from draft to anchored proof."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ledger import canonical
from ledger.agreement import (
    REQUIRED_ROLES,
    AgreementError,
    Document,
    LeafEntry,
    SigningDomain,
    SigningPayload,
    check_agreement_id,
    check_role,
    check_version,
    new_agreement_id,
)
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.db import AgreementVersion, Conflict, Database, NotFound, VersionKind, VersionStatus
from ledger.db.errors import DatabaseError
from ledger.db.records import NewSignature, NewVersion, SignatureRecord
from ledger.document import DocumentError, KeyWrapper, seal_and_store
from ledger.errors import LedgerError
from ledger.proof import BatchAnchor, BatchInclusion, build_batch_proof
from ledger.service._committer import GroupCommitter
from ledger.service.errors import (
    AgreementConflict,
    AgreementNotFound,
    NotAnchoredYet,
    ServiceUnavailable,
    SignatureRejected,
)
from ledger.signature import Signature, in_role_order, signature_set_digest
from ledger.store import StoreBackend
from ledger.store.car import car_bytes

#: Media type of the document of a void version (the service writes it, the parties sign it).
VOID_MEDIA_TYPE = "application/vnd.ledger.void+json"
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def void_notice(agreement_id: str, *, voids_version: int, reason: str) -> Document:
    """The document of a void version: which version it voids and why (canonical JSON)."""
    if not reason.strip() or len(reason) > 2000:
        raise AgreementError("a void needs a reason of 1-2000 characters")
    content = canonical.dumps(
        {
            "type": "ledger/void-notice",
            "agreement_id": check_agreement_id(agreement_id),
            "voids_version": voids_version,
            "reason": reason,
        }
    )
    return Document(content, media_type=VOID_MEDIA_TYPE)


@dataclass(frozen=True)
class Submission:
    """One fully signed version for :meth:`EvidenceService.submit_many` (same fields as
    :meth:`EvidenceService.submit` takes)."""

    document: Document
    signatures: tuple[Signature, ...]
    agreement_id: str
    version: int = 1
    kind: VersionKind = VersionKind.AGREEMENT
    readers: tuple[SM2PublicKey, ...] | None = None
    required_roles: tuple[str, ...] = REQUIRED_ROLES


def _whole_seconds(moment: datetime) -> datetime:
    # Times in payloads and leaf entries have second precision (RFC 3339 ...Z).
    return moment.astimezone(UTC).replace(microsecond=0)


def _signature_of(record: SignatureRecord) -> Signature:
    return Signature(
        role=record.role,
        signed_at=record.signed_at,
        public_key=SM2PublicKey.from_raw(record.public_key),
        value=record.signature,
        distid=record.distid,
    )


class EvidenceService:
    """Drafts, signatures, acceptance (acknowledged = durably in the outbox), proofs.

    Two ways in, same rules:

    * step by step: :meth:`create_draft` / :meth:`supersede` / :meth:`void` store a draft
      version, each party's :meth:`add_signature` is verified and recorded, and the last required
      signature accepts the version;
    * at once: :meth:`submit` takes a document with every required signature (the parties signed
      the payload of the version they were given) and accepts it in one group-committed
      transaction. This is the high-volume path.

    A signature is verified against the domain-separated payload (agreement ID, version,
    document SM3, role, time, chain ID, contract) before anything is stored; a bad one is refused
    with :class:`SignatureRejected` and nothing is written. Acceptance writes the version's Merkle
    leaf into the outbox in the same transaction; the anchoring loop takes it from there.
    """

    def __init__(
        self,
        *,
        database: Database,
        store: StoreBackend,
        domain: SigningDomain,
        issuer_key: SM2PrivateKey,
        distid: bytes,
        committer: GroupCommitter,
        key_wrapper: KeyWrapper | None = None,
        on_accepted: Callable[[int], None] = lambda n: None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``key_wrapper`` wraps document keys for readers (a fresh one if not given): it keeps
        each reader's SM2-encrypted key-encryption key for an epoch, see :mod:`ledger._keywrap`.
        ``on_accepted(n)`` is told when the last signature accepts a version step by step (the
        committer tells the anchoring loop of submitted ones)."""
        self._db = database
        self._keys = key_wrapper if key_wrapper is not None else KeyWrapper()
        self._on_accepted = on_accepted
        self._store = store
        self.domain = domain
        self._issuer = issuer_key
        self._distid = distid
        self._committer = committer
        self._now = now

    @property
    def issuer_fingerprint(self) -> bytes:
        return self._issuer.public_key().fingerprint()

    # -- step by step ----------------------------------------------------------------------

    def create_draft(
        self,
        document: Document,
        *,
        readers: Sequence[SM2PublicKey],
        required_roles: Sequence[str] = REQUIRED_ROLES,
        agreement_id: str | None = None,
    ) -> AgreementVersion:
        """Store version 1 of a new agreement as a draft (document encrypted and stored)."""
        agreement_id = check_agreement_id(agreement_id) if agreement_id else new_agreement_id()
        return self._draft(
            agreement_id, 1, VersionKind.AGREEMENT, document, readers, required_roles
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
            agreement_id, latest.version + 1, VersionKind.AGREEMENT, document, readers, roles
        )

    def void(
        self, agreement_id: str, *, reason: str, readers: Sequence[SM2PublicKey]
    ) -> AgreementVersion:
        """A new draft version of kind void; once the parties sign it the agreement is void."""
        latest = self._latest(agreement_id)
        document = void_notice(agreement_id, voids_version=latest.version, reason=reason)
        return self._draft(
            agreement_id,
            latest.version + 1,
            VersionKind.VOID,
            document,
            readers,
            latest.required_roles,
        )

    def add_signature(
        self, agreement_id: str, version: int, signature: Signature
    ) -> AgreementVersion:
        """Verify and record one party's signature; the last required one accepts the version."""
        draft = self.get_version(agreement_id, version)
        if draft.status is not VersionStatus.DRAFT:
            raise AgreementConflict(
                f"{agreement_id} v{version} is {draft.status}: only drafts are signed"
            )
        self._verify(
            draft.agreement_id, draft.version, draft.document_sm3, draft.required_roles, [signature]
        )
        with _database_errors():
            self._db.add_signature(
                agreement_id,
                version,
                role=signature.role,
                signed_at=signature.signed_at,
                public_key=signature.public_key.to_raw(),
                distid=signature.distid,
                signature=signature.value,
                recorded_at=self._now(),
            )
            signed = self._db.get_version(agreement_id, version)
            if {s.role for s in signed.signatures} != set(signed.required_roles):
                return signed
            accepted_at = _whole_seconds(self._now())
            signatures = [_signature_of(s) for s in signed.signatures]
            leaf = _entry_of(signed, signatures, accepted_at).leaf_hash
            accepted = self._db.accept(agreement_id, version, leaf=leaf, accepted_at=accepted_at)
        self._on_accepted(1)  # its batch window starts now, not at the loop's next poll
        return accepted

    # -- at once ---------------------------------------------------------------------------

    def submit(
        self,
        document: Document,
        *,
        signatures: Sequence[Signature],
        agreement_id: str,
        version: int = 1,
        kind: VersionKind = VersionKind.AGREEMENT,
        readers: Sequence[SM2PublicKey] | None = None,
        required_roles: Sequence[str] = REQUIRED_ROLES,
    ) -> AgreementVersion:
        """Accept a fully signed version in one step; return once it is durably acknowledged.

        ``readers`` default to the signers' keys. Version 1 starts an agreement; a higher
        version supersedes (or, with ``kind=void``, voids) the latest accepted one.
        """
        (result,) = self.submit_many(
            [
                Submission(
                    document=document,
                    signatures=tuple(signatures),
                    agreement_id=agreement_id,
                    version=version,
                    kind=kind,
                    readers=None if readers is None else tuple(readers),
                    required_roles=tuple(required_roles),
                )
            ]
        )
        if isinstance(result, LedgerError):
            raise result
        return result

    def submit_many(
        self, submissions: Sequence[Submission]
    ) -> list[AgreementVersion | LedgerError]:
        """Accept many fully signed versions; one result per submission, in order.

        Each submission is checked, verified, encrypted and stored as :meth:`submit` does it; one
        that fails gets its error (:class:`SignatureRejected`, :class:`AgreementConflict`,
        :class:`AgreementError` for bad input) in its slot and stores nothing; the others go on.
        The accepted ones go to the group committer at once, and this returns when every one of
        them is durable: a version in the result is acknowledged exactly as if :meth:`submit`
        had returned it. If the store or the database fails, the call raises as :meth:`submit`
        does and acknowledges nothing (a retry gets a conflict for any version that was stored
        after all). This is the bulk path (a broker's back office handing over its account
        openings) and the cheapest per agreement: one thread does the work, with no thread and
        no wake-up per agreement.
        """
        results: list[AgreementVersion | LedgerError | None] = []
        rows: list[NewVersion] = []
        for submission in submissions:
            try:
                rows.append(self._prepare(submission))
                results.append(None)
            except (AgreementError, DocumentError, SignatureRejected, AgreementConflict) as error:
                results.append(error)
        committed = iter(self._committer.commit_many(rows))
        for index, slot in enumerate(results):
            if slot is None:
                stored = next(committed)
                results[index] = (
                    AgreementConflict(str(stored)) if isinstance(stored, Conflict) else stored
                )
        return [r for r in results if r is not None]

    def _prepare(self, submission: Submission) -> NewVersion:
        """Check, verify, encrypt and store one submission; the row the committer writes."""
        agreement_id = check_agreement_id(submission.agreement_id)
        version = check_version(submission.version)
        document = submission.document
        signatures = submission.signatures
        roles = self._roles(submission.required_roles)
        self._check_document(document)
        # 1. every signature verifies over this version's payload, each required role once
        self._verify(agreement_id, version, document.sm3, roles, signatures)
        signed = {s.role for s in signatures}
        if signed != set(roles) or len(signatures) != len(roles):
            raise AgreementConflict(
                f"{agreement_id} v{version} needs exactly one signature of each of {list(roles)}"
            )
        # 2. the document, encrypted under a fresh key, is stored (503 if the store is down)
        readers = (
            list(submission.readers)
            if submission.readers is not None
            else [s.public_key for s in signatures]
        )
        sealed = seal_and_store(
            document,
            agreement_id=agreement_id,
            readers=readers,
            store=self._store,
            key_wrapper=self._keys,
        )
        # 3. the leaf the batch will anchor, from the very fields that are stored
        accepted_at = _whole_seconds(self._now())
        ordered = in_role_order(signatures)
        row = NewVersion(
            agreement_id=agreement_id,
            version=version,
            kind=VersionKind(submission.kind),
            document_sm3=document.sm3,
            document_cid=sealed.cid,
            media_type=document.media_type,
            size=len(document.content),
            required_roles=roles,
            chain_id=self.domain.chain_id,
            contract=self.domain.contract,
            accepted_at=accepted_at,
            signatures=tuple(
                NewSignature(
                    role=s.role,
                    signed_at=s.signed_at,
                    public_key=s.public_key.to_raw(),
                    distid=s.distid,
                    signature=s.value,
                )
                for s in ordered
            ),
            wrapped_keys=sealed.wrapped_keys,
            leaf=b"",  # set below
        )
        return replace(row, leaf=_entry_of(row, ordered, accepted_at).leaf_hash)

    # -- reading ---------------------------------------------------------------------------

    def get_version(self, agreement_id: str, version: int) -> AgreementVersion:
        with _database_errors():
            return self._db.get_version(check_agreement_id(agreement_id), check_version(version))

    def versions(self, agreement_id: str) -> list[AgreementVersion]:
        with _database_errors():
            return self._db.versions(check_agreement_id(agreement_id))

    def proof(self, agreement_id: str, version: int, *, include_car: bool = True) -> bytes:
        """The ``ledger-proof/1`` file of an anchored version (sealed by this service)."""
        record = self.get_version(agreement_id, version)
        if record.status is not VersionStatus.ANCHORED:
            raise NotAnchoredYet(f"{agreement_id} v{version} is {record.status}, not anchored yet")
        with _database_errors():
            inclusion = self._db.inclusion(agreement_id, version)
        signatures = [_signature_of(s) for s in record.signatures]
        assert record.accepted_at is not None
        entry = _entry_of(record, signatures, record.accepted_at)
        car = car_bytes(self._store, record.document_cid) if include_car else None
        return build_batch_proof(
            entry=entry,
            signatures=in_role_order(signatures),
            inclusion=BatchInclusion(
                leaf_index=inclusion.leaf_index,
                tree_size=inclusion.tree_size,
                path=tuple(inclusion.path),
                root=inclusion.root,
            ),
            anchor=BatchAnchor(
                raw_transaction=inclusion.raw_tx,
                tx_hash=inclusion.tx_hash,
                block_number=inclusion.block_number,
                block_hash=inclusion.block_hash,
            ),
            car=car,
            issuer_key=self._issuer,
            distid=self._distid,
        )

    def erase_document(self, agreement_id: str) -> int:
        """Crypto-shred every version's document: the wrapped keys go, proofs stay valid."""
        with _database_errors():
            return self._db.erase_document_keys(
                check_agreement_id(agreement_id), erased_at=self._now()
            )

    # -- plumbing --------------------------------------------------------------------------

    def _latest(self, agreement_id: str) -> AgreementVersion:
        with _database_errors():
            return self._db.latest_version(check_agreement_id(agreement_id))

    @staticmethod
    def _roles(required_roles: Sequence[str]) -> tuple[str, ...]:
        roles = tuple(sorted(check_role(r) for r in required_roles))
        if len(set(roles)) != len(roles):
            raise AgreementError(f"required roles repeat: {list(required_roles)}")
        missing = [r for r in REQUIRED_ROLES if r not in roles]
        if missing:
            raise AgreementError(
                f"every agreement is signed by {list(REQUIRED_ROLES)}; missing {missing}"
            )
        if len(roles) > 16:
            raise AgreementError("at most 16 signing roles")
        return roles

    @staticmethod
    def _check_document(document: Document) -> None:
        if len(document.content) > MAX_DOCUMENT_BYTES:
            raise AgreementError(f"documents are at most {MAX_DOCUMENT_BYTES} bytes")
        if not 1 <= len(document.media_type) <= 200 or not document.media_type.isprintable():
            raise AgreementError("media type must be 1-200 printable characters")

    def _draft(
        self,
        agreement_id: str,
        version: int,
        kind: VersionKind,
        document: Document,
        readers: Sequence[SM2PublicKey],
        required_roles: Sequence[str],
    ) -> AgreementVersion:
        roles = self._roles(required_roles)
        self._check_document(document)
        sealed = seal_and_store(
            document,
            agreement_id=agreement_id,
            readers=readers,
            store=self._store,
            key_wrapper=self._keys,
        )
        self._store.sync()  # the document is durable before the draft that refers to it
        with _database_errors():
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
            )

    def _verify(
        self,
        agreement_id: str,
        version: int,
        document_sm3: bytes,
        required_roles: Sequence[str],
        signatures: Sequence[Signature],
    ) -> None:
        for signature in signatures:
            if signature.role not in required_roles:
                raise AgreementConflict(
                    f"{agreement_id} v{version} is signed by {list(required_roles)},"
                    f" not {signature.role!r}"
                )
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


@contextmanager
def _database_errors() -> Iterator[None]:
    """The one place database errors become service errors."""
    try:
        yield
    except Conflict as exc:
        raise AgreementConflict(str(exc)) from exc
    except NotFound as exc:
        raise AgreementNotFound(str(exc)) from exc
    except DatabaseError as exc:
        raise ServiceUnavailable(f"the database failed, nothing was stored: {exc}") from exc


def _entry_of(
    record: AgreementVersion | NewVersion, signatures: Sequence[Signature], accepted_at: datetime
) -> LeafEntry:
    """The leaf entry of a version, stored or about to be: one mapping for accepting it and for
    writing its proof, so the two cannot drift apart."""
    return LeafEntry(
        agreement_id=record.agreement_id,
        agreement_version=record.version,
        kind=record.kind.value,
        document_sm3=record.document_sm3,
        document_cid=record.document_cid,
        media_type=record.media_type,
        size=record.size,
        required_roles=tuple(record.required_roles),
        signature_set_digest=signature_set_digest(in_role_order(signatures)),
        accepted_at=accepted_at,
        domain=SigningDomain(chain_id=record.chain_id, contract=record.contract),
    )
