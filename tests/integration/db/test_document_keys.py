"""Wrapped document keys: stored with the version, erased for every version (crypto-shredding)."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.db import Database, NotFound, open_database, upgrade
from ledger.db.schema import document_keys
from tests.integration.db._support import (
    AGREEMENT_ID,
    ROLES,
    at,
    create_draft,
    erasure,
    integrity_error,
    keys_of,
    leaf_of,
    new_agreement_id,
    new_version,
    public_key_of,
    sign,
)


def test_keys_are_stored_with_the_draft(database: Database) -> None:
    agreement_id = new_agreement_id()
    keys = keys_of(agreement_id, 1, readers=3)
    draft = create_draft(database, agreement_id, wrapped_keys=keys)
    assert draft.keys_erased_at is None
    assert database.document_keys(agreement_id, 1) == keys
    bare = create_draft(database)  # keys are optional
    assert database.document_keys(bare.agreement_id, 1) == {}
    with pytest.raises(NotFound, match=f"^no version 2 of {agreement_id}$"):
        database.document_keys(agreement_id, 2)
    with pytest.raises(NotFound, match=f"^no version 1 of {AGREEMENT_ID}$"):
        database.document_keys(new_agreement_id(), 1)


def test_malformed_keys_refuse_the_draft(database: Database) -> None:
    for keys, message in (
        ({b"\x01" * 31: b"wrapped"}, "reader key fingerprint must be 32 bytes, got 31"),
        ({b"\x01" * 32: b""}, "wrapped key must not be empty"),
        ({"ab" * 16: b"wrapped"}, "reader key fingerprint must be bytes, got str"),
    ):
        agreement_id = new_agreement_id()
        with pytest.raises(ValueError, match=f"^{message}$"):
            create_draft(database, agreement_id, wrapped_keys=keys)  # type: ignore[arg-type]
        with pytest.raises(NotFound, match=f"^no version 1 of {agreement_id}$"):
            database.get_version(agreement_id, 1)  # nothing written


def test_keys_are_stored_with_submit_many(database: Database) -> None:
    item = new_version()
    [stored] = database.submit_many([item])
    assert not isinstance(stored, Exception)
    assert database.document_keys(item.agreement_id, 1) == dict(item.wrapped_keys)
    [bare] = database.submit_many([new_version(wrapped_keys={})])
    assert not isinstance(bare, Exception)
    assert database.document_keys(bare.agreement_id, 1) == {}


def test_erasure_covers_every_version_and_is_idempotent(database: Database) -> None:
    agreement_id = new_agreement_id()
    database.submit_many([new_version(agreement_id, 1), new_version(agreement_id, 2)])
    create_draft(database, agreement_id, 3, wrapped_keys=keys_of(agreement_id, 3, readers=1))
    other = new_version()
    database.submit_many([other])

    assert database.erase_document_keys(erasure(agreement_id, at(100))).keys_erased == 2 + 2 + 1
    for version in (1, 2, 3):
        assert database.document_keys(agreement_id, version) == {}
        assert database.get_version(agreement_id, version).keys_erased_at == at(100)
    # Versions, signatures and the outbox stay; other agreements keep their keys.
    assert [v.version for v in database.versions(agreement_id)] == [1, 2, 3]
    assert len(database.get_version(agreement_id, 2).signatures) == len(ROLES)
    assert database.counts().unbatched == 3
    assert database.document_keys(other.agreement_id, 1) == dict(other.wrapped_keys)
    assert database.get_version(other.agreement_id, 1).keys_erased_at is None

    # A repeat deletes nothing and keeps the first erasure time.
    assert database.erase_document_keys(erasure(agreement_id, at(200))).keys_erased == 0
    assert {v.keys_erased_at for v in database.versions(agreement_id)} == {at(100)}
    # Each erasure is recorded: who, when, how, how many keys.
    assert database.erasures(agreement_id) == [
        replace(erasure(agreement_id, at(100)), keys_erased=5),
        erasure(agreement_id, at(200)),
    ]
    assert database.erasures(other.agreement_id) == []


def test_a_customer_erasure_is_recorded_with_its_key_and_nonce(database: Database) -> None:
    agreement_id = new_agreement_id()
    database.submit_many([new_version(agreement_id, 1)])
    key = public_key_of("customer")
    record = erasure(agreement_id, at(5), customer_key=key, nonce="n" * 22)
    assert database.erase_document_keys(record) == replace(record, keys_erased=2)
    assert database.erasures(agreement_id) == [replace(record, keys_erased=2)]
    with pytest.raises(ValueError, match=r"^a customer erasure, and only one, names"):
        database.erase_document_keys(replace(record, customer_key=None))
    with pytest.raises(ValueError, match=r"^customer_key must be 65 bytes, got 3$"):
        database.erase_document_keys(replace(record, customer_key=b"abc"))
    with pytest.raises(ValueError, match=r"^caller_member_id must be a non-empty string"):
        database.erase_document_keys(replace(record, caller_member_id=""))
    assert len(database.erasures(agreement_id)) == 1  # refusals recorded nothing


def test_the_draft_path_still_works_after_erasure(database: Database) -> None:
    agreement_id = new_agreement_id()
    create_draft(database, agreement_id, wrapped_keys=keys_of(agreement_id, 1))
    assert database.erase_document_keys(erasure(agreement_id, at(10))).keys_erased == 2
    for role in ROLES:
        sign(database, agreement_id, 1, role)
    done = database.accept(agreement_id, 1, leaf=leaf_of(agreement_id, 1), accepted_at=at(11))
    assert done.keys_erased_at == at(10)


def test_erasing_an_unknown_agreement_is_not_found(database: Database) -> None:
    with pytest.raises(NotFound, match=f"^no agreement {AGREEMENT_ID}$"):
        database.erase_document_keys(erasure(new_agreement_id(), at(1)))
    with pytest.raises(ValueError, match="agr_"):
        database.erase_document_keys(erasure("agr_nope", at(1)))
    with pytest.raises(ValueError, match="aware"):
        database.erase_document_keys(erasure(new_agreement_id(), at(1).replace(tzinfo=None)))


def test_the_database_refuses_malformed_key_rows(database: Database) -> None:
    draft = create_draft(database)
    row = {"agreement_id": draft.agreement_id, "version": 1}
    check = '(psycopg.errors.CheckViolation) new row for relation "document_keys" violates check'
    for bad, refusal in (
        (
            {"reader_fingerprint": b"\x01" * 31, "wrapped_key": b"w"},
            integrity_error(
                "(sqlite3.IntegrityError) CHECK constraint failed:"
                " ck_document_keys_reader_fingerprint_length",
                f'{check} constraint "ck_document_keys_reader_fingerprint_length"',
            ),
        ),
        (
            {"reader_fingerprint": b"\x01" * 32, "wrapped_key": b""},
            integrity_error(
                "(sqlite3.IntegrityError) CHECK constraint failed:"
                " ck_document_keys_wrapped_key_not_empty",
                f'{check} constraint "ck_document_keys_wrapped_key_not_empty"',
            ),
        ),
        (
            {"reader_fingerprint": b"\x01" * 32, "wrapped_key": b"w", "version": 2},  # no v2
            integrity_error(
                "(sqlite3.IntegrityError) FOREIGN KEY constraint failed",
                '(psycopg.errors.ForeignKeyViolation) insert or update on table "document_keys"'
                " violates foreign key constraint"
                ' "fk_document_keys_agreement_id_version_agreement_versions"',
            ),
        ),
    ):
        with (
            pytest.raises(sa.exc.IntegrityError, match=refusal),
            database.engine.begin() as conn,
        ):
            conn.execute(sa.insert(document_keys).values(**(row | bad)))


def test_erased_keys_are_gone_from_the_sqlite_files(tmp_path: Path) -> None:
    """secure_delete: after erasure and a truncating WAL checkpoint, no erased wrapped key is
    anywhere in the database file or its WAL, while the kept ones are.

    Only the wrapped keys are checked: reader fingerprints (SM3 of a public key, not secret)
    are also keys of the primary-key index, and SQLite may leave a stale copy of an index
    entry in a page's unused space when it rebalances the b-tree (seen in a few % of runs).
    Wrapped keys live only in the table's rows, which are appended in rowid order.
    """
    path = tmp_path / "ledger.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = open_database(url)
    erased: list[bytes] = []
    kept: list[bytes] = []
    try:
        items = []
        for index in range(200):
            # Small keys live in the table's b-tree pages, large ones spill to overflow pages.
            size = 120 if index % 4 else 3000
            keys = {secrets.token_bytes(32): secrets.token_bytes(size) for _ in range(2)}
            items.append(new_version(wrapped_keys=keys))
            (erased if index % 2 == 0 else kept).extend(keys.values())
        db.submit_many(items)
        draft_keys = {secrets.token_bytes(32): secrets.token_bytes(120)}
        draft = create_draft(db, wrapped_keys=draft_keys)
        erased.extend(draft_keys.values())
        for agreement_id in [item.agreement_id for item in items[::2]] + [draft.agreement_id]:
            assert db.erase_document_keys(erasure(agreement_id, at(50))).keys_erased in (1, 2)
    finally:
        db.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    assert busy == 0
    wal = path.with_name(path.name + "-wal")
    on_disk = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert [value for value in erased if value in on_disk] == []
    assert all(value in on_disk for value in kept)  # the scan does see what it looks for
