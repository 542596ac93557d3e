"""The audit across members' running services (A and B brokers, C the auditor; each its own
``python -m api`` process and SQLite database, one anvil chain): member A attested the
customer, who granted B (standing) and C (per-use); A's database holds a receipt of each use
(written with ``Database.record_receipt``, as the release path writes them) and A's running
service anchors them; the customer then revokes B's grant.

``GET /v1/receipts`` and ``GET /v1/audit/reconciliation`` answer the auditor and the regulator
only; ``ledger audit reconcile`` signs as the auditor, collects from every service (services
without reliances answer 404), reads the chain itself and reports every use covered (exit 0); a
use written into A's database after the revocation is flagged (exit 1), and so is a release
forged outside A's service (B's reliance names a receipt A never wrote); errors are one line
(exit 2)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ledger import canonical
from ledger.agreement import new_agreement_id
from ledger.chain.consent import Mode
from ledger.cli import cli
from ledger.consent import AccessReceipt, new_receipt_id
from ledger.crypto.sm3 import sm3
from ledger.customer import ConsentDomain, CustomerWallet, SignedGrant
from ledger.db import open_database
from ledger.db.reliances import Reliance
from ledger.httpsig import default_keyid
from ledger.settings import Settings
from tests._fixtures.consent_services import ConsentServices, consent_services
from tests._fixtures.consortium import advance, chain_time

A, B, C = 0, 1, 2


@dataclass
class World:
    found: ConsentServices
    domain: ConsentDomain
    wallet: CustomerWallet
    attestation_id: bytes
    standing: SignedGrant  # to B, revoked after its use
    per_use: SignedGrant  # to C
    uses: list[AccessReceipt]  # B's use, then C's
    start: str
    end: str
    auditor_key: Path

    def account(self, member: int) -> str:
        return self.found.members.deployed.members[member].address

    def record(self, signed: SignedGrant, at: int) -> AccessReceipt:
        """A use of ``signed`` written into A's database, as A's release path writes it."""
        grant = signed.grant
        use = None
        if grant.mode is Mode.PER_USE:
            authorized = self.wallet.authorize_use(
                self.domain,
                grant_id=signed.digest,
                grantee=grant.grantee,
                fields=["family_name"],
                purpose="account-opening",
            )
            use = authorized.digest
        receipt = AccessReceipt(
            receipt_id=new_receipt_id(),
            grant_id=signed.digest,
            attestation_id=self.attestation_id,
            attester=self.account(A),
            caller=grant.grantee,
            fields=("family_name",),
            purpose="account-opening",
            used_at=datetime.fromtimestamp(at, UTC),
            request_sm3=sm3(b"release request %d" % at),
            mode=grant.mode,
            use_authorization=use,
            chain_id=self.domain.chain_id,
            consent_registry=self.domain.registry,
        )
        url = Settings(data_dir=self.found.members.services[A].data_dir).resolved_database_url
        database = open_database(url)
        try:
            database.record_receipt(receipt, max_uses=grant.max_uses or None)
        finally:
            database.close()
        return receipt

    def get(self, member: int, path: str) -> Any:
        """``member`` calling A's service."""
        with self.found.members.as_member(member, at=A) as client:
            return client.get(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, own_chain_url: str) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("audit")
    with consent_services(own_chain_url, directory) as found:
        members = found.members
        registry = found.registry
        domain = ConsentDomain(chain_id=registry.client.chain_id, registry=registry.address)
        wallet = CustomerWallet(key=members.customer)
        attestation_id = found.attest(members.customer)
        now = chain_time(registry.client)

        def grant(grantee: int, mode: Mode) -> SignedGrant:
            signed = wallet.grant(
                domain,
                grantee=members.deployed.members[grantee].address,
                attestation_id=attestation_id,
                fields=["family_name", "given_name"],
                purposes=["account-opening"],
                method="verify-and-store",
                not_before=now,
                not_after=now + 30 * 24 * 3600,
                notice_text="notice",
                recipient_name=f"member {grantee}",
                recipient_contact="privacy@example",
                categories=["identity"],
                sensitive=True,
                language="zh-CN",
                max_uses=3,
                mode=mode,
            )
            registry.record_grant(signed.grant, signed.signature)
            return signed

        standing, per_use = grant(B, Mode.STANDING), grant(C, Mode.PER_USE)
        used = chain_time(registry.client)
        world = World(
            found=found,
            domain=domain,
            wallet=wallet,
            attestation_id=attestation_id,
            standing=standing,
            per_use=per_use,
            uses=[],
            start=canonical.timestamp(datetime.fromtimestamp(used - 3600, UTC)),
            end=canonical.timestamp(datetime.fromtimestamp(used + 3600, UTC)),
            auditor_key=directory / "auditor.pem",
        )
        world.uses = [world.record(standing, used), world.record(per_use, used + 1)]
        _wait_anchored(world, len(world.uses))
        advance(registry.client, 3)  # the revocation lands in a later second than the uses
        revocation = wallet.revoke(domain, standing.digest)
        registry.revoke(revocation.revocation, revocation.signature)
        world.auditor_key.write_bytes(members.deployed.members[C].sm2.to_pem())
        yield world


