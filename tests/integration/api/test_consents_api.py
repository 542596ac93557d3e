"""Relaying customers' consents through members' services: three services (A and B brokers, C
the auditor) on one anvil chain over one IdentityAttestations and ConsentRegistry; member A
attested the customer. The customer's wallet signs; the customer itself or any member relays;
a signature that does not verify under the attestation's key is refused before anything is
sent (the service's account sends no transaction); the contract's refusals come back as their
problems; a grant is read back, judged (inert, revoked, in force), by those who may see it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest

from ledger import canonical
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract, Mode
from ledger.client import LedgerClient
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import ConsentDomain, CustomerWallet, SignedGrant, to_bytes
from ledger.member import customer_keyid
from tests._fixtures.consent import attestation_input
from tests._fixtures.consent_services import consent_services
from tests._fixtures.consortium import chain_time
from tests._fixtures.member_services import MemberServices
from tests.integration.api._support import _problem

CONSENTS = "/v1/consents"


@dataclass
class World:
    members: MemberServices
    attestations: IdentityAttestationsContract  # as member A
    registry: ConsentRegistryContract  # as member B
    attestation_id: bytes  # A's attestation of the customer
    wallet: CustomerWallet
    domain: ConsentDomain

    def now(self) -> int:
        return chain_time(self.registry.client)

    def as_customer(self, service: int, key: SM2PrivateKey | None = None) -> LedgerClient:
        """The customer calling with its self-named key (keyid ``sm2:<hex>``)."""
        key = key or self.wallet.key
        url = self.members.services[service].url
        return LedgerClient(base_url=url, key=key, keyid=customer_keyid(key.public_key()))

    def grant(
        self, *, grantee: int = 1, wallet: CustomerWallet | None = None, **changes: Any
    ) -> SignedGrant:
        now = self.now()
        options: dict[str, Any] = {
            "grantee": self.members.deployed.members[grantee].address,
            "attestation_id": self.attestation_id,
            "fields": ["family_name", "given_name"],
            "purposes": ["account-opening"],
            "method": "verify-and-store",
            "not_before": now,
            "not_after": now + 30 * 24 * 3600,
            "notice_text": "向 Beta Brokerage 提供您的身份信息用于开户",
            "recipient_name": "Beta Brokerage",
            "recipient_contact": "privacy@beta.example",
            "categories": ["identity"],
            "sensitive": True,
            "language": "zh-CN",
            "max_uses": 3,
            **changes,
        }
        return (wallet or self.wallet).grant(self.domain, **options)

    def sent_count(self, service: int) -> int:
        """Transactions the service's account has sent (its nonce)."""
        account = self.members.deployed.members[service].address
        return int(self.registry.client.json_rpc("eth_getTransactionCount", account, "latest"), 16)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, governance_url: str) -> Iterator[World]:
    with consent_services(governance_url, tmp_path_factory.mktemp("consents")) as found:
        members = found.members
        attestation_id = found.attest(members.customer)
        with members.as_member(1) as b:
            domain = _ok(b.get("/v1/consent-domain"), 200)
        assert domain == {
            "chain_id": found.registry.client.chain_id,
            "registry": found.registry.address,
        }
        yield World(
            members=members,
            attestations=found.attestations,
            registry=found.registry,
            attestation_id=attestation_id,
            wallet=CustomerWallet(key=members.customer),
            domain=ConsentDomain(chain_id=domain["chain_id"], registry=domain["registry"]),
        )


def _ok(reply: httpx.Response, status: int) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def _body(signed: Any) -> Any:
    return json.loads(to_bytes(signed))


def test_the_customer_relays_its_grant_through_a_members_service(world: World) -> None:
    signed = world.grant(mode=Mode.PER_USE)
    with world.as_customer(1) as customer:
        relayed = _ok(customer.post(CONSENTS, json=_body(signed)), 201)
    assert relayed["grant_id"] == canonical.hex0x(signed.digest)
    receipt = world.registry.client.receipt(canonical.unhex0x(relayed["tx_hash"]))
    assert receipt is not None and receipt["status"] == 1
    assert receipt["blockNumber"] == relayed["block_number"]
    assert receipt["from"] == world.members.deployed.members[1].address  # B's service sent it
    record = world.registry.grant(signed.digest)
    assert (record.grant, record.signature) == (signed.grant, signed.signature)
    with world.as_customer(1) as customer:
        shown = _ok(customer.get(f"{CONSENTS}/{relayed['grant_id']}"), 200)
    assert shown["state"] == "in-force" and shown["in_force"] is True
    assert shown["signature_verifies"] is True and shown["inert"] is False
    assert shown["grant"] == _body(signed)["grant"]
    assert shown["effective_revocation"] is None and shown["revocations"] == []
    assert shown["relayer"] == world.members.deployed.members[1].address
    assert shown["attestation"]["attester"] == world.members.deployed.members[0].address


@pytest.mark.parametrize("member", [0, 2])
def test_any_member_relays_a_customers_grant(world: World, member: int) -> None:
    signed = world.grant()
    with world.members.as_member(member) as client:
        relayed = _ok(client.post(CONSENTS, json=_body(signed)), 201)
    assert relayed["grant_id"] == canonical.hex0x(signed.digest)
    assert (
        world.registry.grant(signed.digest).relayer
        == world.members.deployed.members[member].address
    )


