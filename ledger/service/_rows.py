"""What the evidence service hands the database and reads back: a :class:`Submission`, the row
of an accepted version (:func:`accepted_row`), its leaf entry (:func:`entry_of`), its proof file
(:func:`proof_file`), and the one place database errors become service errors
(:func:`database_errors`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from ledger.agreement import (
    REQUIRED_ROLES,
    AgreementVersion,
    Document,
    LeafEntry,
    SignatureRecord,
    SigningDomain,
    VersionKind,
)
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.db import Conflict, NotFound
from ledger.db.errors import DatabaseError
from ledger.db.records import Inclusion, NewSignature, NewVersion
from ledger.proof import BatchAnchor, BatchInclusion, ProofKeys, build_batch_proof
from ledger.service.errors import AgreementConflict, AgreementNotFound, ServiceUnavailable
from ledger.signature import Signature, in_role_order, signature_set_digest


@dataclass(frozen=True)
class Submission:
    """One fully signed version for :meth:`EvidenceService.submit_many
    <ledger.service.EvidenceService.submit_many>` (same fields as ``submit`` takes)."""

    document: Document
    signatures: tuple[Signature, ...]
    agreement_id: str
    version: int = 1
    kind: VersionKind = VersionKind.AGREEMENT
    readers: tuple[SM2PublicKey, ...] | None = None
    required_roles: tuple[str, ...] = REQUIRED_ROLES
    #: the member whose broker submits it (the agreement's owner); None: not attributed
    owner: str | None = None


class Written(NamedTuple):
    """A version this call has already queued: the latest one, for the next-version rule."""

    version: int
    kind: str
    status: str
    owner: str | None


def signature_of(record: SignatureRecord) -> Signature:
    return Signature(
        role=record.role,
        signed_at=record.signed_at,
        public_key=SM2PublicKey.from_raw(record.public_key),
        value=record.signature,
        distid=record.distid,
    )


def accepted_row(
    *,
    agreement_id: str,
    version: int,
    kind: VersionKind,
    document: Document,
    document_cid: str,
    required_roles: tuple[str, ...],
    domain: SigningDomain,
    accepted_at: datetime,
    signatures: Sequence[Signature],
    wrapped_keys: Mapping[bytes, bytes],
    owner: str | None = None,
) -> NewVersion:
    """The row the group committer writes for a fully signed version, its leaf computed from
    the very fields that are stored."""
    ordered = in_role_order(signatures)
    row = NewVersion(
        agreement_id=agreement_id,
        version=version,
        kind=kind,
        document_sm3=document.sm3,
        document_cid=document_cid,
        media_type=document.media_type,
        size=len(document.content),
        required_roles=required_roles,
        chain_id=domain.chain_id,
        contract=domain.contract,
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
        wrapped_keys=wrapped_keys,
        leaf=b"",  # set below
        owner=owner,
    )
    return replace(row, leaf=entry_of(row, ordered, accepted_at).leaf_hash)


def entry_of(
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


def proof_file(
    record: AgreementVersion,
    inclusion: Inclusion,
    *,
    car: bytes | None,
    issuer_key: SM2PrivateKey,
    distid: bytes,
    keys: ProofKeys | None = None,
) -> bytes:
    """The proof file of an anchored version, sealed with ``issuer_key``: ``ledger-proof/2``
    with ``keys``, else ``ledger-proof/1``."""
    signatures = [signature_of(s) for s in record.signatures]
    assert record.accepted_at is not None
    return build_batch_proof(
        entry=entry_of(record, signatures, record.accepted_at),
        signatures=in_role_order(signatures),
        inclusion=BatchInclusion.of(inclusion),
        anchor=BatchAnchor.of(inclusion),
        car=car,
        keys=keys,
        issuer_key=issuer_key,
        distid=distid,
    )


@contextmanager
def database_errors() -> Iterator[None]:
    """The one place database errors become service errors."""
    try:
        yield
    except Conflict as exc:
        raise AgreementConflict(str(exc)) from exc
    except NotFound as exc:
        raise AgreementNotFound(str(exc)) from exc
    except DatabaseError as exc:
        raise ServiceUnavailable(f"the database failed, nothing was stored: {exc}") from exc
