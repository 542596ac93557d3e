"""submit_many writes its rows straight through the driver (values converted by hand, not by the
columns' SQLAlchemy types): they must be stored exactly as SQLAlchemy Core stores them, on both
backends."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.db import (
    AgreementVersion,
    Conflict,
    Database,
    NewSignature,
    NewVersion,
    SignatureRecord,
    VersionKind,
    VersionStatus,
    open_database,
    schema,
    upgrade,
)
from tests._fixtures.database import PostgresServer
from tests.integration.db._support import at, new_agreement_id, new_version

#: Every table submit_many writes, with the columns that order its rows.
TABLES = {
    schema.agreement_versions: ("agreement_id", "version"),
    schema.signatures: ("agreement_id", "version", "role"),
    schema.document_keys: ("agreement_id", "version", "reader_fingerprint"),
    schema.outbox: ("seq",),
}


class _Bytes(bytes):
    """A bytes subclass: accepted by the checks, stored as the bytes it is."""


def _items() -> list[NewVersion]:
    """Accepted items covering the conversions: times in several zones (one crossing midnight
    and a year, one before year 1000, microseconds and none), roles unsorted, a void in the
    same call, no keys and three keys, non-ASCII text, a large size, blobs with NUL and 0xff,
    and items the checks normalize (kind as text, lists, a mapping proxy)."""
    first = new_version(accepted_at=at(3))
    void = new_version(first.agreement_id, 2, kind=VersionKind.VOID, accepted_at=at(4))
    west = timezone(timedelta(hours=-5))
    plus_one = timezone(timedelta(hours=1))
    odd = new_version(
        roles=("witness", "customer", "broker"),
        signed_by=("witness", "broker", "customer"),
        accepted_at=datetime(2026, 1, 1, 0, 30, tzinfo=plus_one),  # 2025-12-31 23:30 UTC
        wrapped_keys={},
    )
    odd = dataclasses.replace(
        odd,
        media_type='text/plain; charset=utf-8; name="合同 ✓.txt"',
        size=2**40 + 7,
        document_sm3=b"\x00" * 16 + b"\xff" * 16,
        leaf=b"\xff" * 31 + b"\x00",
        signatures=tuple(
            dataclasses.replace(sig, signed_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=west))
            for sig in odd.signatures
        ),
    )
    ancient = new_version(accepted_at=datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    three_keys = new_version(wrapped_keys={bytes([n]) * 32: bytes([n, 0, 255]) for n in (1, 2, 3)})
    loose = new_version()
    loose = dataclasses.replace(
        loose,
        kind="agreement",  # type: ignore[arg-type]
        required_roles=list(loose.required_roles),  # type: ignore[arg-type]
        signatures=list(loose.signatures),  # type: ignore[arg-type]
        wrapped_keys=MappingProxyType(dict(loose.wrapped_keys)),
        document_sm3=_Bytes(loose.document_sm3),
    )
    return [first, odd, void, ancient, three_keys, loose]


def _normalized(item: NewVersion) -> NewVersion:
    return dataclasses.replace(
        item,
        kind=VersionKind(item.kind),
        required_roles=tuple(item.required_roles),
        signatures=tuple(item.signatures),
    )


def _insert_with_sqlalchemy(conn: sa.Connection, items: Sequence[NewVersion]) -> None:
    """What submit_many wrote before it went through the driver: Core INSERTs with the
    values as Python objects, converted by the columns' types."""
    items = [_normalized(item) for item in items]
    conn.execute(
        sa.insert(schema.agreement_versions),
        [
            {
                "agreement_id": item.agreement_id,
                "version": item.version,
                "kind": item.kind.value,
                "status": VersionStatus.ACCEPTED.value,
                "document_sm3": item.document_sm3,
                "document_cid": item.document_cid,
                "media_type": item.media_type,
                "size": item.size,
                "required_roles": list(item.required_roles),
                "chain_id": item.chain_id,
                "contract": item.contract,
                "created_at": item.accepted_at,
                "accepted_at": item.accepted_at,
            }
            for item in sorted(items, key=lambda item: (item.agreement_id, item.version))
        ],
    )
    conn.execute(
        sa.insert(schema.signatures),
        [
            {
                "agreement_id": item.agreement_id,
                "version": item.version,
                "role": sig.role,
                "signed_at": sig.signed_at,
                "public_key": sig.public_key,
                "distid": sig.distid,
                "signature": sig.signature,
                "recorded_at": item.accepted_at,
            }
            for item in items
            for sig in item.signatures
        ],
    )
    conn.execute(
        sa.insert(schema.document_keys),
        [
            {
                "agreement_id": item.agreement_id,
                "version": item.version,
                "reader_fingerprint": fingerprint,
                "wrapped_key": wrapped,
            }
            for item in items
            for fingerprint, wrapped in item.wrapped_keys.items()
        ],
    )
    conn.execute(
        sa.insert(schema.outbox),
        [
            {
                "agreement_id": item.agreement_id,
                "version": item.version,
                "leaf": item.leaf,
                "accepted_at": item.accepted_at,
            }
            for item in items
        ],
    )


def _stored_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables submit_many writes, as the database stores it: on SQLite each
    value's storage class and SQL literal (``quote``), on PostgreSQL the row's text form (bytea
    in hex, timestamptz in UTC, json verbatim)."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with db.engine.connect() as conn:
        for table, order in TABLES.items():
            if db.backend == "sqlite":
                values = ", ".join(f"typeof({c.name}), quote({c.name})" for c in table.c)
            else:
                values = f"{table.name}::text"
            rows[table.name] = [
                tuple(row)
                for row in conn.exec_driver_sql(
                    f"SELECT {values} FROM {table.name} ORDER BY {', '.join(order)}"
                )
            ]
    return rows


