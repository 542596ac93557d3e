"""Agreement versions and their signatures, step by step: a draft, one signature per role, then
acceptance (which puts the version in the outbox, :mod:`ledger.db.outbox`); and reading them.

The bulk path (many fully signed versions in one transaction) is :mod:`ledger.db.group_commit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from ledger.agreement import (
    AgreementVersion,
    SignatureRecord,
    VersionKind,
    VersionStatus,
    owner_refusal,
    signer_refusal,
    version_refusal,
)
from ledger.db import schema
from ledger.db._checks import (
    check_agreement_id,
    check_aware,
    check_bytes,
    check_int,
    check_role,
    check_roles,
    check_signature_bytes,
    check_text,
    check_version,
    check_wrapped_keys,
)
from ledger.db._plumbing import Transactions
from ledger.db.document_keys import insert_keys
from ledger.db.errors import Conflict, NotFound
from ledger.db.records import LatestRow

_NO_KEYS: Mapping[bytes, bytes] = MappingProxyType({})

_av = schema.agreement_versions
_sig = schema.signatures
_ob = schema.outbox


class Versions:
    """Agreement versions and signatures, one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction

    def create_draft(
        self,
        agreement_id: str,
        version: int,
        *,
        kind: VersionKind | str = VersionKind.AGREEMENT,
        document_sm3: bytes,
        document_cid: str,
        media_type: str,
        size: int,
        required_roles: Sequence[str],
        chain_id: int,
        contract: str,
        created_at: datetime,
        wrapped_keys: Mapping[bytes, bytes] = _NO_KEYS,
        owner: str | None = None,
    ) -> AgreementVersion:
        """Store a new draft version: ``version`` must be the next one (1 for a new agreement).

        A void is a new version of kind ``void`` (never the first); no version follows an
        accepted void. ``wrapped_keys`` (32-byte SM3 fingerprint of a reader's SM2 key -> the
        document key encrypted to that reader) are stored in the same transaction. ``owner`` is
        the member whose broker creates it; a later version must have the agreement's owner.
        """
        check_agreement_id(agreement_id)
        check_version(version)
        kind = VersionKind(kind)
        check_bytes("document_sm3", document_sm3, 32)
        check_text("document_cid", document_cid)
        check_text("media_type", media_type)
        check_int("size", size, minimum=0)
        roles = check_roles(required_roles)
        check_int("chain_id", chain_id, minimum=1)
        check_text("contract", contract)
        check_aware("created_at", created_at)
        keys = check_wrapped_keys(wrapped_keys)
        if owner is not None:
            check_text("owner", owner)
        with self._transaction(write=True) as conn:
            row = conn.execute(
                sa.select(_av.c.version, _av.c.kind, _av.c.status, _av.c.owner)
                .where(_av.c.agreement_id == agreement_id)
                .order_by(_av.c.version.desc())
                .limit(1)
            ).first()
            latest = (
                None
                if row is None
                else LatestRow(int(row.version), row.kind, row.status, row.owner)
            )
            refusal = owner_refusal(agreement_id, latest, owner) or version_refusal(
                agreement_id, version, kind, latest
            )
            if refusal is not None:
                raise Conflict(refusal)
            conn.execute(
                sa.insert(_av).values(
                    agreement_id=agreement_id,
                    version=version,
                    kind=kind.value,
                    status=VersionStatus.DRAFT.value,
                    document_sm3=document_sm3,
                    document_cid=document_cid,
                    media_type=media_type,
                    size=size,
                    required_roles=list(roles),
                    chain_id=chain_id,
                    contract=contract,
                    created_at=created_at,
                    accepted_at=None,
                    owner=owner,
                )
            )
            insert_keys(conn, agreement_id, version, keys)
            return _load_version(conn, agreement_id, version)

    def get_version(self, agreement_id: str, version: int) -> AgreementVersion:
        """One version with its signatures (ordered by role)."""
        with self._transaction() as conn:
            return _load_version(conn, agreement_id, version)

    def latest_version(self, agreement_id: str) -> AgreementVersion:
        """The highest version of an agreement, whatever its kind and status."""
        with self._transaction() as conn:
            version = conn.execute(
                sa.select(sa.func.max(_av.c.version)).where(_av.c.agreement_id == agreement_id)
            ).scalar()
            if version is None:
                raise NotFound(f"no agreement {agreement_id}")
            return _load_version(conn, agreement_id, int(version))

    def versions(self, agreement_id: str) -> list[AgreementVersion]:
        """Every version of an agreement, oldest first, each with its signatures (by role)."""
        with self._transaction() as conn:
            rows = conn.execute(
                sa.select(_av).where(_av.c.agreement_id == agreement_id).order_by(_av.c.version)
            ).all()
            if not rows:
                raise NotFound(f"no agreement {agreement_id}")
            signatures: dict[int, list[SignatureRecord]] = {}
            for sig in conn.execute(sa.select(_sig).where(_sig.c.agreement_id == agreement_id)):
                signatures.setdefault(int(sig.version), []).append(_signature_record(sig))
        return [_version_record(row, signatures.get(int(row.version), ())) for row in rows]

    def add_signature(
        self,
        agreement_id: str,
        version: int,
        *,
        role: str,
        signed_at: datetime,
        public_key: bytes,
        distid: bytes,
        signature: bytes,
        recorded_at: datetime,
    ) -> SignatureRecord:
        """Record one role's signature of a draft (the caller has verified it).

        :class:`Conflict` if the version is not a draft, the role is not one of its required
        roles, or that role has already signed it.
        """
        check_role(role)
        check_aware("signed_at", signed_at)
        check_bytes("public_key", public_key, 65)
        check_bytes("distid", distid)
        check_signature_bytes(signature)
        check_aware("recorded_at", recorded_at)
        with self._transaction(write=True) as conn:
            # FOR SHARE: signatures of different roles go in parallel, accept() waits for them.
            row = conn.execute(
                sa.select(_av.c.status, _av.c.required_roles)
                .where(_av.c.agreement_id == agreement_id, _av.c.version == version)
                .with_for_update(read=True)
            ).first()
            if row is None:
                raise NotFound(f"no version {version} of {agreement_id}")
            if row.status != VersionStatus.DRAFT:
                raise Conflict(f"{agreement_id} v{version} is {row.status}: only drafts are signed")
            signed = conn.execute(
                sa.select(sa.literal(1)).where(
                    _sig.c.agreement_id == agreement_id,
                    _sig.c.version == version,
                    _sig.c.role == role,
                )
            ).first()
            refusal = signer_refusal(
                agreement_id, version, row.required_roles, role, () if signed is None else [role]
            )
            if refusal is not None:
                raise Conflict(refusal)
            record = SignatureRecord(
                agreement_id=agreement_id,
                version=version,
                role=role,
                signed_at=signed_at.astimezone(UTC),
                public_key=public_key,
                distid=distid,
                signature=signature,
                recorded_at=recorded_at.astimezone(UTC),
            )
            conn.execute(sa.insert(_sig).values(**asdict(record)))
            return record

    def accept(
        self, agreement_id: str, version: int, *, leaf: bytes, accepted_at: datetime
    ) -> AgreementVersion:
        """Mark a fully signed draft accepted and put it in the outbox, in one transaction.

        ``leaf`` is the 32-byte Merkle leaf hash the batcher will anchor (computed by the
        caller). :class:`Conflict` if the version is not a draft (accepting twice included) or a
        required role has not signed.
        """
        check_bytes("leaf", leaf, 32)
        check_aware("accepted_at", accepted_at)
        with self._transaction(write=True) as conn:
            row = conn.execute(
                sa.select(_av.c.status, _av.c.required_roles)
                .where(_av.c.agreement_id == agreement_id, _av.c.version == version)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFound(f"no version {version} of {agreement_id}")
            if row.status != VersionStatus.DRAFT:
                raise Conflict(f"{agreement_id} v{version} is already {row.status}")
            signed = set(
                conn.execute(
                    sa.select(_sig.c.role).where(
                        _sig.c.agreement_id == agreement_id, _sig.c.version == version
                    )
                ).scalars()
            )
            missing = [role for role in row.required_roles if role not in signed]
            if missing:
                raise Conflict(f"{agreement_id} v{version} still needs signatures of {missing}")
            conn.execute(
                sa.update(_av)
                .where(_av.c.agreement_id == agreement_id, _av.c.version == version)
                .values(status=VersionStatus.ACCEPTED.value, accepted_at=accepted_at)
            )
            conn.execute(
                sa.insert(_ob).values(
                    agreement_id=agreement_id, version=version, leaf=leaf, accepted_at=accepted_at
                )
            )
            return _load_version(conn, agreement_id, version)


def _load_version(conn: sa.Connection, agreement_id: str, version: int) -> AgreementVersion:
    row = conn.execute(
        sa.select(_av).where(_av.c.agreement_id == agreement_id, _av.c.version == version)
    ).first()
    if row is None:
        raise NotFound(f"no version {version} of {agreement_id}")
    signatures = [
        _signature_record(sig)
        for sig in conn.execute(
            sa.select(_sig).where(_sig.c.agreement_id == agreement_id, _sig.c.version == version)
        )
    ]
    return _version_record(row, signatures)


def _signature_record(row: Any) -> SignatureRecord:
    return SignatureRecord(
        agreement_id=row.agreement_id,
        version=int(row.version),
        role=row.role,
        signed_at=row.signed_at,
        public_key=bytes(row.public_key),
        distid=bytes(row.distid),
        signature=bytes(row.signature),
        recorded_at=row.recorded_at,
    )


def _version_record(row: Any, signatures: Sequence[SignatureRecord]) -> AgreementVersion:
    """A version row and its signatures; signatures in role order (in Python, not by the
    database's collation, so both backends and submit_many's results agree)."""
    return AgreementVersion(
        agreement_id=row.agreement_id,
        version=int(row.version),
        kind=VersionKind(row.kind),
        status=VersionStatus(row.status),
        document_sm3=bytes(row.document_sm3),
        document_cid=row.document_cid,
        media_type=row.media_type,
        size=int(row.size),
        required_roles=tuple(row.required_roles),
        chain_id=int(row.chain_id),
        contract=row.contract,
        created_at=row.created_at,
        accepted_at=row.accepted_at,
        keys_erased_at=row.keys_erased_at,
        signatures=tuple(sorted(signatures, key=lambda sig: sig.role)),
        owner=row.owner,
    )
