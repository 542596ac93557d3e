"""The audit's formats: receipts and reliances as services answer them (``GET /v1/receipts``,
``GET /v1/reliances``) read into :mod:`ledger.audit.reconcile`'s records, and a
:class:`~ledger.audit.reconcile.Report` written as JSON (``ledger-audit-reconciliation`` v1) or
CSV (RFC 4180, the columns of :data:`CSV_COLUMNS` in that order: one line per receipt, then one
per reliance).

Times are RFC 3339 UTC; IDs ``0x`` hex; the anchoring transaction ``keccak256:`` labelled. In CSV
a list (fields, anomaly kinds, agreements) is its items separated by one space, booleans are
``true``/``false``, nothing is the empty string.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from ledger import canonical
from ledger.audit.errors import AuditInputInvalid
from ledger.audit.records import (
    Anomaly,
    AnomalyKind,
    ReceiptRow,
    Reliance,
    RelianceRow,
    Report,
    SeenReceipt,
    includes,
)
from ledger.consent import AccessReceipt
from ledger.db.records import ReceiptStatus
from ledger.errors import LedgerError

REPORT_TYPE = "ledger-audit-reconciliation"
REPORT_VERSION = 1
CSV_COLUMNS = (
    "record",
    "receipt_id",
    "grant_id",
    "attestation_id",
    "attester",
    "grantee",
    "fields",
    "purpose",
    "used_at",
    "use",
    "max_uses",
    "grant_state",
    "covered",
    "anchoring",
    "transaction",
    "agreement_id",
    "relied_at",
    "check",
    "anomalies",
    "detail",
)


# -- reading what services answer -------------------------------------------------------------


def receipt_from_json(value: Any) -> SeenReceipt:
    """One item of ``GET /v1/receipts`` (``ReceiptOut``): the receipt as anchored (its bytes
    must be the canonical receipt), its anchoring status and transaction."""
    try:
        receipt = AccessReceipt.from_bytes(canonical.dumps(value["receipt"]))
        if value["receipt_id"] != receipt.receipt_id:
            raise AuditInputInvalid(f"receipt_id {value['receipt_id']!r} is not the receipt's")
        status = ReceiptStatus(value["status"])
        inclusion = value.get("inclusion")
        if inclusion is None:
            return SeenReceipt(receipt, status)
        proven = includes(
            receipt,
            index=int(inclusion["leaf_index"]),
            tree_size=int(inclusion["tree_size"]),
            path=[canonical.unlabel("sm3", node) for node in inclusion["path"]],
            root=canonical.unlabel("sm3", inclusion["root"]),
        )
        transaction = canonical.unlabel("keccak256", inclusion["transaction"])
        return SeenReceipt(receipt, status, transaction, proven)
    except AuditInputInvalid:
        raise
    except (KeyError, TypeError, ValueError, LedgerError) as exc:
        raise AuditInputInvalid(f"not a receipt as services list them: {_said(exc)}") from None


def reliance_from_json(value: Any) -> Reliance:
    """One item of ``GET /v1/reliances``."""
    try:
        fields = value["fields"]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise AuditInputInvalid(f"a reliance's fields are a list of names, got {fields!r}")
        receipt_id, agreement_id = value["receipt_id"], value["agreement_id"]
        if not isinstance(receipt_id, str) or not isinstance(agreement_id, str):
            raise AuditInputInvalid("a reliance names its receipt and agreement by strings")
        return Reliance(
            agreement_id=agreement_id,
            attestation_id=canonical.unhex0x(value["attestation_id"], size=32),
            grant_id=canonical.unhex0x(value["grant_id"], size=32),
            receipt_id=receipt_id,
            attester=_account(value["attester"]),
            member=_account(value["member"]),
            fields=tuple(sorted(fields)),
            relied_at=canonical.parse_timestamp(value["relied_at"]),
        )
    except AuditInputInvalid:
        raise
    except (KeyError, TypeError, ValueError, LedgerError) as exc:
        raise AuditInputInvalid(f"not a reliance as services list them: {_said(exc)}") from None


def _account(value: Any) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise AuditInputInvalid(f"not an account: {value!r}")
    return to_checksum_address(value)


def _said(exc: Exception) -> str:
    return f"missing {exc}" if isinstance(exc, KeyError) else str(exc)


# -- writing the report ------------------------------------------------------------------------


def to_json(report: Report) -> dict[str, Any]:
    anomalies = report.anomalies
    kinds = Counter(a.kind for a in anomalies)
    return {
        "type": REPORT_TYPE,
        "version": REPORT_VERSION,
        "from": report.period.shown_start,
        "to": report.period.shown_end,
        "generated_at": canonical.timestamp(report.generated_at),
        "chain_id": report.chain_id,
        "consent_registry": report.registry,
        "summary": {
            "receipts": len(report.rows),
            "covered": sum(row.covered for row in report.rows),
            "reliances": len(report.reliances),
            "anomalies": len(anomalies),
            "by_kind": {kind.value: kinds[kind] for kind in AnomalyKind},
        },
        "receipts": [_row_json(row) for row in report.rows],
        "reliances": [_reliance_json(row) for row in report.reliances],
        "anomalies": [_anomaly_json(a) for a in anomalies],
    }


def write_json(report: Report) -> str:
    return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"


def write_csv(report: Report) -> str:
    """RFC 4180: CRLF line ends, fields quoted where needed (the csv module's defaults)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow(_row_csv(row))
    for reliance in report.reliances:
        writer.writerow(_reliance_csv(reliance))
    return out.getvalue()


def _row_json(row: ReceiptRow) -> dict[str, Any]:
    receipt = row.receipt
    transaction = row.seen.transaction
    return {
        "receipt_id": receipt.receipt_id,
        "grant_id": canonical.hex0x(receipt.grant_id),
        "attestation_id": canonical.hex0x(receipt.attestation_id),
        "attester": receipt.attester,
        "grantee": receipt.caller,
        "fields": list(receipt.fields),
        "purpose": receipt.purpose,
        "used_at": canonical.timestamp(receipt.used_at),
        "mode": receipt.mode.label,
        "use": row.use,
        "max_uses": row.max_uses,
        "grant_state": row.state,
        "covered": row.covered,
        "reason": row.reason,
        "anchoring": row.seen.anchoring.value,
        "transaction": None if transaction is None else canonical.label("keccak256", transaction),
        "relied_by": list(row.relied_by),
        "anomalies": [a.kind.value for a in row.anomalies],
    }


def _reliance_json(row: RelianceRow) -> dict[str, Any]:
    r = row.reliance
    return {
        "agreement_id": r.agreement_id,
        "receipt_id": r.receipt_id,
        "grant_id": canonical.hex0x(r.grant_id),
        "attestation_id": canonical.hex0x(r.attestation_id),
        "attester": r.attester,
        "member": r.member,
        "fields": list(r.fields),
        "relied_at": canonical.timestamp(r.relied_at),
        "check": row.check.value,
    }


def _anomaly_json(anomaly: Anomaly) -> dict[str, Any]:
    return {
        "kind": anomaly.kind.value,
        "receipt_id": anomaly.receipt_id,
        "grant_id": None if anomaly.grant_id is None else canonical.hex0x(anomaly.grant_id),
        "agreement_id": anomaly.agreement_id,
        "detail": anomaly.detail,
    }


#: A cell a spreadsheet would run as a formula starts with one of these (OWASP "CSV
#: injection"); reliances' IDs come from other members' services, so such a cell is written
#: with a leading apostrophe, as spreadsheets show text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cells(value: Mapping[str, Any]) -> dict[str, str]:
    def cell(item: Any) -> str:
        if item is None:
            return ""
        if isinstance(item, bool):
            return "true" if item else "false"
        text = " ".join(str(i) for i in item) if isinstance(item, list) else str(item)
        return "'" + text if text.startswith(_FORMULA_START) else text

    return {column: cell(value.get(column)) for column in CSV_COLUMNS}


def _row_csv(row: ReceiptRow) -> dict[str, str]:
    value = _row_json(row)
    return _cells(
        {
            **value,
            "record": "receipt",
            "agreement_id": value["relied_by"],
            "detail": "; ".join(a.detail for a in row.anomalies),
        }
    )


def _reliance_csv(row: RelianceRow) -> dict[str, str]:
    value = _reliance_json(row)
    anomaly = row.anomaly
    return _cells(
        {
            **value,
            "record": "reliance",
            "grantee": value["member"],
            "anomalies": [] if anomaly is None else [anomaly.kind.value],
            "detail": None if anomaly is None else anomaly.detail,
        }
    )