def _query(world: World, **extra: str) -> str:
    return "&".join(f"{k}={v}" for k, v in {"from": world.start, "to": world.end, **extra}.items())


def _wait_anchored(world: World, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        reply = world.get(C, f"/v1/receipts?{_query(world)}")
        assert reply.status_code == 200, reply.text
        receipts: list[dict[str, Any]] = reply.json()["receipts"]
        if len(receipts) == count and all(r["status"] == "anchored" for r in receipts):
            return receipts
        assert time.monotonic() < deadline, receipts
        time.sleep(0.3)


def _reconcile(world: World, *extra: str, services: tuple[int, ...] = (A, B, C)) -> Result:
    urls = [a for i in services for a in ("--service", world.found.members.services[i].url)]
    args = ["audit", "reconcile", *urls, "--from", world.start, "--to", world.end]
    args += ["--rpc", world.found.registry.client.rpc_url, "--key-file", str(world.auditor_key)]
    return CliRunner().invoke(cli, [*args, *extra])


def test_a_periods_receipts_for_auditors(world: World) -> None:
    reply = world.get(C, f"/v1/receipts?{_query(world)}")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["member"], body["from"], body["to"]) == (world.account(A), world.start, world.end)
    listed = body["receipts"]
    assert [r["receipt"] for r in listed] == [json.loads(u.to_bytes()) for u in world.uses]
    assert [r["status"] for r in listed] == ["anchored", "anchored"]
    assert all(r["inclusion"]["transaction"].startswith("keccak256:") for r in listed)


@pytest.mark.parametrize("member", [A, B])
def test_brokers_may_not_read_a_periods_receipts(world: World, member: int) -> None:
    for path in ("/v1/receipts", "/v1/audit/reconciliation"):
        reply = world.get(member, f"{path}?{_query(world)}")
        assert reply.status_code == 403, reply.text
        assert reply.json()["type"] == "urn:ledger:problem:forbidden"


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        (
            "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
            "the period ends (2026-11-01T00:00:00Z) before it starts (2026-11-02T00:00:00Z)",
        ),
        (
            "from=yesterday&to=2026-11-01T00:00:00Z",
            "from is an RFC 3339 time with its offset, like 2026-11-01T00:00:00Z; got 'yesterday'",
        ),
        (
            "from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "a period is at most 92 days; 2025-01-01T00:00:00Z .. 2026-01-01T00:00:00Z is longer:"
            " ask for it in parts",
        ),
    ],
)
def test_a_bad_period_is_422(world: World, query: str, detail: str) -> None:
    for path in ("/v1/receipts", "/v1/audit/reconciliation"):
        reply = world.get(C, f"{path}?{query}")
        assert reply.status_code == 422, reply.text
        assert reply.json()["type"] == "urn:ledger:problem:invalid-period"
        assert reply.json()["detail"] == detail


def test_the_services_reconciliation_as_json_and_csv(world: World) -> None:
    reply = world.get(C, f"/v1/audit/reconciliation?{_query(world)}")
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["anomalies"] == [] and report["summary"]["covered"] == 2
    rows = report["receipts"]
    assert [(r["receipt_id"], r["grant_state"], r["mode"], r["anchoring"]) for r in rows] == [
        (world.uses[0].receipt_id, "in-force", "standing", "anchored"),
        (world.uses[1].receipt_id, "in-force", "per-use", "anchored"),
    ]
    reply = world.get(C, f"/v1/audit/reconciliation?{_query(world, format='csv')}")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    lines = list(csv.DictReader(io.StringIO(reply.text, newline="")))
    assert [(line["receipt_id"], line["covered"], line["anomalies"]) for line in lines] == [
        (world.uses[0].receipt_id, "true", ""),
        (world.uses[1].receipt_id, "true", ""),
    ]


