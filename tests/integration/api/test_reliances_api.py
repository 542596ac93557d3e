"""``/v1/reliances`` on a running service (real anvil, SQLite, the service's own lifecycle
follower): the accounts the member opened on reused identities, as auditors, the regulator and
the member itself read them (the plan's JSON), those needing re-verification, and the follower
marking one when its attestation is revoked on chain. Reuse across two members' services (B
asks A's release endpoint) is at the end."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import canonical
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import to_bytes
from ledger.db import LifecycleEnd, Reliance, RelianceReason, RelianceStatus
from ledger.httpsig import RegisteredKey, default_keyid
from ledger.service import RunningService
from ledger.settings import Settings
from tests._fixtures.consent import attestation_input
from tests._fixtures.consent_services import consent_services
from tests._fixtures.consortium import chain_time
from tests._fixtures.members import SINCE, Consortium, signing
from tests._fixtures.reuse_services import prepare_reuse
from tests.integration.api._support import _problem

RELIANCES = "/v1/reliances"
DEV_ACCOUNT = Account.from_key(DEV_PRIVATE_KEY).address
ATTESTER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
T = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


@dataclass
class World:
    client: TestClient
    consortium: Consortium
    operator: SM2PrivateKey  # a broker key of the member that runs the service

    @property
    def service(self) -> RunningService:
        service: RunningService = self.client.app.state.service  # type: ignore[attr-defined]
        return service


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, anvil_url: str, consortium: Consortium
) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("reliances") / "data",
        chain_rpc_url=anvil_url,
        chain_private_key=DEV_PRIVATE_KEY,
        batch_max_wait_s=0.1,
        lifecycle_poll_s=0.1,
    )
    directory = consortium.directory()
    operator = SM2PrivateKey.generate()
    directory.add(
        RegisteredKey(
            keyid=default_keyid(operator.public_key()),
            member_id=DEV_ACCOUNT,
            roles=frozenset({"broker"}),
            public_key=operator.public_key(),
            valid_from=SINCE,
            valid_until=None,
        )
    )
    app = create_app(run_service=True, settings=settings, directory=directory)
    with TestClient(app) as client:
        yield World(client, consortium, operator)


def _reliance(*, at: datetime, attestation: bytes | None = None) -> Reliance:
    return Reliance(
        agreement_id="agr_" + os.urandom(16).hex(),
        attestation_id=attestation or os.urandom(32),
        grant_id=os.urandom(32),
        receipt_id="rcpt_" + os.urandom(16).hex(),
        attester=ATTESTER,
        member=DEV_ACCOUNT,
        fields=("birth_date", "family_name"),
        relied_at=at,
        expires_at=at + timedelta(days=3650),
    )


def _json(reliance: Reliance) -> dict[str, Any]:
    return {
        "agreement_id": reliance.agreement_id,
        "attestation_id": canonical.hex0x(reliance.attestation_id),
        "grant_id": canonical.hex0x(reliance.grant_id),
        "receipt_id": reliance.receipt_id,
        "attester": ATTESTER,
        "member": DEV_ACCOUNT,
        "fields": ["birth_date", "family_name"],
        "relied_at": canonical.timestamp(reliance.relied_at),
        "status": reliance.status.value,
        "reason": None if reliance.reason is None else reliance.reason.value,
        "affected_at": (
            None if reliance.affected_at is None else canonical.timestamp(reliance.affected_at)
        ),
    }


def _period(start: datetime, end: datetime) -> str:
    return f"{RELIANCES}?from={canonical.timestamp(start)}&to={canonical.timestamp(end)}"


def test_reliances_are_read_by_auditors_the_regulator_and_the_member(world: World) -> None:
    database = world.service.database
    early = database.record_reliance(_reliance(at=T))
    late = database.record_reliance(_reliance(at=T + timedelta(seconds=10)))
    ended = T + timedelta(seconds=20)
    database.apply_lifecycle(
        "test",  # not the service's own feed, whose cursor the follower keeps
        ends=[
            LifecycleEnd(
                kind="grant",
                record_id=late.grant_id,
                reason=RelianceReason.GRANT_REVOKED,
                ended_at=ended,
                block=1,
            )
        ],
        expired_by=T,
        next_block=2,
        now=datetime.now(UTC),
    )
    marked = dataclasses.replace(
        late,
        status=RelianceStatus.NEEDS_REVERIFICATION,
        reason=RelianceReason.GRANT_REVOKED,
        affected_at=ended,
    )
    c = world.consortium
    for reader in (c.auditor, c.regulator, world.operator):
        auth = signing(reader)
        reply = world.client.get(_period(T, T + timedelta(seconds=11)), auth=auth)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"reliances": [_json(early), _json(marked)]}
        assert world.client.get(_period(T, T + timedelta(seconds=10)), auth=auth).json() == {
            "reliances": [_json(early)]
        }
        affected = world.client.get(f"{RELIANCES}?affected=true", auth=auth).json()["reliances"]
        assert _json(marked) in affected and _json(early) not in affected
    for other in (c.broker_a, c.broker_b, c.customer, c.no_roles):
        problem = _problem(world.client.get(RELIANCES, auth=signing(other)), 403, "forbidden")
        assert "reliances are read by auditors, the regulator and member" in problem["detail"]


@pytest.mark.parametrize("query", ["from=2026-11-01T09:30:00", "to=yesterday", "affected=perhaps"])
def test_a_malformed_query_is_refused(world: World, query: str) -> None:
    reply = world.client.get(f"{RELIANCES}?{query}", auth=signing(world.consortium.auditor))
    _problem(reply, 422, "invalid-request")


def test_the_service_marks_a_reliance_when_its_attestation_is_revoked_on_chain(
    world: World,
) -> None:
    service = world.service
    found, _ = service.consents.contracts()
    attestations = IdentityAttestationsContract(client=service.chain, address=found.address)
    given = attestation_input(SM2PrivateKey.generate(), now=chain_time(service.chain))
    attestation_id = attestations.attest(given).attestation_id
    reliance = service.database.record_reliance(
        _reliance(at=datetime.now(UTC).replace(microsecond=0), attestation=attestation_id)
    )
    attestations.revoke(attestation_id, b"\x04" * 32)
    ended_at = attestations.attestation(attestation_id).ended_at
    assert ended_at is not None
    expected = _json(
        dataclasses.replace(
            reliance,
            status=RelianceStatus.NEEDS_REVERIFICATION,
            reason=RelianceReason.ATTESTATION_REVOKED,
            affected_at=datetime.fromtimestamp(ended_at, UTC),
        )
    )
    auth = signing(world.consortium.auditor)
    deadline = time.monotonic() + 20
    while (
        expected
        not in world.client.get(f"{RELIANCES}?affected=true", auth=auth).json()["reliances"]
    ):
        assert time.monotonic() < deadline, "the follower did not mark it within 20 s"
        time.sleep(0.05)
    assert service.lifecycle.state().last_error is None


def test_a_reuse_names_a_grant_the_chain_knows(world: World) -> None:
    body = {
        "grant_id": canonical.hex0x(os.urandom(32)),
        "fields": ["family_name"],
        "purpose": "account-opening",
        "terms": {"content": "dGVybXM="},
    }
    auth = signing(world.operator)
    before = world.client.get(RELIANCES, auth=auth).json()["reliances"]
    reply = world.client.post(RELIANCES, json=body, auth=auth)
    assert _problem(reply, 404, "not-found")["detail"] == f"no grant {body['grant_id']}"
    assert world.client.get(RELIANCES, auth=auth).json()["reliances"] == before


# -- across two members' services ------------------------------------------------------------


def _ok(reply: httpx.Response, status: int) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def test_member_b_reuses_member_a_kyc_through_both_services(
    governance_url: str, tmp_path: Path
) -> None:
    """A attests through its service; the customer grants B; B's broker asks B's service to
    reuse: B's service asks A's (signed with B's registered request key), opens the envelope
    with its disclosure-receiving key, checks it against the chain and opens the account; A
    holds the receipt. The customer revokes: B's follower marks the reliance, and A refuses
    the next release (B answers 502 attester-refused, opening nothing)."""
    with consent_services(governance_url, tmp_path) as found:
        members = found.members
        b = members.deployed.members[1]
        prepared = prepare_reuse(found)
        wallet, domain, signed, reuse = (
            prepared.wallet,
            prepared.domain,
            prepared.signed,
            prepared.reuse,
        )
        attestation_id, grant_id = prepared.attestation_id, prepared.grant_id
        with members.as_member(1) as broker_b:
            _ok(broker_b.post("/v1/consents", json=json.loads(to_bytes(signed))), 201)
            opened = _ok(broker_b.post(RELIANCES, json=reuse), 201)
            reliance = opened["reliance"]
            assert (reliance["attestation_id"], reliance["grant_id"]) == (attestation_id, grant_id)
            assert reliance["attester"] == members.deployed.members[0].address
            assert (reliance["member"], reliance["status"]) == (b.address, "ok")
            assert reliance["fields"] == ["family_name", "given_name"]
            agreement = opened["agreement"]
            assert agreement["status"] == "draft"
            assert agreement["media_type"] == "application/vnd.ledger.account-opening+json"
            assert agreement["agreement_id"] == reliance["agreement_id"]
            with members.client(0, members.customer) as customer:
                receipts = _ok(customer.get(f"/v1/consents/{grant_id}/receipts"), 200)
            assert [r["receipt_id"] for r in receipts["receipts"]] == [reliance["receipt_id"]]

            revocation = wallet.revoke(domain, signed.digest)
            _ok(
                broker_b.post(
                    f"/v1/consents/{grant_id}/revocations",
                    json=json.loads(to_bytes(revocation)),
                ),
                201,
            )
            deadline = time.monotonic() + 30
            while True:
                affected = _ok(broker_b.get(f"{RELIANCES}?affected=true"), 200)["reliances"]
                if affected:
                    break
                assert time.monotonic() < deadline, "B's follower did not mark it in 30 s"
                time.sleep(0.2)
            assert [(r["receipt_id"], r["reason"]) for r in affected] == [
                (reliance["receipt_id"], "grant-revoked")
            ]
            refused = _problem(broker_b.post(RELIANCES, json=reuse), 502, "attester-refused")
            assert "409 grant-revoked" in refused["detail"]
            assert len(_ok(broker_b.get(RELIANCES), 200)["reliances"]) == 1
