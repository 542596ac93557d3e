"""The submit path of :meth:`Database.submit_many <ledger.db.database.Database.submit_many>`:
checking each item for form (a fast path for well-formed items, the detailed checks with their
error messages otherwise), building the records it returns without their ``__init__``, and
writing the accepted versions, signatures, wrapped document keys and outbox rows through the
driver's executemany (:class:`_DriverInsert`), with values converted as the columns' types would.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from ledger._ids import AGREEMENT_ID, ROLE
from ledger.agreement import (
    MAX_SIGNERS,
    AgreementVersion,
    SignatureRecord,
    VersionKind,
    VersionStatus,
)
from ledger.db import schema
from ledger.db._checks import (
    _MIN_SIGNATURE_BYTES,
    _check_agreement_id,
    _check_aware,
    _check_bytes,
    _check_int,
    _check_new_signature,
    _check_roles,
    _check_text,
    _check_version,
    _check_wrapped_keys,
)
from ledger.db.records import NewSignature, NewVersion

_av = schema.agreement_versions
_sig = schema.signatures
_ob = schema.outbox
_dk = schema.document_keys


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
        },
    )


def _record(cls: type[_R], fields: dict[str, Any]) -> _R:
    """``cls(**fields)`` for a frozen dataclass of :mod:`ledger.db.records` (no ``__post_init__``,
    no slots), given every field, without its ``__init__``: that sets each field through
    ``object.__setattr__``, which costs submit_many several microseconds per item. A test checks
    that the records equal the ones ``__init__`` builds."""
    record = object.__new__(cls)
    record.__dict__.update(fields)
    return record


class _DriverInsert:
    """An INSERT of fixed columns run straight through the driver's executemany, as
    :func:`~ledger.db._outbox._insert_proofs` does: SQLAlchemy's per-row parameter processing is
    most of the cost of submit_many. The statement is compiled by SQLAlchemy once per dialect
    (paramstyle, PostgreSQL's casts); the caller passes rows (tuples, in ``columns`` order) of
    values already converted exactly as the columns' types would convert them (see
    :func:`_insert_accepted`). ``exec_driver_sql`` keeps SQLAlchemy's error translation and cursor
    events."""

    def __init__(self, table: sa.Table, *columns: str) -> None:
        self._statement = sa.insert(table).values({name: sa.bindparam(name) for name in columns})
        self._columns = columns
        self._sql: dict[str, tuple[str, bool]] = {}  # per dialect: SQL, positional?

    def executemany(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
        sql = self._sql.get(conn.dialect.name)
        if sql is None:
            # for_executemany: as SQLAlchemy compiles it for many rows (no RETURNING)
            compiled = self._statement.compile(dialect=conn.dialect, for_executemany=True)
            assert isinstance(compiled, SQLCompiler)
            positional = compiled.positiontup is not None
            if positional:  # SQLite: "?" placeholders, in the order of the columns
                assert tuple(compiled.positiontup or ()) == self._columns, compiled.string
            else:  # psycopg: "%(name)s" placeholders
                assert set(compiled.binds) == set(self._columns), compiled.string
            sql = self._sql[conn.dialect.name] = (compiled.string, positional)
        statement, positional = sql
        if positional:
            conn.exec_driver_sql(statement, rows)
        else:
            columns = self._columns
            conn.exec_driver_sql(statement, [dict(zip(columns, row, strict=True)) for row in rows])


_INSERT_VERSION = _DriverInsert(
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
)
_INSERT_SIGNATURE = _DriverInsert(
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
_INSERT_KEY = _DriverInsert(_dk, "agreement_id", "version", "reader_fingerprint", "wrapped_key")
_INSERT_OUTBOX = _DriverInsert(_ob, "agreement_id", "version", "leaf", "accepted_at")


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


def _key_rows(
    agreement_id: str, version: int, wrapped_keys: Mapping[bytes, bytes]
) -> list[dict[str, Any]]:
    return [
        {
            "agreement_id": agreement_id,
            "version": version,
            "reader_fingerprint": fingerprint,
            "wrapped_key": wrapped,
        }
        for fingerprint, wrapped in wrapped_keys.items()
    ]


class _Checked(NamedTuple):
    """A submit_many item checked for form: the item (its kind a :class:`VersionKind`, its roles
    and signatures tuples) and its wrapped keys as they were checked (fingerprint, key)."""

    item: NewVersion
    wrapped_keys: tuple[tuple[bytes, bytes], ...]


def _checked_new_version(index: int, item: NewVersion) -> _Checked:
    """``item`` checked for form (not against the stored state), normalized; ValueError naming
    the item's index if it is malformed."""
    # The common case (exact types, as the service builds items) is checked by _well_formed;
    # anything else, valid or not, gets the detailed checks (and their error messages).
    if type(item) is NewVersion and _well_formed(item):
        keys = tuple(item.wrapped_keys.items())  # what is checked is what is written
        for fingerprint, wrapped in keys:
            if not (
                type(fingerprint) is bytes
                and len(fingerprint) == _HASH_BYTES
                and type(wrapped) is bytes
                and wrapped
            ):
                break
        else:
            return _Checked(item, keys)
    return _checked_in_detail(index, item)