@pytest.fixture
def reference(
    database: Database, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Database]:
    """A second, empty database on the same backend as ``database``."""
    if database.backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'reference.db'}"
        upgrade(url)
        with open_database(url) as db:
            yield db
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        upgrade(server.url(name))
        with open_database(server.url(name)) as db:
            yield db
    finally:
        server.drop_database(name)


def test_rows_are_stored_as_sqlalchemy_stores_them(database: Database, reference: Database) -> None:
    items = _items()
    refused = new_version(version=2)  # its agreement has no version 1: a Conflict slot
    results = database.submit_many([*items[:2], refused, *items[2:]])
    assert isinstance(results[2], Conflict)
    assert not any(isinstance(r, Conflict) for r in results[:2] + results[3:])
    with reference.engine.begin() as conn:
        _insert_with_sqlalchemy(conn, items)
    stored, expected = _stored_rows(database), _stored_rows(reference)
    assert [len(rows) for rows in stored.values()] == [6, 13, 11, 6]
    assert stored == expected
    # and read back through SQLAlchemy, they are what submit_many returned
    for result in results[:2] + results[3:]:
        assert isinstance(result, AgreementVersion)
        assert result == database.get_version(result.agreement_id, result.version)


def test_times_are_stored_in_utc(database: Database) -> None:
    item = new_version(accepted_at=datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))))
    database.submit_many([item])
    with database.engine.connect() as conn:
        if database.backend == "sqlite":
            [(stored,)] = conn.exec_driver_sql("SELECT accepted_at FROM outbox").all()
            assert stored == "2025-12-31 23:30:00.000000"
        else:
            [(stored,)] = conn.exec_driver_sql("SELECT accepted_at::text FROM outbox").all()
            assert stored == "2025-12-31 23:30:00+00"


def test_results_are_ordinary_records(database: Database) -> None:
    """submit_many builds its results without the dataclasses' __init__: they must be the
    same records __init__ builds, with every field."""
    [result] = database.submit_many([new_version()])
    assert isinstance(result, AgreementVersion)
    for record, cls in [(result, AgreementVersion)] + [
        (sig, SignatureRecord) for sig in result.signatures
    ]:
        assert type(record) is cls
        assert list(vars(record)) == [field.name for field in dataclasses.fields(cls)]
        assert dataclasses.replace(record) == record  # rebuilt by __init__
        with pytest.raises(
            dataclasses.FrozenInstanceError, match=r"^cannot assign to field 'version'$"
        ):
            record.version = 9  # type: ignore[misc]


#: Malformations of the right shape but the wrong type or value, refused with the exact message:
#: falsy text, bools as ints, a string of roles, a bytearray, a list of pairs, a text time.
MALFORMED_WITH_MESSAGE: list[tuple[dict[str, Any], str]] = [
    ({"document_cid": ""}, "document_cid must be a non-empty string"),
    ({"media_type": ""}, "media_type must be a non-empty string"),
    ({"contract": ""}, "contract must be a non-empty string"),
    ({"chain_id": 0}, "chain_id must be an int >= 1"),
    ({"version": True}, "version must be an int >= 1"),
    ({"size": False}, "size must be an int >= 0"),
    ({"required_roles": ()}, "required_roles must be distinct and not empty"),
    ({"required_roles": "customer"}, "required_roles is a sequence of roles"),
    ({"agreement_id": "agr_" + "A" * 32}, "agreement IDs look like"),
    ({"document_sm3": bytearray(32)}, "document_sm3 must be bytes"),
    ({"wrapped_keys": [(b"\x01" * 32, b"k")]}, "wrapped_keys maps"),
    ({"accepted_at": "2026-03-01T00:00:00Z"}, "accepted_at must be an aware datetime"),
]


@pytest.mark.parametrize(("change", "message"), MALFORMED_WITH_MESSAGE)
def test_a_malformed_item_is_refused_with_what_is_malformed(
    database: Database, change: dict[str, Any], message: str
) -> None:
    good = new_version()
    with pytest.raises(ValueError, match=rf"items\[1\]: {message}"):
        database.submit_many([good, dataclasses.replace(new_version(), **change)])
    assert database.counts().accepted == 0


def test_signatures_must_be_new_signatures(database: Database) -> None:
    item = new_version()
    stray = dataclasses.replace(item, signatures=(*item.signatures[:1], "sig"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"items\[0\]: expected a NewSignature, got str"):
        database.submit_many([stray])
    single = dataclasses.replace(item, signatures=item.signatures[0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"items\[0\]: signatures is a sequence of NewSignature"):
        database.submit_many([single])


def test_a_new_signature_in_another_zone_is_returned_in_utc(database: Database) -> None:
    zone = timezone(timedelta(hours=9, minutes=30))
    item = new_version(agreement_id=new_agreement_id())
    sigs = tuple(
        NewSignature(
            role=sig.role,
            signed_at=datetime(2026, 3, 1, 8, 0, tzinfo=zone),
            public_key=sig.public_key,
            distid=sig.distid,
            signature=sig.signature,
        )
        for sig in item.signatures
    )
    [result] = database.submit_many([dataclasses.replace(item, signatures=sigs)])
    assert isinstance(result, AgreementVersion)
    assert {sig.signed_at for sig in result.signatures} == {
        datetime(2026, 2, 28, 22, 30, tzinfo=UTC)
    }
    assert all(sig.signed_at.tzinfo is UTC for sig in result.signatures)
    assert result == database.get_version(item.agreement_id, 1)
