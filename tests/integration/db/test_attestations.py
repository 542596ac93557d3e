"""This member's attestation rows and the per-use authorization's single use, on SQLite and
PostgreSQL: a row is stored pending, marked attested, deleted (crypto-shredding its key); a
second receipt for one per-use authorization is refused with nothing written, also when several
processes race for it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from ledger.chain.consent import Mode
from ledger.consent import AccessReceipt, new_receipt_id
from ledger.db import Conflict, Database, NotFound, open_database
from ledger.db.attestations import AttestationRow
from ledger.db.errors import UseAuthorizationReplayed
from tests.integration.db._support import access_receipt, at, digest, race

T = at(0).replace(microsecond=0)
GRANT = digest("grant", 7)


def _row(n: int = 1) -> AttestationRow:
    return AttestationRow(
        attestation_id=digest("attestation", n),
        attester="0x" + "ab" * 20,
        state="pending",
        content_cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        wrapped_key=b"LKW1 wrapped",
        created_at=T,
        supersedes=None,
    )


def test_a_row_is_stored_pending_then_attested_then_erased(database: Database) -> None:
    row = _row()
    database.add_attestation(row)
    assert database.attestation_row(row.attestation_id) == row
    with pytest.raises(Conflict, match="refused by the database"):
        database.add_attestation(row)
    database.mark_attested(row.attestation_id)
    assert database.attestation_row(row.attestation_id).state == "attested"
    assert database.delete_attestation(row.attestation_id) is True
    with pytest.raises(NotFound, match=f"no stored attestation 0x{row.attestation_id.hex()}"):
        database.attestation_row(row.attestation_id)
    assert database.delete_attestation(row.attestation_id) is False
    with pytest.raises(NotFound, match="no stored attestation"):
        database.mark_attested(row.attestation_id)


def test_malformed_rows_are_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="a new attestation row is pending"):
        database.add_attestation(dataclasses.replace(_row(), state="attested"))
    with pytest.raises(ValueError, match="attestation_id"):
        database.add_attestation(dataclasses.replace(_row(), attestation_id=b"\x01" * 31))
    with pytest.raises(NotFound, match="no stored attestation 0x"):
        database.attestation_row(digest("attestation", 1))


def _per_use(authorization: bytes, seconds: int = 0) -> AccessReceipt:
    return dataclasses.replace(
        access_receipt(GRANT, T + timedelta(seconds=seconds)),
        receipt_id=new_receipt_id(),
        mode=Mode.PER_USE,
        use_authorization=authorization,
    )


def test_a_per_use_authorization_is_recorded_once(database: Database) -> None:
    authorization = digest("use", 1)
    first = database.record_receipt(_per_use(authorization), max_uses=None)
    with pytest.raises(UseAuthorizationReplayed, match=f"keccak256:{authorization.hex()} was"):
        database.record_receipt(_per_use(authorization, 1), max_uses=None)
    assert [s.receipt for s in database.receipts_of_grant(GRANT)] == [first.receipt]
    assert database.uses_of(GRANT) == 1  # the refused one counted no use
    assert database.counts().unbatched == 1
    database.record_receipt(_per_use(digest("use", 2), 2), max_uses=None)  # another: fine
    # standing receipts carry none, and are not limited by the index
    database.record_receipt(access_receipt(GRANT, T), max_uses=None)
    database.record_receipt(access_receipt(GRANT, T), max_uses=None)
    assert database.uses_of(GRANT) == 4


def test_processes_racing_with_one_per_use_authorization_write_one_receipt(
    database_url: str,
) -> None:
    racers = 6
    authorization = digest("use", "raced")
    won, refused = race(
        database_url, racers, lambda db: _per_use(authorization), UseAuthorizationReplayed
    )
    assert (len(won), refused) == (1, racers - 1)
    with open_database(database_url) as db:
        assert [s.receipt.receipt_id for s in db.receipts_of_grant(GRANT)] == won
        assert db.uses_of(GRANT) == 1