_HASH_BYTES = 32
_PUBLIC_KEY_BYTES = 65


def _well_formed(item: NewVersion) -> bool:
    """Whether ``item`` passes every check of :func:`_checked_in_detail` (but its wrapped keys')
    and needs no normalizing; False may also mean: check it in detail."""
    agreement_id = item.agreement_id
    roles = item.required_roles
    accepted_at = item.accepted_at
    signatures = item.signatures
    if not (
        type(agreement_id) is str
        and AGREEMENT_ID.match(agreement_id)
        and type(item.version) is int
        and item.version >= 1
        and type(item.kind) is VersionKind
        and type(item.document_sm3) is bytes
        and len(item.document_sm3) == _HASH_BYTES
        and type(item.document_cid) is str
        and item.document_cid
        and type(item.media_type) is str
        and item.media_type
        and type(item.size) is int
        and item.size >= 0
        and type(roles) is tuple
        and 0 < len(roles) <= MAX_SIGNERS
        and len(set(roles)) == len(roles)
        and type(item.chain_id) is int
        and item.chain_id >= 1
        and type(item.contract) is str
        and item.contract
        and type(accepted_at) is datetime
        and accepted_at.utcoffset() is not None
        and type(signatures) is tuple
        and (type(item.wrapped_keys) is dict or isinstance(item.wrapped_keys, Mapping))
        and type(item.leaf) is bytes
        and len(item.leaf) == _HASH_BYTES
    ):
        return False
    for role in roles:
        if type(role) is not str or not ROLE.match(role):
            return False
    for sig in signatures:
        if not (
            type(sig) is NewSignature
            and type(sig.role) is str
            and ROLE.match(sig.role)
            and type(sig.signed_at) is datetime
            and sig.signed_at.utcoffset() is not None
            and type(sig.public_key) is bytes
            and len(sig.public_key) == _PUBLIC_KEY_BYTES
            and type(sig.distid) is bytes
            and sig.distid
            and type(sig.signature) is bytes
            and len(sig.signature) >= _MIN_SIGNATURE_BYTES
        ):
            return False
    return True


def _checked_in_detail(index: int, item: NewVersion) -> _Checked:
    """:func:`_checked_new_version`, one check at a time: the precise ValueError."""
    try:
        if not isinstance(item, NewVersion):
            raise ValueError(f"expected a NewVersion, got {type(item).__name__}")
        _check_agreement_id(item.agreement_id)
        _check_version(item.version)
        kind = VersionKind(item.kind)
        _check_bytes("document_sm3", item.document_sm3, 32)
        _check_text("document_cid", item.document_cid)
        _check_text("media_type", item.media_type)
        _check_int("size", item.size, minimum=0)
        roles = _check_roles(item.required_roles)
        _check_int("chain_id", item.chain_id, minimum=1)
        _check_text("contract", item.contract)
        _check_aware("accepted_at", item.accepted_at)
        if isinstance(item.signatures, NewSignature) or not isinstance(item.signatures, Sequence):
            raise ValueError("signatures is a sequence of NewSignature")
        for sig in item.signatures:
            _check_new_signature(sig)
        keys = _check_wrapped_keys(item.wrapped_keys)
        _check_bytes("leaf", item.leaf, 32)
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