def _refused_and_nothing_sent(
    world: World, client: LedgerClient, body: Any, status: int, kind: str, path: str = CONSENTS
) -> str:
    service = world.members.services.index(
        next(s for s in world.members.services if str(client.http.base_url).rstrip("/") == s.url)
    )
    before = world.sent_count(service)
    grants_before = world.registry.grants_of_attestation(world.attestation_id)
    problem = _problem(client.post(path, json=body), status, kind)
    assert world.sent_count(service) == before
    assert world.registry.grants_of_attestation(world.attestation_id) == grants_before
    return str(problem["detail"])


def test_a_signature_that_does_not_verify_is_refused_and_nothing_sent(world: World) -> None:
    signed = world.grant()
    garbage = replace(signed, signature=b"\x30\x06\x02\x01\x01\x02\x01\x01")
    other = CustomerWallet(key=SM2PrivateKey.generate()).sign_grant(world.domain, signed.grant)
    with world.members.as_member(1) as b:
        for forged in (garbage, other):
            detail = _refused_and_nothing_sent(
                world, b, _body(forged), 422, "consent-signature-invalid"
            )
            assert detail.startswith("the grant's signature does not verify under the key")
            assert detail.endswith(": nothing was sent")


def test_a_grant_for_another_registry_is_refused(world: World) -> None:
    elsewhere = ConsentDomain(chain_id=world.domain.chain_id, registry=world.attestations.address)
    signed = world.wallet.sign_grant(elsewhere, world.grant().grant)
    with world.members.as_member(1) as b:
        detail = _refused_and_nothing_sent(
            world, b, _body(signed), 422, "consent-signature-invalid"
        )
    assert f"registry {world.attestations.address};" in detail


def test_a_replayed_grant_is_refused_by_the_contract(world: World) -> None:
    signed = world.grant()
    with world.members.as_member(1) as b:
        _ok(b.post(CONSENTS, json=_body(signed)), 201)
        detail = _refused_and_nothing_sent(world, b, _body(signed), 409, "state-conflict")
    assert detail.startswith("ConsentRegistry reverted with ConsentRegistry__GrantAlreadyRecorded(")


def test_a_grant_under_an_unknown_attestation_is_refused(world: World) -> None:
    signed = world.grant(attestation_id=b"\x42" * 32)
    with world.members.as_member(1) as b:
        detail = _refused_and_nothing_sent(world, b, _body(signed), 409, "state-conflict")
    assert "IdentityAttestations__UnknownAttestation(" in detail


def test_a_window_already_over_is_refused_by_the_contract(world: World) -> None:
    now = world.now()
    signed = world.grant(not_before=now - 7200, not_after=now - 3600)
    with world.members.as_member(1) as b:
        detail = _refused_and_nothing_sent(world, b, _body(signed), 422, "invalid-argument")
    assert detail.startswith("ConsentRegistry reverted with ConsentRegistry__WindowOver(")


def test_a_customer_relays_only_under_its_own_attestation(world: World) -> None:
    stranger = CustomerWallet(key=SM2PrivateKey.generate())
    signed = world.grant()  # the customer's own grant: fine for the customer, not the stranger
    with world.as_customer(1, stranger.key) as client:
        detail = _refused_and_nothing_sent(world, client, _body(signed), 403, "forbidden")
    assert detail.startswith("a customer relays a grant only under an attestation of its own key")


def test_a_malformed_document_is_refused(world: World) -> None:
    body = _body(world.grant())
    body["grant"]["mode"] = "always"
    with world.members.as_member(1) as b:
        detail = _refused_and_nothing_sent(world, b, body, 422, "invalid-document")
    assert detail == "grant.mode: one of ['per-use', 'standing'], not 'always'"


def test_a_revocation_relayed_then_read_shows_the_grant_revoked(world: World) -> None:
    signed = world.grant()
    grant_id = canonical.hex0x(signed.digest)
    with world.as_customer(1) as customer:
        _ok(customer.post(CONSENTS, json=_body(signed)), 201)
    revocation = world.wallet.revoke(world.domain, signed.digest)
    path = f"{CONSENTS}/{grant_id}/revocations"
    with world.members.as_member(2) as c:  # relayed by the auditor's service
        relayed = _ok(c.post(path, json=_body(revocation)), 201)
        assert relayed["grant_id"] == grant_id
        shown = _ok(c.get(f"{CONSENTS}/{grant_id}"), 200)
        detail = _refused_and_nothing_sent(world, c, _body(revocation), 409, "state-conflict", path)
    assert "ConsentRegistry__RevocationAlreadyRecorded(" in detail
    assert shown["state"] == "revoked" and shown["in_force"] is False
    assert shown["effective_revocation"]["revocation_id"] == relayed["revocation_id"]
    assert shown["effective_revocation"]["signature_verifies"] is True
    assert shown["signature_verifies"] is True


