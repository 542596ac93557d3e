"""The report's formats: CSV (RFC 4180, stable columns) and JSON, and the receipts and
reliances as services answer them read back."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from typing import Any

import pytest

from ledger import canonical
from ledger.audit.errors import AuditInputInvalid
from ledger.audit.period import Period
from ledger.audit.reconcile import reconcile
from ledger.audit.records import Reliance
from ledger.audit.report import (
    CSV_COLUMNS,
    receipt_from_json,
    reliance_from_json,
    to_json,
    write_csv,
    write_json,
)
from ledger.db.records import ReceiptStatus
from tests.unit.audit._records import ATTESTER, GRANTEE, NOW, at, grant, receipt, reliance, view


def _report() -> Any:
    record = grant()
    seen = receipt(record, NOW, number=1, fields=("family_name", "given_name"))
    scoped = receipt(record, NOW + 1, number=2, purpose="marketing", status=ReceiptStatus.QUEUED)
    forged = reliance(seen, agreement="agr_b2", receipt_id="rcpt_" + "f" * 32)
    return (
        record,
        seen,
        reconcile(
            [seen, scoped],
            chain=view(record),
            period=Period(at(NOW - 10), at(NOW + 100)),
            now=at(NOW + 5),
            reliances=[reliance(seen), forged],
            attesters=[ATTESTER],
        ),
    )


def test_the_csv_has_stable_columns_and_one_line_per_receipt_then_per_reliance() -> None:
    record, seen, report = _report()
    text = write_csv(report)
    assert text.startswith(",".join(CSV_COLUMNS) + "\r\n")
    lines = list(csv.DictReader(io.StringIO(text, newline="")))
    grant_id = canonical.hex0x(record.grant_id)
    assert lines[0] == {
        "record": "receipt",
        "receipt_id": seen.receipt.receipt_id,
        "grant_id": grant_id,
        "attestation_id": "0x" + "a7" * 32,
        "attester": ATTESTER,
        "grantee": GRANTEE,
        "fields": "family_name given_name",
        "purpose": "account-opening",
        "used_at": canonical.timestamp(at(NOW)),
        "use": "1",
        "max_uses": "0",
        "grant_state": "in-force",
        "covered": "true",
        "anchoring": "anchored",
        "transaction": "keccak256:" + "7e" * 32,
        "agreement_id": "agr_1",
        "relied_at": "",
        "check": "",
        "anomalies": "",
        "detail": "",
    }
    assert (lines[1]["anomalies"], lines[1]["detail"]) == (
        "out-of-scope",
        f"purpose 'marketing' is not one grant {grant_id} allows",
    )
    assert [(line["record"], line["agreement_id"], line["check"]) for line in lines[2:]] == [
        ("reliance", "agr_1", "matched"),
        ("reliance", "agr_b2", "unmatched"),
    ]
    assert lines[3]["anomalies"] == "release-without-receipt"
    assert "," in lines[3]["detail"]  # quoted, as RFC 4180 says
    assert f'"agreement agr_b2 of {GRANTEE} relied on' in text


def test_the_json_report() -> None:
    _, _, report = _report()
    written = json.loads(write_json(report))
    assert written == to_json(report)
    assert (written["type"], written["version"]) == ("ledger-audit-reconciliation", 1)
    assert (written["from"], written["to"]) == (
        canonical.timestamp(at(NOW - 10)),
        canonical.timestamp(at(NOW + 100)),
    )
    assert [a["kind"] for a in written["anomalies"]] == ["out-of-scope", "release-without-receipt"]
    assert written["summary"]["by_kind"]["release-without-receipt"] == 1


def test_a_receipt_as_services_list_it_reads_back() -> None:
    seen = receipt(grant(), NOW, number=1)
    listed = {
        "receipt_id": seen.receipt.receipt_id,
        "receipt": json.loads(seen.receipt.to_bytes()),
        "leaf": canonical.label("sm3", seen.receipt.leaf_hash),
        "status": "anchored",
        "inclusion": {
            "leaf_index": 0,
            "tree_size": 1,
            "path": [],
            "root": canonical.label("sm3", seen.receipt.leaf_hash),
            "transaction": "keccak256:" + "7e" * 32,
        },
    }
    assert receipt_from_json(listed) == seen
    other_root = {**listed["inclusion"], "root": "sm3:" + "00" * 32}
    assert receipt_from_json({**listed, "inclusion": other_root}).proven is False
    queued = receipt_from_json({**listed, "status": "queued", "inclusion": None})
    assert (queued.anchoring, queued.transaction) == (ReceiptStatus.QUEUED, None)
    with pytest.raises(AuditInputInvalid, match=r"^receipt_id 'rcpt_x' is not the receipt's$"):
        receipt_from_json({**listed, "receipt_id": "rcpt_x"})
    changed = {**listed, "receipt": {**listed["receipt"], "fields": ["zz", "family_name"]}}
    with pytest.raises(AuditInputInvalid, match=r"^not a receipt as services list them: "):
        receipt_from_json(changed)
    with pytest.raises(AuditInputInvalid, match=r"^not a receipt as services list them: missing"):
        receipt_from_json({"receipt_id": "x"})


def test_a_reliance_as_services_list_it_reads_back() -> None:
    relied = reliance(receipt(grant(), NOW, number=1))
    listed = {
        "agreement_id": relied.agreement_id,
        "attestation_id": canonical.hex0x(relied.attestation_id),
        "grant_id": canonical.hex0x(relied.grant_id),
        "receipt_id": relied.receipt_id,
        "attester": relied.attester.lower(),
        "member": relied.member,
        "fields": list(relied.fields),
        "relied_at": canonical.timestamp(relied.relied_at),
        "status": "ok",
        "reason": None,
    }
    assert reliance_from_json(listed) == relied
    with pytest.raises(AuditInputInvalid, match=r"^not an account: 'nobody'$"):
        reliance_from_json({**listed, "member": "nobody"})
    with pytest.raises(AuditInputInvalid, match=r"^a reliance's fields are a list of names"):
        reliance_from_json({**listed, "fields": "family_name"})
    with pytest.raises(AuditInputInvalid, match=r"^not a reliance as services list them: expected"):
        reliance_from_json({**listed, "relied_at": "yesterday"})


def test_a_reliance_from_a_record_of_its_source() -> None:
    relied = reliance(receipt(grant(), NOW, number=1))
    kept = replace(relied, attester=relied.attester.lower(), fields=("given_name", "family_name"))
    assert Reliance.of(kept) == replace(relied, fields=("family_name", "given_name"))


def test_a_csv_cell_a_spreadsheet_would_run_is_written_as_text() -> None:
    record = grant()
    seen = receipt(record, NOW, number=1)
    hostile = reliance(seen, agreement='=HYPERLINK("https://evil.example")')
    report = reconcile(
        [seen],
        chain=view(record),
        period=Period(at(NOW - 10), at(NOW + 100)),
        now=at(NOW + 5),
        reliances=[hostile],
        attesters=[ATTESTER],
    )
    lines = list(csv.DictReader(io.StringIO(write_csv(report), newline="")))
    assert lines[0]["agreement_id"] == '\'=HYPERLINK("https://evil.example")'
    assert lines[1]["agreement_id"] == '\'=HYPERLINK("https://evil.example")'
