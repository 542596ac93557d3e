"""Group commit: many fully signed versions stored as accepted in one transaction.

:meth:`GroupCommit.submit_many` writes each version with its signatures, wrapped document keys
and outbox row; each item is checked against the stored state and the items before it exactly as
the step-by-step path (:meth:`~ledger.db.versions.Versions.create_draft`,
:meth:`~ledger.db.versions.Versions.add_signature`, :meth:`~ledger.db.versions.Versions.accept`)
would, and an item that fails gets a :class:`Conflict` in its result slot instead of failing the
others. Here: checking each item for form, reading the latest versions in bulk, building the
records it returns without their ``__init__``, and writing the rows through the driver's
executemany (:class:`~ledger.db._plumbing.DriverInsert`), with values converted as the columns'
types would.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa

from ledger.agreement import (
    AgreementVersion,
    SignatureRecord,
    VersionKind,
    VersionStatus,
    owner_refusal,
    signature_set_refusal,
    version_refusal,
)
from ledger.db import schema
from ledger.db._checks import (
    check_agreement_id,
    check_aware,
    check_bytes,
    check_int,
    check_new_signature,
    check_roles,
    check_text,
    check_version,
    check_wrapped_keys,
)
from ledger.db._plumbing import DriverInsert, Transactions
from ledger.db.errors import Conflict, DatabaseError
from ledger.db.records import LatestRow, NewSignature, NewVersion

_av = schema.agreement_versions
_sig = schema.signatures
_ob = schema.outbox
_dk = schema.document_keys

#: How often submit_many runs its transaction when a concurrent writer took a key it chose.
_SUBMIT_ATTEMPTS = 4
#: Agreement IDs per ``IN (...)`` list when the latest versions are read.
_IN_CHUNK = 500

# The latest version of each of a list of agreements (the IN list expands per execution).
_newer = _av.alias("newer")
_LATEST_VERSIONS = sa.select(
    _av.c.agreement_id, _av.c.version, _av.c.kind, _av.c.status, _av.c.owner
).where(
    _av.c.agreement_id.in_(sa.bindparam("agreement_ids", expanding=True)),
    ~sa.select(sa.literal(1))
    .where(_newer.c.agreement_id == _av.c.agreement_id, _newer.c.version > _av.c.version)
    .exists(),
)


class GroupCommit:
    """The bulk path of agreement versions; one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction

    def submit_many(self, items: Sequence[NewVersion]) -> list[AgreementVersion | Conflict]:
        """Store fully signed versions as accepted, each with its signatures, wrapped keys and
        outbox row, all in ONE transaction; one result per item, in input order.

        Each item is checked as the step-by-step path would check it, against the stored state
        and the items before it in this call: its version is the next one (1 for a new
        agreement), a void is never version 1, no version follows an accepted void, and its
        signatures are exactly one per required role. An item that fails gets a
        :class:`Conflict` in its slot and is not written (so it changes nothing for the items
        after it); the others are. Malformed items raise ``ValueError`` before anything is
        written. Outbox rows are written in input order, so batches take the items in that
        order. :class:`DatabaseError` if the transaction fails: then nothing is written.

        Concurrency: SQLite serializes writers (``BEGIN IMMEDIATE``). On PostgreSQL another
        writer may store one of these versions between the read of the latest versions and the
        insert; the unique key refuses the insert, and the whole call is run again (a few
        times at most), which then reports that item as a :class:`Conflict`.

        The results are built from the items (not read back): status ``accepted``,
        ``created_at`` = ``accepted_at`` = every signature's ``recorded_at``.
        """
        checked = list(map(_checked, itertools.count(), items))
        if not checked:
            return []
        for attempt in range(_SUBMIT_ATTEMPTS):
            try:
                return self._submit_many(checked)
            except Conflict as error:
                # A unique key refused: a concurrent writer stored one of these versions after
                # we read the latest ones (PostgreSQL; SQLite serializes writers). Nothing of
                # ours was written; reading again turns that item into a Conflict slot.
                if attempt == _SUBMIT_ATTEMPTS - 1:
                    raise DatabaseError(
                        f"submit_many: still refused after {_SUBMIT_ATTEMPTS} attempts: {error}"
                    ) from error
        raise AssertionError("unreachable")

    def _submit_many(self, items: Sequence[_Checked]) -> list[AgreementVersion | Conflict]:
        with self._transaction(write=True) as conn:
            latest = read_latest(conn, {checked.item.agreement_id for checked in items})
            results: list[AgreementVersion | Conflict] = []
            written: list[_Checked] = []
            for checked in items:
                item = checked.item
                before = latest.get(item.agreement_id)
                refusal = (
                    owner_refusal(item.agreement_id, before, item.owner)
                    or version_refusal(item.agreement_id, item.version, item.kind, before)
                    or signature_set_refusal(
                        item.agreement_id,
                        item.version,
                        item.required_roles,
                        [sig.role for sig in item.signatures],
                    )
                )
                if refusal is not None:
                    results.append(Conflict(refusal))
                    continue
                latest[item.agreement_id] = LatestRow(
                    item.version, item.kind.value, VersionStatus.ACCEPTED.value, item.owner
                )
                written.append(checked)
                results.append(_accepted_record(item))
            if written:
                _insert_accepted(conn, written)
            return results

    def latest_versions(self, agreement_ids: Iterable[str]) -> Mapping[str, LatestRow]:
        """The latest stored version (number, kind, status) of each of these agreements that
        has one: what the next-version rule needs, read in one query per 500 IDs."""
        with self._transaction() as conn:
            return read_latest(conn, set(agreement_ids))


