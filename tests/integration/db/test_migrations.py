"""Alembic migrations: empty -> head, head -> base -> head, and they match ledger.db.schema."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ledger.db import current_revision, downgrade, head_revision, open_database, upgrade
from ledger.db.schema import batches, metadata, outbox
from ledger.merkle import MerkleTree
from ledger.settings import Settings
from tests.integration.db._support import (
    accepted,
    access_receipt,
    at,
    create_draft,
    digest,
    erasure,
    integrity_error,
)

TABLES = {
    "agreement_versions",
    "signatures",
    "document_keys",
    "outbox",
    "batches",
    "batch_attempts",
    "inclusion_proofs",
    "request_nonces",
    "erasures",
    "access_receipts",
    "grant_uses",
    "receipt_proofs",
    "attestations",
}
#: The tables revisions 0006 and 0007 add.
RECEIPT_TABLES = {"access_receipts", "grant_uses", "receipt_proofs", "attestations"}


def _tables(url: str) -> set[str]:
    db = open_database(url)
    try:
        return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
    finally:
        db.close()


def test_upgrade_from_empty_to_head(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    assert _tables(empty_database_url) == set()
    upgrade(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    assert _tables(empty_database_url) == TABLES
    upgrade(empty_database_url)  # at head already: nothing to do
    assert current_revision(empty_database_url) == head_revision()


def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    db = open_database(database_url)
    accepted(db, 2)
    db.close()
    downgrade(database_url, "base")
    assert current_revision(database_url) is None
    assert _tables(database_url) == set()
    upgrade(database_url)
    assert _tables(database_url) == TABLES
    db = open_database(database_url)
    try:
        assert db.counts().accepted == 0
        accepted(db, 1)
        assert db.counts().accepted == 1
    finally:
        db.close()


def test_document_keys_revision_down_and_up_keeps_the_versions(database_url: str) -> None:
    db = open_database(database_url)
    try:
        [(agreement_id, _)] = accepted(db, 1)
        keyed = create_draft(db, wrapped_keys={b"\x01" * 32: b"wrapped"})
        db.erase_document_keys(erasure(agreement_id, at(9)))
    finally:
        db.close()
    downgrade(database_url, "0001")
    assert current_revision(database_url) == "0001"
    assert _tables(database_url) == TABLES - RECEIPT_TABLES - {
        "document_keys",
        "batch_attempts",
        "request_nonces",
        "erasures",
    }
    upgrade(database_url)
    db = open_database(database_url)
    try:
        assert db.get_version(agreement_id, 1).keys_erased_at is None  # the column was dropped
        assert db.document_keys(keyed.agreement_id, 1) == {}  # and the table
        assert db.counts().accepted == 1
    finally:
        db.close()


def test_batch_attempts_revision_up_from_0002_keeps_each_batchs_transaction(
    database_url: str,
) -> None:
    db = open_database(database_url)
    try:
        accepted(db, 3)
        done = db.open_batch(max_size=2, now=at(10))
        assert done is not None
        db.record_submission(
            done.batch_id, raw_tx=b"\x02first", tx_hash=b"\x01" * 32, nonce=0, root=b"\x0a" * 32
        )
        db.record_anchored(
            done.batch_id,
            block_number=7,
            block_hash=b"\x0b" * 32,
            anchored_at=at(11),
            proofs={0: [b"\x0c" * 32], 1: [b"\x0d" * 32]},
        )
        pending = db.open_batch(max_size=2, now=at(12))
        assert pending is not None
        db.record_submission(
            pending.batch_id, raw_tx=b"\x02second", tx_hash=b"\x02" * 32, nonce=1, root=b"\x0e" * 32
        )
    finally:
        db.close()
    downgrade(database_url, "0002")
    assert _tables(database_url) == TABLES - RECEIPT_TABLES - {
        "batch_attempts",
        "request_nonces",
        "erasures",
    }
    upgrade(database_url)  # 0002 -> 0003: each batch's transaction becomes its attempt 0
    db = open_database(database_url)
    try:
        for batch_id, raw_tx, tx_hash, nonce in (
            (done.batch_id, b"\x02first", b"\x01" * 32, 0),
            (pending.batch_id, b"\x02second", b"\x02" * 32, 1),
        ):
            [attempt] = db.batch_attempts(batch_id)
            assert (attempt.attempt, attempt.raw_tx, attempt.tx_hash, attempt.nonce) == (
                0,
                raw_tx,
                tx_hash,
                nonce,
            )
        assert db.get_batch(done.batch_id).status == "anchored"
        assert db.get_batch(pending.batch_id).status == "submitted"
    finally:
        db.close()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_migrated_schema_matches_the_tables_module(database_url: str) -> None:
    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        return not (type_ == "index" and name == "uq_batches_one_unfinished")

    db = open_database(database_url)
    try:
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_object}
            )
            differences = compare_metadata(context, metadata)
    finally:
        db.close()
    assert differences == []


def test_the_database_holds_at_most_one_unfinished_batch(database_url: str) -> None:
    """The expression index autogenerate cannot compare, checked by what it does."""
    row = {"size": 1, "first_seq": 1, "last_seq": 1, "created_at": datetime.now(UTC)}
    db = open_database(database_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.insert(batches).values(status="open", **row))
        with (
            pytest.raises(
                sa.exc.IntegrityError,
                match=integrity_error(
                    "(sqlite3.IntegrityError) UNIQUE constraint failed:"
                    " index 'uq_batches_one_unfinished'",
                    "(psycopg.errors.UniqueViolation) duplicate key value violates unique"
                    ' constraint "uq_batches_one_unfinished"',
                ),
            ),
            db.engine.begin() as conn,
        ):
            conn.execute(sa.insert(batches).values(status="open", **row))
    finally:
        db.close()


def test_concurrent_upgrades_both_succeed(empty_database_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            upgrade(empty_database_url)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(empty_database_url) == head_revision()


def test_default_url_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    url = settings.resolved_database_url
    assert url == f"sqlite:///{tmp_path / 'state' / 'ledger.db'}"
    assert Settings(database_url="postgresql://h/db").resolved_database_url == "postgresql://h/db"
    upgrade(url)  # creates the data dir and the file
    db = open_database(url)
    try:
        with db.engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in (
                    "journal_mode",
                    "synchronous",
                    "foreign_keys",
                    "busy_timeout",
                    "secure_delete",
                )
            }
    finally:
        db.close()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 15000,
        "secure_delete": 1,
    }
    assert (tmp_path / "state" / "ledger.db").is_file()


def test_owners_and_erasures_revision_down_and_up_keeps_the_versions(database_url: str) -> None:
    db = open_database(database_url)
    try:
        owned = create_draft(db, owner="broker-a")
        assert db.get_version(owned.agreement_id, 1).owner == "broker-a"
        db.erase_document_keys(erasure(owned.agreement_id, at(9)))
    finally:
        db.close()
    downgrade(database_url, "0004")
    assert _tables(database_url) == TABLES - RECEIPT_TABLES - {"erasures"}
    upgrade(database_url)
    db = open_database(database_url)
    try:
        kept = db.get_version(owned.agreement_id, 1)
        assert (kept.owner, kept.keys_erased_at) == (None, at(9))  # the owner column was dropped
        assert db.erasures(owned.agreement_id) == []  # and the table
    finally:
        db.close()


def test_access_receipts_revision_up_from_0005_keeps_the_outbox_and_its_proofs(
    empty_database_url: str,
) -> None:
    """0005 -> 0006 on a database with an anchored batch and a queued version: the outbox is
    rebuilt (SQLite) or altered (PostgreSQL) with every row, seq and proof kept; then a receipt
    joins the queued version in the next batch, and going down drops the receipt alone. (The
    rows are written at head, before any receipt, and taken down to 0005 first: today's code
    does not run on a 0005 outbox.)"""
    upgrade(empty_database_url)
    db = open_database(empty_database_url)
    try:
        keys = accepted(db, 3)
        done = db.open_batch(max_size=2, now=at(10))
        assert done is not None
        tree = MerkleTree([leaf.leaf for leaf in done.leaves])
        db.record_submission(
            done.batch_id, raw_tx=b"\x02first", tx_hash=b"\x01" * 32, nonce=0, root=tree.root
        )
        db.record_anchored(
            done.batch_id,
            block_number=7,
            block_hash=b"\x0b" * 32,
            anchored_at=at(11),
            proofs={0: tree.inclusion_proof(0), 1: tree.inclusion_proof(1)},
        )
        before = [db.inclusion(*key) for key in keys[:2]]
        seqs = [leaf.seq for leaf in done.leaves]
    finally:
        db.close()
    downgrade(empty_database_url, "0005")
    assert _tables(empty_database_url) == TABLES - RECEIPT_TABLES

    upgrade(empty_database_url)

    assert current_revision(empty_database_url) == head_revision()
    db = open_database(empty_database_url)
    try:
        checks = {check["name"] for check in sa.inspect(db.engine).get_check_constraints("outbox")}
        assert checks == {
            "ck_outbox_leaf_length",
            "ck_outbox_claimed_has_leaf_index",
            "ck_outbox_leaf_of_one",
        }
        assert [db.inclusion(*key) for key in keys[:2]] == before
        assert db.get_batch(done.batch_id).leaves == done.leaves
        assert db.counts().unbatched == 1
        receipt = access_receipt(digest("grant"), at(12))
        db.record_receipt(receipt, max_uses=1)
        mixed = db.open_batch(max_size=10, now=at(13))
        assert mixed is not None
        assert [(leaf.seq, leaf.agreement_id, leaf.receipt_id) for leaf in mixed.leaves] == [
            (seqs[-1] + 1, keys[2][0], None),
            (seqs[-1] + 2, None, receipt.receipt_id),  # seq goes on from the old high mark
        ]
        with (
            pytest.raises(
                sa.exc.IntegrityError,
                match=integrity_error(
                    "(sqlite3.IntegrityError) CHECK constraint failed: ck_outbox_leaf_of_one",
                    "(psycopg.errors.CheckViolation) new row for relation"
                    ' "outbox" violates check constraint "ck_outbox_leaf_of_one"',
                ),
            ),
            db.engine.begin() as conn,
        ):
            conn.execute(
                sa.insert(outbox).values(leaf=b"\x01" * 32, accepted_at=at(14), receipt_id=None)
            )
    finally:
        db.close()
    downgrade(empty_database_url, "0005")
    db = open_database(empty_database_url)
    try:
        assert [db.inclusion(*key) for key in keys[:2]] == before
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT agreement_id FROM outbox ORDER BY seq")).all()
        assert [row[0] for row in rows] == [key[0] for key in keys]
    finally:
        db.close()
    assert _tables(empty_database_url) == TABLES - RECEIPT_TABLES