def test_the_auditor_reconciles_across_the_services(world: World, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = _reconcile(world, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == ""
    report = json.loads(out.read_text())
    assert report["summary"]["receipts"] == 2 and report["anomalies"] == []
    assert [(r["grantee"], r["covered"], r["anchoring"]) for r in report["receipts"]] == [
        (world.account(B), True, "anchored"),
        (world.account(C), True, "anchored"),
    ]
    result = _reconcile(world, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("record,receipt_id,grant_id,")
    result = _reconcile(world, "--format", "csv", "--out", str(tmp_path / "report.csv"))
    assert result.exit_code == 0, result.output
    written = (tmp_path / "report.csv").read_bytes()
    assert written.count(b"\r\n") == 3 and written.count(b"\n") == 3  # RFC 4180 line ends


def test_a_use_after_the_revocation_is_flagged(world: World) -> None:
    revoked_at = world.found.registry.revocations_of(world.standing.digest)[0].at
    late = world.record(world.standing, revoked_at + 1)  # straight into A's database
    world.uses.append(late)
    result = _reconcile(world)
    assert result.exit_code == 1, result.output
    assert result.stderr == "1 anomalies: after-revocation 1\n"
    report = json.loads(result.stdout)
    assert [(a["kind"], a["receipt_id"]) for a in report["anomalies"]] == [
        ("after-revocation", late.receipt_id)
    ]
    row = report["receipts"][-1]
    assert (row["grant_state"], row["use"], row["covered"]) == ("revoked", 2, False)


def test_errors_are_one_line(world: World, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "audit",
            "reconcile",
            "--service",
            "http://127.0.0.1:9",
            "--from",
            world.start,
            "--to",
            world.end,
            "--rpc",
            world.found.registry.client.rpc_url,
            "--key-file",
            str(world.auditor_key),
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("error: GET http://127.0.0.1:9/v1/consent-domain: ConnectError")
    customer_keyid = default_keyid(world.found.members.customer.public_key())
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(world.found.members.customer.to_pem())
    result = _reconcile(world, "--key-file", str(stranger))
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"error: GET {world.found.members.services[A].url}/v1/receipts: 403 forbidden: reading"
        " every access receipt of a period is for auditors and the regulator; 'cust-1' (key"
        f" '{customer_keyid}', roles: customer) is neither\n"
    )


def test_a_release_forged_outside_the_service_is_flagged(world: World) -> None:
    """B recorded two accounts on A's KYC: one on B's real use (A's receipt covers it), one on
    fields read from A's database directly, whose reliance names a receipt A never wrote."""
    b = world.found.members.services[B]
    forged = "rcpt_" + "fe" * 16
    relied_at = world.uses[0].used_at + timedelta(seconds=30)

    def reliance(receipt_id: str) -> Reliance:
        return Reliance(
            agreement_id=new_agreement_id(),
            attestation_id=world.attestation_id,
            grant_id=world.standing.digest,
            receipt_id=receipt_id,
            attester=world.account(A),
            member=world.account(B),
            fields=("family_name",),
            relied_at=relied_at,
            expires_at=relied_at + timedelta(days=365),
        )

    honest, stolen = reliance(world.uses[0].receipt_id), reliance(forged)
    database = open_database(Settings(data_dir=b.data_dir).resolved_database_url)
    try:
        database.record_reliance(honest)
        database.record_reliance(stolen)
    finally:
        database.close()

    result = _reconcile(world)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    flagged = [a for a in report["anomalies"] if a["kind"] == "release-without-receipt"]
    assert flagged == [
        {
            "kind": "release-without-receipt",
            "receipt_id": forged,
            "grant_id": canonical.hex0x(world.standing.digest),
            "agreement_id": stolen.agreement_id,
            "detail": f"agreement {stolen.agreement_id} of {world.account(B)} relied on receipt"
            f" '{forged}', which {world.account(A)}'s service did not record",
        }
    ]
    assert "release-without-receipt 1" in result.stderr
    checks = {r["agreement_id"]: r["check"] for r in report["reliances"]}
    assert checks == {honest.agreement_id: "matched", stolen.agreement_id: "unmatched"}
    row = next(r for r in report["receipts"] if r["receipt_id"] == world.uses[0].receipt_id)
    assert row["relied_by"] == [honest.agreement_id]

    # B's own service sees its reliances, but not A's receipts: nothing to match them with
    with world.found.members.as_member(C, at=B) as auditor:
        reply = auditor.get(f"/v1/audit/reconciliation?{_query(world)}")
    assert reply.status_code == 200, reply.text
    assert [r["check"] for r in reply.json()["reliances"]] == ["not-checked", "not-checked"]
    assert reply.json()["anomalies"] == []