def read_latest(conn: sa.Connection, agreement_ids: set[str]) -> dict[str, LatestRow]:
    """The latest stored version of each agreement that has one."""
    ordered = sorted(agreement_ids)
    latest: dict[str, LatestRow] = {}
    for start in range(0, len(ordered), _IN_CHUNK):
        rows = conn.execute(_LATEST_VERSIONS, {"agreement_ids": ordered[start : start + _IN_CHUNK]})
        for agreement_id, version, kind, status, owner in rows:
            latest[agreement_id] = LatestRow(int(version), kind, status, owner)
    return latest


_R = TypeVar("_R")
_BY_ROLE = operator.attrgetter("role")


def _accepted_record(item: NewVersion) -> AgreementVersion:
    """What submit_many stored for ``item``, as get_version would read it back."""
    accepted_at = item.accepted_at.astimezone(UTC)
    agreement_id = item.agreement_id
    version = item.version
    return _record(
        AgreementVersion,
        {
            "agreement_id": agreement_id,
            "version": version,
            "kind": item.kind,
            "status": VersionStatus.ACCEPTED,
            "document_sm3": item.document_sm3,
            "document_cid": item.document_cid,
            "media_type": item.media_type,
            "size": item.size,
            "required_roles": item.required_roles,
            "chain_id": item.chain_id,
            "contract": item.contract,
            "created_at": accepted_at,
            "accepted_at": accepted_at,
            "keys_erased_at": None,
            "signatures": tuple(
                _record(
                    SignatureRecord,
                    {
                        "agreement_id": agreement_id,
                        "version": version,
                        "role": sig.role,
                        "signed_at": sig.signed_at.astimezone(UTC),
                        "public_key": sig.public_key,
                        "distid": sig.distid,
                        "signature": sig.signature,
                        "recorded_at": accepted_at,
                    },
                )
                for sig in sorted(item.signatures, key=_BY_ROLE)
            ),
            "owner": item.owner,
        },
    )


def _record(cls: type[_R], fields: dict[str, Any]) -> _R:
    """``cls(**fields)`` for a frozen record of :mod:`ledger.agreement` (no ``__post_init__``,
    no slots), given every field, without its ``__init__``: that sets each field through
    ``object.__setattr__``, which costs submit_many several microseconds per item. A test checks
    that the records equal the ones ``__init__`` builds."""
    record = object.__new__(cls)
    record.__dict__.update(fields)
    return record


_INSERT_VERSION = DriverInsert(
    _av,
    "agreement_id",
    "version",
    "kind",
    "status",
    "document_sm3",
    "document_cid",
    "media_type",
    "size",
    "required_roles",
    "chain_id",
    "contract",
    "created_at",
    "accepted_at",
    "owner",
)
_INSERT_SIGNATURE = DriverInsert(
    _sig,
    "agreement_id",
    "version",
    "role",
    "signed_at",
    "public_key",
    "distid",
    "signature",
    "recorded_at",
)
_INSERT_KEY = DriverInsert(_dk, "agreement_id", "version", "reader_fingerprint", "wrapped_key")
_INSERT_OUTBOX = DriverInsert(_ob, "agreement_id", "version", "leaf", "accepted_at")


def _sqlite_time(value: datetime) -> str:
    """What :class:`schema.UTCDateTime` and SQLite's DATETIME make of an aware datetime: the UTC
    wall time as ``YYYY-MM-DD HH:MM:SS.ffffff`` (the year always has 4 digits)."""
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _postgresql_time(value: datetime) -> datetime:
    """What :class:`schema.UTCDateTime` hands psycopg: the same instant, in UTC."""
    return value.astimezone(UTC)


