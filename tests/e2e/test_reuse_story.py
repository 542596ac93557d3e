"""Verify once, open everywhere: the whole story across three members' running services.

One anvil chain; a consortium of brokers A, B, C and the auditor D; A, B and C each run their own
``python -m api`` (own chain account, keystore, SQLite database), learning their callers from
the chain. Nothing below writes to a database or the chain behind a service's back, except the
forgery at the end, which is the point of it.

1. A verifies a customer (``POST /v1/attestations``): fields encrypted into A's store, the
   attestation on chain.
2. The customer grants B (standing) and C (per-use), relaying each grant itself.
3. B and C reuse A's KYC (``POST /v1/reliances`` on their own services): each asks A's release
   endpoint, opens the envelope with its registered disclosure-receiving key, checks the fields
   against the chain and opens an account recording what it relied on; C's request carries the
   customer's fresh authorization, and without one A refuses.
4. A's receipts of both uses land on chain; the customer sees each use with its inclusion proof
   and downloads a proof of consent that verifies offline.
5. The customer revokes B's grant: B is refused at once.
6. The auditor reconciles the three services: every use covered, no anomaly.
7. A release forged outside the service (A's database and keys read directly, the fields
   handed to B, which opens an account on them): flagged as a release without a receipt.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from ledger import _runtime, canonical
from ledger._runtime import ISSUER_KEY_NAME
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.client import ChainClient
from ledger.chain.consent import Mode
from ledger.chain.deployments import Deployments, deploy, deploy_consent_contracts
from ledger.chain.devnode import DevNode, free_port
from ledger.cli import cli
from ledger.client import LedgerClient
from ledger.consent import new_receipt_id
from ledger.crypto.keystore import Keystore
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import ConsentDomain, CustomerWallet, SignedGrant, to_bytes
from ledger.db import Reliance, open_database
from ledger.member import customer_keyid
from ledger.member.attestations import AttestationDesk
from ledger.member.consents import ConsentRelay
from ledger.settings import Settings
from tests._fixtures.consortium import ANVIL_KEYS, Deployed, Party, make_consortium
from tests._fixtures.server import ServiceProcess

A, B, C, D = 0, 1, 2, 3
KYC = {"family_name": "王", "given_name": "五", "birth_date": "1979-09-09", "nationality": "CN"}
RELEASED = ["family_name", "birth_date"]
PURPOSE = "account-opening"


@dataclass
class Network:
    deployed: Deployed
    services: list[ServiceProcess]  # A's, B's, C's
    rpc_url: str
    directory: Path

    def party(self, member: int) -> Party:
        return self.deployed.members[member]

    def as_member(self, member: int, *, at: int | None = None) -> LedgerClient:
        service = self.services[member if at is None else at]
        return LedgerClient(base_url=service.url, key=self.party(member).sm2)

    def as_customer(self, key: SM2PrivateKey, at: int) -> LedgerClient:
        url = self.services[at].url
        return LedgerClient(base_url=url, key=key, keyid=customer_keyid(key.public_key()))


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    node = DevNode(directory=tmp_path / "anvil", port=free_port())
    url = node.start()
    services: list[ServiceProcess] = []
    try:
        recorded = tmp_path / "deployments"
        roles = [("broker",), ("broker",), ("broker",), ("auditor",)]
        deployed = make_consortium(url, recorded, founders=4, roles=roles)
        consortium = deployed.consortium_deployment.address
        first = deployed.members[A].client
        deploy(first, Deployments(directory=recorded), "EvidenceLedger", (consortium,))
        deploy_consent_contracts(first, Deployments(directory=recorded), consortium)
        password = Settings().keystore_password.get_secret_value().encode()
        for party in deployed.members:
            party.keys.register("request-signing", party.sm2.public_key())
        for index in (A, B, C):
            party = deployed.members[index]
            data_dir = tmp_path / "abc"[index]
            shutil.copytree(recorded, data_dir / "deployments")
            keystore = Keystore(directory=data_dir / "keys")
            keystore.save("request-signing", party.sm2, password)  # its registered request key
            receiving = SM2PrivateKey.generate()
            keystore.save("disclosure-receiving", receiving, password)
            party.keys.register("disclosure-receiving", receiving.public_key())
            services.append(
                ServiceProcess(
                    data_dir=data_dir,
                    port=free_port(),
                    signer=party.sm2,
                    env={
                        "LEDGER_CHAIN_RPC_URL": url,
                        "LEDGER_CHAIN_PRIVATE_KEY": ANVIL_KEYS[index],
                        "LEDGER_BATCH_MAX_WAIT_S": "0.2",
                        "LEDGER_KEY_DIRECTORY_REFRESH_S": "0.3",
                        "LEDGER_LIFECYCLE_POLL_S": "0.2",
                    },
                )
            )
        for service in services:
            service.start()
        yield Network(deployed=deployed, services=services, rpc_url=url, directory=tmp_path)
    finally:
        for service in services:
            service.close()
        node.stop()


def _ok(reply: httpx.Response, status: int) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def _refused(reply: httpx.Response, status: int, kind: str) -> str:
    assert reply.status_code == status, reply.text
    assert reply.json()["type"] == f"urn:ledger:problem:{kind}", reply.text
    return str(reply.json()["detail"])


def _document(signed: Any) -> Any:
    return json.loads(to_bytes(signed))


def _grant(
    wallet: CustomerWallet, domain: ConsentDomain, grantee: Party, attestation: bytes, mode: Mode
) -> SignedGrant:
    now = int(time.time())
    return wallet.grant(
        domain,
        grantee=grantee.address,
        attestation_id=attestation,
        fields=RELEASED,
        purposes=[PURPOSE],
        method="verify-and-store",
        not_before=now - 60,
        not_after=now + 30 * 86400,
        notice_text="您的姓名和出生日期将提供给开户券商用于开立证券账户",
        recipient_name=f"Broker {grantee.address[:8]}",
        recipient_contact="privacy@broker.example",
        categories=["identity"],
        sensitive=True,
        language="zh-CN",
        mode=mode,
    )


def _reuse(grant: SignedGrant, attester: ServiceProcess, *, use: Any = None) -> dict[str, Any]:
    """What B's (or C's) broker asks its own service: reuse under ``grant``, from the attester's
    service (its URL: the consortium records only an example endpoint for A)."""
    return {
        "attester_url": attester.url,
        "grant_id": canonical.hex0x(grant.digest),
        "fields": RELEASED,
        "purpose": PURPOSE,
        "use": use,
        "terms": {
            "content": canonical.b64(b"Securities account terms"),
            "media_type": "text/plain",
        },
    }


def _reconcile(network: Network, key_file: Path, start: datetime) -> tuple[int, Any]:
    urls = [arg for s in network.services for arg in ("--service", s.url)]
    end = datetime.now(UTC) + timedelta(hours=1)
    args = ["audit", "reconcile", *urls, "--rpc", network.rpc_url, "--key-file", str(key_file)]
    args += ["--from", canonical.timestamp(start), "--to", canonical.timestamp(end)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_verify_once_open_everywhere(network: Network) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    a, b, c = network.party(A), network.party(B), network.party(C)
    wallet = CustomerWallet(key=SM2PrivateKey.generate())

    # 1. A verifies the customer
    with network.as_member(A) as client:
        made = _ok(
            client.post(
                "/v1/attestations",
                json={
                    "fields": KYC,
                    "level": "cn-aml/standard",
                    "method": "id-document+liveness",
                    "expires_at": canonical.timestamp(
                        datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
                    ),
                    "customer_key": canonical.hex0x(wallet.public_key.to_raw()),
                    "subject": {"id_type": "cn-resident-id", "id_number": "110101197909091234"},
                },
            ),
            201,
        )
        domain = ConsentDomain.from_json(_ok(client.get("/v1/consent-domain"), 200))
    attestation_id = canonical.unhex0x(made["attestation_id"], size=32)

    # 2. the customer grants B (standing) and C (per-use), relaying each itself
    standing = _grant(wallet, domain, b, attestation_id, Mode.STANDING)
    per_use = _grant(wallet, domain, c, attestation_id, Mode.PER_USE)
    with network.as_customer(wallet.key, at=B) as customer:
        _ok(customer.post("/v1/consents", json=_document(standing)), 201)
    with network.as_customer(wallet.key, at=C) as customer:
        _ok(customer.post("/v1/consents", json=_document(per_use)), 201)

    # 3. B and C reuse A's KYC, each through its own service; C's needs the customer each time
    with network.as_member(B) as client:
        by_b = _ok(client.post("/v1/reliances", json=_reuse(standing, network.services[A])), 201)
    with network.as_member(C) as client:
        detail = _refused(
            client.post("/v1/reliances", json=_reuse(per_use, network.services[A])),
            502,
            "attester-refused",
        )
        assert "per-use-authorization-missing" in detail
        use = wallet.authorize_use(
            domain, grant_id=per_use.digest, grantee=c.address, fields=RELEASED, purpose=PURPOSE
        )
        by_c = _ok(
            client.post(
                "/v1/reliances", json=_reuse(per_use, network.services[A], use=_document(use))
            ),
            201,
        )
        # the same authorization again is a replay
        detail = _refused(
            client.post(
                "/v1/reliances", json=_reuse(per_use, network.services[A], use=_document(use))
            ),
            502,
            "attester-refused",
        )
        assert "per-use-authorization-replayed" in detail
    for opened, member in ((by_b, b), (by_c, c)):
        reliance = opened["reliance"]
        assert (reliance["attestation_id"], reliance["attester"]) == (
            made["attestation_id"],
            a.address,
        )
        assert (reliance["member"], reliance["status"], reliance["fields"]) == (
            member.address,
            "ok",
            sorted(RELEASED),
        )
        assert opened["agreement"]["media_type"] == "application/vnd.ledger.account-opening+json"

    # 4. A's receipts of both uses land on chain; the customer sees them, and its proof
    grants = {by_b["reliance"]["receipt_id"]: standing, by_c["reliance"]["receipt_id"]: per_use}
    deadline = time.monotonic() + 60
    with network.as_customer(wallet.key, at=A) as customer:
        for receipt_id, signed in grants.items():
            path = f"/v1/consents/{canonical.hex0x(signed.digest)}/receipts"
            while True:
                shown = _ok(customer.get(path), 200)["receipts"]
                assert [r["receipt_id"] for r in shown] == [receipt_id]
                if shown[0]["status"] == "anchored":
                    break
                assert time.monotonic() < deadline, f"{receipt_id} not anchored in 60 s"
                time.sleep(0.2)
            assert shown[0]["inclusion"]["transaction"].startswith("keccak256:")
        proof_reply = customer.get(f"/v1/consents/{canonical.hex0x(standing.digest)}/proof")
    proof_file = network.directory / "consent-proof.json"
    proof_file.write_bytes(proof_reply.content)
    assert proof_reply.status_code == 200, proof_reply.text
    for extra in ([], ["--rpc", network.rpc_url]):  # offline, then against the chain
        verified = CliRunner().invoke(cli, ["verify", *extra, str(proof_file)])
        assert verified.exit_code == 0, verified.output

    # 5. the customer revokes B's grant (relayed by C's service): B is refused at once
    revocation = wallet.revoke(domain, standing.digest)
    revoked_path = f"/v1/consents/{canonical.hex0x(standing.digest)}/revocations"
    with network.as_customer(wallet.key, at=C) as customer:
        _ok(customer.post(revoked_path, json=_document(revocation)), 201)
    with network.as_member(B) as client:
        detail = _refused(
            client.post("/v1/reliances", json=_reuse(standing, network.services[A])),
            502,
            "attester-refused",
        )
    assert "409 grant-revoked" in detail

    # 6. the auditor: every use covered, no anomaly
    auditor_key = network.directory / "auditor.pem"
    auditor_key.write_bytes(network.party(D).sm2.to_pem())
    code, report = _reconcile(network, auditor_key, started)
    assert (code, report["anomalies"]) == (0, []), report
    covered = {row["receipt_id"] for row in report["receipts"]}
    assert covered == set(grants)
    assert {r["receipt_id"] for r in report["reliances"]} == set(grants)

    # 7. a release forged outside the service: A's database and keys read directly, the fields
    # handed to B, which opens an account on them: no receipt at A names it
    settings_a = Settings(data_dir=network.services[A].data_dir)
    database_a = open_database(settings_a.resolved_database_url)
    store_a = _runtime.content_store(settings_a)
    try:
        relay = ConsentRelay(
            client=ChainClient(rpc_url=network.rpc_url),
            find_contracts=lambda: _contracts(network),
        )
        desk = AttestationDesk(
            relay=relay,
            database=database_a,
            store=store_a,
            service_key=_runtime.service_key(settings_a, ISSUER_KEY_NAME),
        )
        attestation = relay.contracts()[0].attestation(attestation_id)
        forged = desk.disclosures(attestation).select(tuple(RELEASED))
    finally:
        database_a.close()
    assert sorted(d.value for d in forged) == sorted(KYC[f] for f in RELEASED)
    database_b = open_database(
        Settings(data_dir=network.services[B].data_dir).resolved_database_url
    )
    try:
        database_b.record_reliance(
            Reliance(
                agreement_id="agr_" + "f0" * 16,
                attestation_id=attestation_id,
                grant_id=standing.digest,
                receipt_id=new_receipt_id(),  # no release at A made it
                attester=a.address,
                member=b.address,
                fields=tuple(sorted(RELEASED)),
                relied_at=datetime.now(UTC).replace(microsecond=0),
                expires_at=datetime.now(UTC).replace(microsecond=0) + timedelta(days=365),
            )
        )
    finally:
        database_b.close()
    code, report = _reconcile(network, auditor_key, started)
    assert code == 1
    assert [(x["kind"], x.get("agreement_id")) for x in report["anomalies"]] == [
        ("release-without-receipt", "agr_" + "f0" * 16)
    ], report


def _contracts(network: Network) -> tuple[Any, Any]:
    from ledger.chain.deployments import recorded_consent_contracts

    client = ChainClient(rpc_url=network.rpc_url)
    attestations, registry = recorded_consent_contracts(
        client, Deployments(directory=network.services[A].data_dir / "deployments")
    )
    assert isinstance(attestations, IdentityAttestationsContract)
    return attestations, registry
