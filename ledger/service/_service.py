"""The evidence service: agreement versions from draft to anchored proof."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from ledger.agreement import (
    REQUIRED_ROLES,
    AgreementError,
    AgreementVersion,
    Document,
    LatestVersion,
    SigningDomain,
    SigningWindow,
    VersionKind,
    VersionStatus,
    check_version,
    void_notice,
)
from ledger.canonical import whole_seconds
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.db import Database
from ledger.document import KeyWrapper
from ledger.errors import LedgerError
from ledger.httpsig import Caller, KeyDirectory
from ledger.member import Action
from ledger.service._acceptance import Acceptance
from ledger.service._authorize import Authorization
from ledger.service._committer import GroupCommitter
from ledger.service._drafts import Drafts
from ledger.service._proof_keys import RegistryKeys
from ledger.service._rows import (
    Submission,
    database_errors,
    entry_of,
    signature_of,
)
from ledger.service.errors import AgreementConflict, AgreementNotFound
from ledger.signature import Signature
from ledger.store import StoreBackend


class EvidenceService(Drafts):
    """Drafts, signatures, acceptance (acknowledged = durably in the outbox), proofs.

    Two ways in, same rules (:mod:`ledger.agreement`):

    * step by step: :meth:`create_draft` / :meth:`supersede` / :meth:`void` store a draft
      version, each party's :meth:`add_signature` is verified and recorded, and the last required
      signature accepts the version;
    * at once: :meth:`submit` takes a document with every required signature (the parties signed
      the payload of the version they were given) and accepts it in one group-committed
      transaction. This is the high-volume path.

    :meth:`create_agreement` and :meth:`create_version` take either way, as the HTTP API does.

    Who may: each call the HTTP API makes names its verified ``caller``, and the access policy
    (:mod:`ledger.member.access`) decides before anything is stored; an agreement belongs to the
    member whose broker created it. Once a version is in force, later versions are signed by its
    parties (:func:`~ledger.agreement.party_refusal`, asking ``directory`` whose broker key
    signed); one key never signs for two roles. ``caller=None`` is the service's own process.

    Everything that can be judged before storing is judged first: the form, the next-version
    rule against the stored versions, one signature per required role, each signature's time
    (within the :class:`~ledger.agreement.SigningWindow` around ``now``) and the signature itself
    over the domain-separated payload. A refused version stores nothing: not even its encrypted
    document, which is written only after every check passed, and removed again if the database
    refuses the version at commit (a concurrent writer took the version number).
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
        signing_window: SigningWindow | None = None,
        on_accepted: Callable[[int], None] = lambda n: None,
        directory: KeyDirectory | None = None,
        proof_keys: RegistryKeys | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``key_wrapper`` wraps document keys for readers (a fresh one if not given): it keeps
        each reader's SM2-encrypted key-encryption key for an epoch, see :mod:`ledger._keywrap`.
        ``signing_window``: when signatures may have been made (default
        :class:`~ledger.agreement.SigningWindow`: 24 h back, 5 min ahead).
        ``on_accepted(n)`` is told when the last signature accepts a version step by step (the
        committer tells the anchoring loop of submitted ones). ``directory``: whose registered
        keys sign (None: no broker key is known to be a member's). ``proof_keys``: where the
        registry entries of proof files come from (None: proofs are ``ledger-proof/1``)."""
        window = signing_window if signing_window is not None else SigningWindow()
        super().__init__(
            database=database,
            store=store,
            issuer_key=issuer_key,
            distid=distid,
            authorization=Authorization(
                directory=directory, nonces=database, domain=domain, window=window, now=now
            ),
            now=now,
            proof_keys=proof_keys,
        )
        self._acceptance = Acceptance(
            store=store,
            domain=domain,
            key_wrapper=key_wrapper if key_wrapper is not None else KeyWrapper(),
            signing_window=window,
            now=now,
        )
        self._on_accepted = on_accepted
        self.domain = domain
        self._committer = committer

    # -- as the API takes them ---------------------------------------------------------------

    def create_agreement(
        self,
        document: Document,
        *,
        readers: Sequence[SM2PublicKey] | None = None,
        required_roles: Sequence[str] = REQUIRED_ROLES,
        agreement_id: str | None = None,
        signatures: Sequence[Signature] | None = None,
        caller: Caller | None = None,
    ) -> AgreementVersion:
        """Version 1 of a new agreement: without ``signatures`` a draft (``readers``, the keys
        allowed to decrypt the document, are then required); with every signature accepted at
        once (``agreement_id``, which the parties signed, is then required; ``readers`` default
        to the signers). It belongs to ``caller``'s member (a broker)."""
        owner = self._authorize.create(caller)
        if signatures is None:
            return self.create_draft(
                document,
                readers=_draft_readers(readers),
                required_roles=required_roles,
                agreement_id=agreement_id,
                owner=owner,
            )
        if agreement_id is None:
            raise AgreementError(
                "a signed submission names its agreement_id (the parties signed it)"
            )
        return self.submit(
            document,
            signatures=signatures,
            agreement_id=agreement_id,
            readers=readers,
            required_roles=required_roles,
            owner=owner,
        )

    def create_version(
        self,
        agreement_id: str,
        *,
        version: int,
        kind: VersionKind | str = VersionKind.AGREEMENT,
        document: Document | None = None,
        reason: str | None = None,
        readers: Sequence[SM2PublicKey] | None = None,
        required_roles: Sequence[str] | None = None,
        signatures: Sequence[Signature] | None = None,
        caller: Caller | None = None,
    ) -> AgreementVersion:
        """A later version: a new ``document`` (kind ``agreement``: supersede) or a void (kind
        ``void``: a ``reason``, from which the service writes the void notice the parties sign).
        ``version`` is the one being created, the latest + 1. Without ``signatures`` it is a
        draft (``readers`` required); with every signature it is accepted at once, signed by
        the parties of the version in force. Required roles default to the latest version's.
        Only the owning broker writes one."""
        kind = VersionKind(kind)
        if kind is VersionKind.VOID:
            if document is not None or reason is None:
                raise AgreementError("a void takes a reason, not a document")
        elif document is None or reason is not None:
            raise AgreementError("a new agreement version takes a document, not a reason")
        self._authorize.create(caller)
        agreement = self._stored(agreement_id)
        self._authorize.agreement(caller, Action.WRITE, agreement_id, agreement.versions)
        latest = agreement.latest
        owner = latest.owner
        self._acceptance.check_next(agreement_id, check_version(version), kind, latest, owner)
        roles = required_roles if required_roles is not None else latest.required_roles
        if reason is not None:
            document = void_notice(agreement_id, voids_version=latest.version, reason=reason)
        assert document is not None
        if signatures is None:
            readers = _draft_readers(readers)
            return self._draft(agreement_id, version, kind, document, readers, roles, latest, owner)
        self._authorize.parties(agreement, version, signatures)
        return self.submit(
            document,
            signatures=signatures,
            agreement_id=agreement_id,
            version=version,
            kind=kind,
            readers=readers,
            required_roles=roles,
            owner=owner,
        )

    # -- step by step (drafts: see Drafts) --------------------------------------------------

    def add_signature(
        self,
        agreement_id: str,
        version: int,
        signature: Signature,
        *,
        caller: Caller | None = None,
    ) -> AgreementVersion:
        """Verify and record one party's signature; the last required one accepts the version.
        Only the owning broker brings signatures into its drafts."""
        agreement = self._stored(agreement_id)
        # hidden: in the words a missing agreement gets (_stored's)
        self._authorize.agreement(caller, Action.WRITE, agreement_id, agreement.versions)
        draft = next((v for v in agreement.versions if v.version == version), None)
        if draft is None:
            raise AgreementNotFound(f"no version {version} of {agreement_id}")
        if draft.status is not VersionStatus.DRAFT:
            raise AgreementConflict(
                f"{agreement_id} v{version} is {draft.status}: only drafts are signed"
            )
        self._acceptance.verify(
            draft.agreement_id,
            draft.version,
            draft.document_sm3,
            draft.required_roles,
            [signature],
            signed=[(s.role, s.public_key) for s in draft.signatures],
        )
        self._authorize.parties(agreement, version, [signature])
        with database_errors():
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
            accepted_at = whole_seconds(self._now())
            signatures = [signature_of(s) for s in signed.signatures]
            leaf = entry_of(signed, signatures, accepted_at).leaf_hash
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
        owner: str | None = None,
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
                    owner=owner,
                )
            ]
        )
        if isinstance(result, LedgerError):
            raise result
        return result

    def submit_many(
        self, submissions: Sequence[Submission], *, caller: Caller | None = None
    ) -> list[AgreementVersion | LedgerError]:
        """Accept many fully signed versions; one result per submission, in order.

        Each submission is checked, verified, encrypted and stored as :meth:`submit` does it; one
        that fails gets its error (:class:`SignatureRejected`, :class:`AgreementConflict`,
        :class:`AgreementError` for bad input) in its slot and stores nothing; the others go on.
        The latest stored versions of all of them are read in one query first, so a replay or a
        wrong version number is refused before its document is encrypted.
        The accepted ones go to the group committer at once, and this returns when every one of
        them is durable: a version in the result is acknowledged exactly as if :meth:`submit`
        had returned it. If the store or the database fails, the call raises as :meth:`submit`
        does and acknowledges nothing (a retry gets a conflict for any version that was stored
        after all). This is the bulk path (a broker's back office handing over its account
        openings) and the cheapest per agreement: one thread does the work, with no thread and
        no wake-up per agreement. With a ``caller`` (a broker) each becomes its member's; later
        versions come through :meth:`create_version`, which asks the party rules first.
        """
        if caller is not None:
            owner = self._authorize.create(caller)
            submissions = [replace(s, owner=owner) for s in submissions]
        with database_errors():
            latest: dict[str, LatestVersion] = dict(
                self._db.latest_versions({s.agreement_id for s in submissions})
            )
        return self._acceptance.accept_many(submissions, latest, self._committer.commit_many)


def _draft_readers(readers: Sequence[SM2PublicKey] | None) -> Sequence[SM2PublicKey]:
    """A draft names its readers (a signed submission defaults them to the signers)."""
    if readers is None:
        raise AgreementError("a draft needs readers: the keys allowed to decrypt the document")
    return readers
