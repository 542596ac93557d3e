"""Releases made by the service's own release path, then audited (a running service on a real
anvil, SQLite and PostgreSQL; :mod:`tests.integration.member._release_world`): a standing and a
per-use release write their receipts, which the running service anchors; the customer revokes
the standing grant and the next release is refused (no receipt); the audit desk the API uses
shows every use covered, and flags a release forged outside the service (fields read from the
database directly, so the reliance recorded for it names a receipt that does not exist)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from api.routers.audit import audit_desk
from ledger import canonical
from ledger.audit.desk import AuditDesk
from ledger.audit.period import Period
from ledger.audit.records import Reliance
from ledger.audit.report import to_json
from ledger.chain.consent import Mode
from ledger.consent import release as rule
from ledger.db.records import ReceiptStatus
from tests.integration.member._release_world import ReleaseWorld, body, caller_of
from tests.integration.member._release_world import world as world


def test_released_receipts_reconcile_and_a_forged_release_is_flagged(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    standing = w.grant(made.attestation_id).digest
    per_use = w.grant(made.attestation_id, mode=Mode.PER_USE).digest
    w.tick(1.1)  # releases in a later second than the grants were recorded
    released = [
        w.service.releases.release(w.operator, standing, body(["family_name"])),
        w.service.releases.release(
            w.operator,
            per_use,
            body(["given_name"], use=w.use(per_use, ["given_name"])),
        ),
    ]
    receipts = [r.receipt.receipt for r in released]
    deadline = time.monotonic() + 30
    while any(
        w.service.database.receipt(r.receipt_id).status is not ReceiptStatus.ANCHORED
        for r in receipts
    ):
        assert time.monotonic() < deadline, "the receipts were not anchored"
        time.sleep(0.1)
    w.tick(1.1)  # the revocation lands in a later second than the uses
    revocation = w.wallet.revoke(w.service.consents.domain(), standing)
    w.service.consents.relay_revocation(w.operator, standing, revocation)
    before = len(w.service.database.receipts_of_grant(standing))
    with pytest.raises(rule.GrantRevoked, match="was revoked by its customer at"):
        w.service.releases.release(w.operator, standing, body(["family_name"]))
    assert len(w.service.database.receipts_of_grant(standing)) == before

    used = receipts[0].used_at
    period = Period(used - timedelta(minutes=5), used + timedelta(minutes=5))
    auditor = caller_of("audit-firm", "auditor")
    listed = w.service.database.receipts_between(period.start, period.end)
    report = to_json(audit_desk(w.service).reconciliation(auditor, period))
    rows = {r["receipt_id"]: r for r in report["receipts"]}
    assert len(rows) == len(listed)  # one row per receipt of the period
    mine = [rows[r.receipt_id] for r in receipts]
    shown = [
        (r["grant_id"], r["mode"], r["grant_state"], r["covered"], r["anomalies"]) for r in mine
    ]
    assert shown == [
        (canonical.hex0x(standing), "standing", "in-force", True, []),
        (canonical.hex0x(per_use), "per-use", "in-force", True, []),
    ]
    assert [r["anchoring"] for r in mine] == ["anchored", "anchored"]

    # B read the fields from A's database directly: no receipt; B's reliance names one anyway
    def reliance(receipt_id: str, agreement: str) -> Reliance:
        return Reliance(
            agreement_id=agreement,
            attestation_id=made.attestation_id,
            grant_id=per_use,
            receipt_id=receipt_id,
            attester=w.account,
            member=w.account,
            fields=("given_name",),
            relied_at=used + timedelta(seconds=30),
        )

    forged = "rcpt_" + "ab" * 16
    relied = [reliance(receipts[1].receipt_id, "agr_ok"), reliance(forged, "agr_forged")]
    desk = AuditDesk(
        database=w.service.database,
        find_contracts=w.service.consents.contracts,
        member=w.account,
        now=w.service.now,
        reliances=lambda start, end: relied,
    )
    report = to_json(desk.reconciliation(auditor, period))
    flagged = [a for a in report["anomalies"] if a["agreement_id"] in ("agr_ok", "agr_forged")]
    assert flagged == [
        {
            "kind": "release-without-receipt",
            "receipt_id": forged,
            "grant_id": canonical.hex0x(per_use),
            "agreement_id": "agr_forged",
            "detail": f"agreement agr_forged of {w.account} relied on receipt '{forged}', which"
            f" {w.account}'s service did not record",
        }
    ]
    row = next(r for r in report["receipts"] if r["receipt_id"] == receipts[1].receipt_id)
    assert row["relied_by"] == ["agr_ok"]
