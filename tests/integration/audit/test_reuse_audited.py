"""The story end to end, then audited (three members' running services on one anvil chain: A
and B brokers, C the auditor): A attests the customer through its service; the customer grants
B; B's broker reuses A's KYC through B's service, which asks A's release endpoint (A writes the
receipt, its service anchors it) and records the reliance; the customer revokes and A refuses
the next release. ``ledger audit reconcile``, signed as the auditor, reports the use covered,
the reliance matched and no anomaly; then a release forged outside A's service (fields read
from A's database directly: B's reliance names a receipt A never wrote) is flagged."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from ledger import canonical
from ledger.agreement import new_agreement_id
from ledger.cli import cli
from ledger.customer import to_bytes
from ledger.db import Reliance, open_database
from ledger.settings import Settings
from tests._fixtures.consent_services import consent_services
from tests._fixtures.reuse_services import prepare_reuse


def _ok(reply: httpx.Response, status: int) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def test_a_reuse_across_services_is_audited(own_chain_url: str, tmp_path: Path) -> None:
    with consent_services(own_chain_url, tmp_path) as found:
        members = found.members
        a, b, c = members.deployed.members[:3]
        ready = prepare_reuse(found)
        signed, reuse, grant_id = ready.signed, ready.reuse, ready.grant_id
        with members.as_member(1) as broker_b:
            _ok(broker_b.post("/v1/consents", json=json.loads(to_bytes(signed))), 201)
            relied = _ok(broker_b.post("/v1/reliances", json=reuse), 201)["reliance"]
            time.sleep(1.1)  # the revocation lands in a later second than the use
            revocation = ready.wallet.revoke(ready.domain, signed.digest)
            path = f"/v1/consents/{grant_id}/revocations"
            _ok(broker_b.post(path, json=json.loads(to_bytes(revocation))), 201)
            refused = broker_b.post("/v1/reliances", json=reuse)
            assert refused.status_code == 502, refused.text

        used = datetime.fromtimestamp(ready.now, UTC)
        start = canonical.timestamp(used - timedelta(hours=1))
        end = canonical.timestamp(used + timedelta(hours=1))
        auditor_key = tmp_path / "auditor.pem"
        auditor_key.write_bytes(c.sm2.to_pem())
        args = ["audit", "reconcile", "--from", start, "--to", end, "--key-file", str(auditor_key)]
        args += ["--rpc", found.registry.client.rpc_url]
        for service in members.services:
            args += ["--service", service.url]
        deadline = time.monotonic() + 60
        while True:  # until A's service has anchored the receipt
            result = CliRunner().invoke(cli, args)
            if result.exit_code == 0:
                break
            assert result.exit_code == 1 and time.monotonic() < deadline, result.output
            time.sleep(0.5)
        report = json.loads(result.stdout)
        assert report["anomalies"] == []
        assert [
            (r["receipt_id"], r["grantee"], r["grant_state"], r["covered"], r["anchoring"])
            for r in report["receipts"]
        ] == [(relied["receipt_id"], b.address, "in-force", True, "anchored")]
        assert [(r["agreement_id"], r["check"]) for r in report["reliances"]] == [
            (relied["agreement_id"], "matched")
        ]

        forged = "rcpt_" + "5e" * 16  # fields read from A's database directly
        relied_at = datetime.now(UTC).replace(microsecond=0)
        stolen = Reliance(
            agreement_id=new_agreement_id(),
            attestation_id=canonical.unhex0x(ready.attestation_id),
            grant_id=signed.digest,
            receipt_id=forged,
            attester=a.address,
            member=b.address,
            fields=("family_name", "given_name"),
            relied_at=relied_at,
            expires_at=relied_at + timedelta(days=365),
        )
        database = open_database(
            Settings(data_dir=members.services[1].data_dir).resolved_database_url
        )
        try:
            database.record_reliance(stolen)
        finally:
            database.close()
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert result.stderr == "1 anomalies: release-without-receipt 1\n"
        flagged = json.loads(result.stdout)["anomalies"]
        assert [(x["kind"], x["receipt_id"], x["agreement_id"]) for x in flagged] == [
            ("release-without-receipt", forged, stolen.agreement_id)
        ]