def test_a_revocation_not_signed_by_the_customer_is_refused(world: World) -> None:
    signed = world.grant()
    grant_id = canonical.hex0x(signed.digest)
    with world.members.as_member(1) as b:
        _ok(b.post(CONSENTS, json=_body(signed)), 201)
        forged = CustomerWallet(key=SM2PrivateKey.generate()).revoke(world.domain, signed.digest)
        path = f"{CONSENTS}/{grant_id}/revocations"
        detail = _refused_and_nothing_sent(
            world, b, _body(forged), 422, "consent-signature-invalid", path
        )
        assert detail.startswith("the revocation's signature does not verify")
        other = world.wallet.revoke(world.domain, b"\x01" * 32)  # of another grant
        detail = _refused_and_nothing_sent(
            world, b, _body(other), 422, "consent-signature-invalid", path
        )
        assert detail.startswith(f"the revocation is of grant 0x{'01' * 32}, not of {grant_id}")
        absent = "0x" + "ab" * 32
        missing = world.wallet.revoke(world.domain, b"\xab" * 32)
        _problem(b.post(f"{CONSENTS}/{absent}/revocations", json=_body(missing)), 404, "not-found")
        shown = _ok(b.get(f"{CONSENTS}/{grant_id}"), 200)
    assert shown["state"] == "in-force"


def test_a_grant_recorded_with_a_garbage_signature_is_shown_inert(world: World) -> None:
    signed = world.grant()
    world.registry.record_grant(signed.grant, b"\x30\x06\x02\x01\x01\x02\x01\x01")  # directly
    with world.as_customer(0) as customer:
        shown = _ok(customer.get(f"{CONSENTS}/{canonical.hex0x(signed.digest)}"), 200)
    assert shown["state"] == "inert" and shown["inert"] is True
    assert shown["signature_verifies"] is False and shown["in_force"] is False


@pytest.mark.parametrize(
    ("reader", "status"),
    [
        ("customer", 200),
        ("attester", 200),  # member A
        ("grantee", 200),  # member B
        ("auditor", 200),  # member C
        ("another-customer", 404),
    ],
)
def test_who_reads_a_grant(world: World, reader: str, status: int) -> None:
    signed = world.grant(grantee=1)
    grant_id = canonical.hex0x(signed.digest)
    with world.members.as_member(1) as b:
        _ok(b.post(CONSENTS, json=_body(signed)), 201)
    clients = {
        "customer": lambda: world.as_customer(2),
        "attester": lambda: world.members.as_member(0, at=2),
        "grantee": lambda: world.members.as_member(1, at=2),
        "auditor": lambda: world.members.as_member(2),
        "another-customer": lambda: world.as_customer(2, SM2PrivateKey.generate()),
    }
    with clients[reader]() as client:
        reply = client.get(f"{CONSENTS}/{grant_id}")
    if status == 200:
        assert _ok(reply, 200)["grant_id"] == grant_id
    else:
        hidden = _problem(reply, 404, "not-found")
        assert hidden["detail"] == f"no grant {grant_id}"


def test_another_member_cannot_tell_a_grant_from_none(world: World) -> None:
    """A grant to A under A's attestation: member B (neither grantee nor attester) gets what a
    grant that does not exist gets."""
    signed = world.grant(grantee=0)
    grant_id = canonical.hex0x(signed.digest)
    with world.members.as_member(0) as a:
        _ok(a.post(CONSENTS, json=_body(signed)), 201)
    absent = "0x" + "cd" * 32
    with world.members.as_member(1) as b:
        hidden = _problem(b.get(f"{CONSENTS}/{grant_id}"), 404, "not-found")
        missing = _problem(b.get(f"{CONSENTS}/{absent}"), 404, "not-found")
    assert hidden == {**missing, "detail": missing["detail"].replace(absent, grant_id)}


def test_the_grants_under_an_attestation_are_listed_for_who_may_read_them(world: World) -> None:
    stranger = SM2PrivateKey.generate()
    attestation_id = world.attestations.attest(
        attestation_input(stranger, now=world.now())
    ).attestation_id
    wallet = CustomerWallet(key=stranger)
    to_b = world.grant(wallet=wallet, attestation_id=attestation_id, grantee=1)
    to_a = world.grant(wallet=wallet, attestation_id=attestation_id, grantee=0)
    with world.as_customer(1, stranger) as customer:
        for signed in (to_b, to_a):
            _ok(customer.post(CONSENTS, json=_body(signed)), 201)
        query = {"attestation": canonical.hex0x(attestation_id)}
        mine = _ok(customer.get(CONSENTS, params=query), 200)
    assert [g["grant_id"] for g in mine["grants"]] == [
        canonical.hex0x(to_b.digest),
        canonical.hex0x(to_a.digest),
    ]
    assert [g["state"] for g in mine["grants"]] == ["in-force", "in-force"]
    with world.members.as_member(1) as b:  # the grantee of one, not the attester
        seen = _ok(b.get(CONSENTS, params=query), 200)
    assert [g["grant_id"] for g in seen["grants"]] == [canonical.hex0x(to_b.digest)]
    with world.as_customer(1) as other:  # another customer
        assert _ok(other.get(CONSENTS, params=query), 200)["grants"] == []
