"""One service's audit desk on a real chain (anvil: the consortium, IdentityAttestations and
ConsentRegistry) and a real database (SQLite and PostgreSQL): receipts written with
``Database.record_receipt`` as the release path writes them, grants and revocations recorded on
chain, reliances from a reliance source. The report has the exact rows; a use after the
revocation, a receipt under a grant the chain does not hold, and a release forged outside the
service (a reliance with no receipt) are flagged; only auditors and the regulator read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger import canonical
from ledger.audit.desk import AuditDesk
from ledger.audit.period import Period
from ledger.audit.records import Reliance, RelianceCheck
from ledger.audit.report import to_json
from ledger.chain.consent import Mode, Revocation, grant_digest, revocation_digest
from ledger.consent import AccessReceipt, new_receipt_id
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3
from ledger.db import Database
from ledger.httpsig import Caller, default_keyid
from ledger.member.access import Forbidden
from tests._fixtures.consent import attestation_input, deploy_consent, make_grant, now_of, random32
from tests._fixtures.consortium import DeployConsortium, advance


def _caller(roles: set[str], member: str = "0x" + "44" * 20) -> Caller:
    key = SM2PrivateKey.generate().public_key()
    return Caller(
        keyid=default_keyid(key),
        member_id=member,
        roles=frozenset(roles),
        public_key=key,
        created=datetime.now(UTC).replace(microsecond=0),
    )


def test_a_services_receipts_reconciled_against_the_chain(
    deploy_consortium: DeployConsortium, tmp_path: Path, database: Database
) -> None:
    world = deploy_consent(deploy_consortium(), tmp_path / "consent")
    a, b, c = world.d.members[:3]
    attestations, registry = world.att(a), world.reg(b)
    chain_id = a.client.chain_id
    customer = SM2PrivateKey.generate()
    attestation_id = attestations.attest(attestation_input(customer, now=now_of(a))).attestation_id
    terms = make_grant(b, attestation_id, now=now_of(a))  # family_name, given_name, id_number
    signature = customer.sign(grant_digest(terms, chain_id=chain_id, contract=registry.address))
    grant_id = registry.record_grant(terms, signature).record_id

    def use(at: int, *, grant: bytes = grant_id) -> AccessReceipt:
        receipt = AccessReceipt(
            receipt_id=new_receipt_id(),
            grant_id=grant,
            attestation_id=attestation_id,
            attester=a.address,
            caller=b.address,
            fields=("family_name", "given_name"),
            purpose="account-opening",
            used_at=datetime.fromtimestamp(at, UTC),
            request_sm3=sm3(random32()),
            mode=Mode.STANDING,
            use_authorization=None,
            chain_id=chain_id,
            consent_registry=registry.address,
        )
        database.record_receipt(receipt, max_uses=3)
        return receipt

    covered = use(now_of(a))
    advance(a.client, 2)  # the revocation lands in a later second than the covered use
    revocation = Revocation(grant_id=grant_id, nonce=random32())
    digest = revocation_digest(revocation, chain_id=chain_id, contract=registry.address)
    registry.revoke(revocation, customer.sign(digest))
    revoked_at = now_of(a)
    late = use(revoked_at + 1)  # written straight into the database, after the revocation
    unknown = random32()
    stray = use(revoked_at + 2, grant=unknown)

    def reliance(receipt_id: str, agreement: str, attester: str = a.address) -> Reliance:
        return Reliance(
            agreement_id=agreement,
            attestation_id=attestation_id,
            grant_id=grant_id,
            receipt_id=receipt_id,
            attester=attester,
            member=b.address,
            fields=("family_name",),
            relied_at=datetime.fromtimestamp(revoked_at + 5, UTC),
        )

    forged = "rcpt_" + "0f" * 16  # fields read from the database directly: no receipt
    relied = [
        reliance(covered.receipt_id, "agr_b1"),
        reliance(forged, "agr_b2"),
        reliance(forged, "agr_b3", attester=c.address),  # C's receipts are not this service's
    ]
    used = covered.used_at
    period = Period(used - timedelta(hours=1), used + timedelta(hours=1))
    desk = AuditDesk(
        database=database,
        find_contracts=lambda: (attestations, registry),
        member=a.address,
        now=lambda: used + timedelta(minutes=1),
        reliances=lambda start, end: [r for r in relied if start <= r.relied_at < end],
    )
    auditor = _caller({"auditor"})

    assert [s.receipt for s in desk.receipts(auditor, period)] == [covered, late, stray]
    report = to_json(desk.reconciliation(_caller({"regulator"}), period))
    rows = report["receipts"]
    assert [(r["receipt_id"], r["grant_state"], r["covered"], r["anomalies"]) for r in rows] == [
        (covered.receipt_id, "in-force", True, []),
        (late.receipt_id, "revoked", False, ["after-revocation"]),
        (stray.receipt_id, "unknown", False, ["no-covering-grant"]),
    ]
    assert rows[0] == {
        "receipt_id": covered.receipt_id,
        "grant_id": canonical.hex0x(grant_id),
        "attestation_id": canonical.hex0x(attestation_id),
        "attester": a.address,
        "grantee": b.address,
        "fields": ["family_name", "given_name"],
        "purpose": "account-opening",
        "used_at": canonical.timestamp(used),
        "mode": "standing",
        "use": 1,
        "max_uses": 3,
        "grant_state": "in-force",
        "covered": True,
        "reason": None,
        "anchoring": "queued",
        "transaction": None,
        "relied_by": ["agr_b1"],
        "anomalies": [],
    }
    assert rows[1]["use"] == 2
    assert [(x["kind"], x["receipt_id"], x["agreement_id"]) for x in report["anomalies"]] == [
        ("after-revocation", late.receipt_id, None),
        ("no-covering-grant", stray.receipt_id, None),
        ("release-without-receipt", forged, "agr_b2"),
    ]
    assert report["anomalies"][1]["detail"] == (
        f"grant {canonical.hex0x(unknown)}: the ConsentRegistry holds no such grant"
    )
    assert [r["check"] for r in report["reliances"]] == [
        RelianceCheck.MATCHED,
        RelianceCheck.UNMATCHED,
        RelianceCheck.NOT_CHECKED,
    ]
    assert (report["chain_id"], report["consent_registry"]) == (chain_id, registry.address)

    later = AuditDesk(
        database=database,
        find_contracts=lambda: (attestations, registry),
        member=a.address,
        now=lambda: used + timedelta(hours=1),
    )
    rows = to_json(later.reconciliation(auditor, period))["receipts"]
    assert all("not-anchored" in r["anomalies"] for r in rows)  # no service anchored them

    for roles in ({"broker"}, {"customer"}, set()):
        with pytest.raises(Forbidden, match="is for auditors and the regulator; '0x4444"):
            desk.receipts(_caller(roles), period)
        with pytest.raises(Forbidden, match=r"^the reconciliation of a period's access receipts"):
            desk.reconciliation(_caller(roles), period)