def _insert_accepted(conn: sa.Connection, items: Sequence[_Checked]) -> None:
    """One executemany per table for the accepted items (outbox rows in their order).

    The values are converted here as the columns' types would: bytes, ints and strings as they
    are (SQLAlchemy wraps bytes in the driver's ``Binary``, which stores the same BLOB/BYTEA),
    JSON as ``json.dumps`` text (PostgreSQL's ``::JSON`` cast keeps the text as it is), aware
    times as :class:`schema.UTCDateTime` and the dialect's DATETIME would. A test compares the
    stored rows with SQLAlchemy's, on both backends."""
    stored_time = _sqlite_time if conn.dialect.name == "sqlite" else _postgresql_time
    times: dict[datetime, Any] = {}  # each instant converted once (items share accepted_at)
    accepted = VersionStatus.ACCEPTED.value
    roles_json: dict[tuple[str, ...], str] = {}  # usually one set of roles for all
    versions: list[tuple[Any, ...]] = []
    signatures: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    for item, wrapped_keys in items:
        agreement_id = item.agreement_id
        version = item.version
        at = times.get(item.accepted_at)
        if at is None:
            at = times[item.accepted_at] = stored_time(item.accepted_at)
        roles = item.required_roles
        required_roles = roles_json.get(roles)
        if required_roles is None:
            required_roles = roles_json[roles] = json.dumps(list(roles))
        versions.append(
            (
                agreement_id,
                version,
                item.kind.value,
                accepted,
                item.document_sm3,
                item.document_cid,
                item.media_type,
                item.size,
                required_roles,
                item.chain_id,
                item.contract,
                at,
                at,
                item.owner,
            )
        )
        for sig in item.signatures:
            signed_at = times.get(sig.signed_at)
            if signed_at is None:
                signed_at = times[sig.signed_at] = stored_time(sig.signed_at)
            signatures.append(
                (
                    agreement_id,
                    version,
                    sig.role,
                    signed_at,
                    sig.public_key,
                    sig.distid,
                    sig.signature,
                    at,
                )
            )
        for fingerprint, wrapped in wrapped_keys:
            keys.append((agreement_id, version, fingerprint, wrapped))
        outbox.append((agreement_id, version, item.leaf, at))
    # Versions in key order: concurrent calls on PostgreSQL then wait for each other's
    # uncommitted keys in one global order, so they cannot deadlock.
    versions.sort(key=_VERSION_KEY)
    _INSERT_VERSION.executemany(conn, versions)
    _INSERT_SIGNATURE.executemany(conn, signatures)
    if keys:
        _INSERT_KEY.executemany(conn, keys)
    _INSERT_OUTBOX.executemany(conn, outbox)


_VERSION_KEY = operator.itemgetter(0, 1)


class _Checked(NamedTuple):
    """A submit_many item checked for form: the item (its kind a :class:`VersionKind`, its roles
    and signatures tuples) and its wrapped keys as they were checked (fingerprint, key)."""

    item: NewVersion
    wrapped_keys: tuple[tuple[bytes, bytes], ...]


def _checked(index: int, item: NewVersion) -> _Checked:
    """``item`` checked for form (not against the stored state), normalized; a ValueError
    naming the item's index and what is malformed."""
    try:
        if not isinstance(item, NewVersion):
            raise ValueError(f"expected a NewVersion, got {type(item).__name__}")
        check_agreement_id(item.agreement_id)
        check_version(item.version)
        kind = VersionKind(item.kind)
        check_bytes("document_sm3", item.document_sm3, 32)
        check_text("document_cid", item.document_cid)
        check_text("media_type", item.media_type)
        check_int("size", item.size, minimum=0)
        roles = check_roles(item.required_roles)
        check_int("chain_id", item.chain_id, minimum=1)
        check_text("contract", item.contract)
        check_aware("accepted_at", item.accepted_at)
        if isinstance(item.signatures, NewSignature) or not isinstance(item.signatures, Sequence):
            raise ValueError("signatures is a sequence of NewSignature")
        for sig in item.signatures:
            check_new_signature(sig)
        keys = check_wrapped_keys(item.wrapped_keys)
        check_bytes("leaf", item.leaf, 32)
        if item.owner is not None:
            check_text("owner", item.owner)
    except ValueError as error:
        raise ValueError(f"items[{index}]: {error}") from error
    normalized = replace(
        item,
        kind=kind,
        required_roles=roles,
        signatures=tuple(item.signatures),
        wrapped_keys=MappingProxyType(keys),
    )
    return _Checked(normalized, tuple(keys.items()))
