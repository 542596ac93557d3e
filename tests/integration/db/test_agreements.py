"""Agreement versions and signatures: draft -> signed -> accepted, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ledger.db import (
    Conflict,
    Database,
    NotFound,
    VersionKind,
    VersionStatus,
)
from ledger.db.schema import outbox
from tests.integration.db._support import (
    CONTRACT,
    ROLES,
    T0,
    accepted,
    at,
    create_draft,
    digest,
    integrity_error,
    leaf_of,
    new_agreement_id,
    sign,
)


def test_draft_sign_accept_round_trip(database: Database) -> None:
    draft = create_draft(database)
    agreement_id = draft.agreement_id
    assert draft.status is VersionStatus.DRAFT
    assert draft.kind is VersionKind.AGREEMENT
    assert draft.document_sm3 == digest("document", agreement_id)
    assert draft.required_roles == ROLES
    assert (draft.chain_id, draft.contract, draft.size) == (31337, CONTRACT, 1234)
    assert draft.created_at == T0 and draft.created_at.tzinfo is UTC
    assert draft.accepted_at is None and draft.signatures == ()
    assert database.get_version(agreement_id, 1) == draft
    assert database.latest_version(agreement_id) == draft

    for role in ROLES:
        sign(database, agreement_id, 1, role)
    signed = database.get_version(agreement_id, 1)
    assert [s.role for s in signed.signatures] == sorted(ROLES)
    customer = next(s for s in signed.signatures if s.role == "customer")
    assert len(customer.public_key) == 65 and customer.distid == b"1234567812345678"
    assert customer.signed_at == at(1) and customer.recorded_at.tzinfo is UTC

    done = database.accept(agreement_id, 1, leaf=leaf_of(agreement_id, 1), accepted_at=at(3))
    assert done.status is VersionStatus.ACCEPTED
    assert done.accepted_at == at(3)
    assert done.signatures == signed.signatures
    counts = database.counts()
    assert (counts.drafts, counts.accepted, counts.anchored, counts.unbatched) == (0, 1, 0, 1)
    assert counts.oldest_unanchored_at == at(3)
    with database.engine.connect() as conn:
        row = conn.execute(sa.select(outbox)).one()
    assert (row.agreement_id, row.version, bytes(row.leaf)) == (
        agreement_id,
        1,
        leaf_of(agreement_id, 1),
    )
    assert row.batch_id is None and row.leaf_index is None


def test_a_role_signs_a_version_once(database: Database) -> None:
    draft = create_draft(database)
    sign(database, draft.agreement_id, 1, "customer")
    with pytest.raises(Conflict, match="already signed by 'customer'"):
        sign(database, draft.agreement_id, 1, "customer")
    assert len(database.get_version(draft.agreement_id, 1).signatures) == 1


def test_only_required_roles_sign(database: Database) -> None:
    draft = create_draft(database)
    with pytest.raises(Conflict, match="not 'notary'"):
        sign(database, draft.agreement_id, 1, "notary")


def test_only_drafts_are_signed(database: Database) -> None:
    [(agreement_id, version)] = accepted(database)
    with pytest.raises(Conflict, match="only drafts are signed"):
        sign(database, agreement_id, version, "customer")


def test_accepting_twice_is_refused_and_leaves_one_outbox_row(database: Database) -> None:
    [(agreement_id, version)] = accepted(database)
    with pytest.raises(Conflict, match="already accepted"):
        database.accept(agreement_id, version, leaf=leaf_of(agreement_id, 2), accepted_at=at(9))
    assert database.counts().unbatched == 1
    assert database.get_version(agreement_id, version).accepted_at == at(3)


def test_accepting_needs_every_required_signature(database: Database) -> None:
    draft = create_draft(database)
    sign(database, draft.agreement_id, 1, "broker")
    with pytest.raises(Conflict, match="still needs signatures of \\['customer'\\]"):
        database.accept(draft.agreement_id, 1, leaf=b"\x01" * 32, accepted_at=at(3))
    assert database.get_version(draft.agreement_id, 1).status is VersionStatus.DRAFT
    assert database.counts().unbatched == 0


def test_versions_are_gapless_and_a_void_is_a_new_version(database: Database) -> None:
    [(agreement_id, _)] = accepted(database)
    with pytest.raises(Conflict, match="next version is 2, not 1"):
        create_draft(database, agreement_id, 1)
    with pytest.raises(Conflict, match="next version is 2, not 3"):
        create_draft(database, agreement_id, 3)
    void = create_draft(database, agreement_id, 2, kind="void")
    assert void.kind is VersionKind.VOID
    assert database.latest_version(agreement_id) == void
    assert database.get_version(agreement_id, 1).status is VersionStatus.ACCEPTED  # kept
    for role in ROLES:
        sign(database, agreement_id, 2, role)
    database.accept(agreement_id, 2, leaf=leaf_of(agreement_id, 2), accepted_at=at(5))
    with pytest.raises(Conflict, match="is void"):
        create_draft(database, agreement_id, 3)
    with pytest.raises(Conflict, match="nothing to void"):
        create_draft(database, new_agreement_id(), 1, kind="void")


def test_missing_things_are_not_found(database: Database) -> None:
    agreement_id = new_agreement_id()
    with pytest.raises(NotFound, match=f"^no version 1 of {agreement_id}$"):
        database.get_version(agreement_id, 1)
    with pytest.raises(NotFound, match=f"^no agreement {agreement_id}$"):
        database.latest_version(agreement_id)
    with pytest.raises(NotFound, match=f"^no version 1 of {agreement_id}$"):
        sign(database, agreement_id, 1, "customer")
    with pytest.raises(NotFound, match=f"^no version 1 of {agreement_id}$"):
        database.accept(agreement_id, 1, leaf=b"\x01" * 32, accepted_at=at(3))
    with pytest.raises(
        NotFound, match=rf"^{agreement_id} v1 has no inclusion proof \(not anchored\)$"
    ):
        database.inclusion(agreement_id, 1)


def test_malformed_arguments_are_refused_before_the_database(database: Database) -> None:
    with pytest.raises(ValueError, match="agr_"):
        create_draft(database, "agr_XYZ")
    draft = create_draft(database)
    with pytest.raises(ValueError, match="aware"):
        database.accept(draft.agreement_id, 1, leaf=b"\x01" * 32, accepted_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="32 bytes"):
        database.accept(draft.agreement_id, 1, leaf=b"\x01" * 31, accepted_at=at(3))


def test_the_database_itself_refuses_malformed_rows(database: Database) -> None:
    """CHECK constraints back the Python checks up (a bug cannot store a 31-byte leaf)."""
    [(agreement_id, _)] = accepted(database)
    create_draft(database, agreement_id, 2)
    with (
        pytest.raises(
            sa.exc.IntegrityError,
            match=integrity_error(
                "(sqlite3.IntegrityError) CHECK constraint failed: ck_outbox_leaf_length",
                '(psycopg.errors.CheckViolation) new row for relation "outbox" violates check'
                ' constraint "ck_outbox_leaf_length"',
            ),
        ),
        database.engine.begin() as conn,
    ):
        conn.execute(
            sa.insert(outbox).values(
                agreement_id=agreement_id, version=2, leaf=b"\x01" * 31, accepted_at=T0
            )
        )
    with (
        pytest.raises(
            sa.exc.IntegrityError,
            match=integrity_error(
                "(sqlite3.IntegrityError) FOREIGN KEY constraint failed",
                '(psycopg.errors.ForeignKeyViolation) insert or update on table "outbox" violates'
                ' foreign key constraint "fk_outbox_agreement_id_version_agreement_versions"',
            ),
        ),
        database.engine.begin() as conn,
    ):  # no such version
        conn.execute(
            sa.insert(outbox).values(
                agreement_id=agreement_id, version=7, leaf=b"\x01" * 32, accepted_at=T0
            )
        )
