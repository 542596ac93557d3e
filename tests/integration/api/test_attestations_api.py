"""``/v1/attestations`` across three members' services (real processes, anvil, SQLite): member
A's brokers attest, supersede and revoke through A's service; the attester, the customer whose
key it binds and the auditor read it, another member gets 404; no one else writes (403), a
malformed or oversized body is refused before anything is stored or sent."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ledger import canonical
from ledger.chain._binding import name_id
from tests.integration.api._attester_world import FIELDS, AttesterWorld, attester_world, ok
from tests.integration.api._support import _problem


@pytest.fixture(scope="module")
def world(own_chain_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttesterWorld]:
    with attester_world(own_chain_url, tmp_path_factory.mktemp("attestations")) as found:
        yield found


def _sent(world: AttesterWorld) -> int:
    """Transactions member A's account has sent."""
    account = world.account(0)
    client = world.found.registry.client
    return int(client.json_rpc("eth_getTransactionCount", account, "latest"), 16)


def test_a_attests_and_its_readers_read(world: AttesterWorld) -> None:
    with world.as_member(0) as a:
        made = ok(a.post("/v1/attestations", json=world.attestation_body()), 201)
    assert made["fields"] == list(FIELDS) and made["content_cid"].startswith("b")
    attestation_id = made["attestation_id"]
    on_chain = world.found.attestations.attestation(canonical.unhex0x(attestation_id))
    assert on_chain.attester == world.account(0)
    assert on_chain.content_ref == made["content_cid"].encode()
    path = f"/v1/attestations/{attestation_id}"
    for reader in (world.as_member(0), world.as_customer(0), world.as_member(2, at=0)):
        with reader:
            shown = ok(reader.get(path), 200)
        assert shown["attestation_id"] == attestation_id and shown["valid"] is True
        assert shown["stored"] is True and shown["attester"] == world.account(0)
        assert shown["level"] == canonical.hex0x(name_id("cn-aml/standard"))
        assert "李" not in str(shown)  # no field value is shown
    with world.as_member(1, at=0) as b:
        hidden = b.get(path)
        missing = b.get("/v1/attestations/0x" + "cd" * 32)
    assert _problem(hidden, 404, "not-found")["detail"] == f"no attestation {attestation_id}"
    _problem(missing, 404, "not-found")
    _problem(httpx.get(world.members.services[0].url + path), 401, "signature-missing")


def test_supersede_and_revoke(world: AttesterWorld) -> None:
    old = world.attest()
    body = {
        k: v for k, v in world.attestation_body().items() if k not in ("customer_key", "subject")
    }
    body["fields"] = {**FIELDS, "nationality": "HK"}
    with world.as_member(0) as a:
        new = ok(a.post(f"/v1/attestations/{old}/supersede", json=body), 201)
        assert new["supersedes"] == old
        shown = ok(a.get(f"/v1/attestations/{old}"), 200)
        assert shown["superseded_by"] == new["attestation_id"] and shown["valid"] is False
        revoked = ok(
            a.post(
                f"/v1/attestations/{new['attestation_id']}/revocation",
                json={"reason": "document-forged"},
            ),
            200,
        )
        assert revoked["attestation_id"] == new["attestation_id"]
        shown = ok(a.get(f"/v1/attestations/{new['attestation_id']}"), 200)
        assert shown["revoked"] is True
        assert shown["revocation_reason"] == canonical.hex0x(name_id("document-forged"))
        again = a.post(
            f"/v1/attestations/{new['attestation_id']}/revocation", json={"reason": "again"}
        )
    _problem(again, 409, "state-conflict")


@pytest.mark.parametrize("who", ["member-b", "auditor-c", "customer"])
def test_no_one_else_writes(world: AttesterWorld, who: str) -> None:
    attestation_id = world.attest()
    client = {
        "member-b": world.as_member(1, at=0),
        "auditor-c": world.as_member(2, at=0),
        "customer": world.as_customer(0),
    }[who]
    sent = _sent(world)
    body = world.attestation_body()
    reverification = {k: v for k, v in body.items() if k not in ("customer_key", "subject")}
    with client:
        _problem(client.post("/v1/attestations", json=body), 403, "forbidden")
        path = f"/v1/attestations/{attestation_id}"
        _problem(client.post(path + "/supersede", json=reverification), 403, "forbidden")
        _problem(client.post(path + "/revocation", json={"reason": "x"}), 403, "forbidden")
    assert _sent(world) == sent


@pytest.mark.parametrize(
    ("changes", "status", "kind"),
    [
        ({"fields": {"Bad Name": "x"}}, 422, "invalid-fields"),
        ({"fields": {"height": 1.8}}, 422, "invalid-request"),
        ({"fields": {}}, 422, "invalid-request"),
        ({"customer_key": "0x04" + "00" * 64}, 422, "invalid-fields"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, 422, "invalid-argument"),
        ({"expires_at": "tomorrow"}, 422, "invalid-fields"),
        ({"subject": {"id_type": "", "id_number": "1"}}, 422, "invalid-request"),
        ({"extra": 1}, 422, "invalid-request"),
        ({"fields": {"note": "x" * (25 << 20)}}, 413, "request-entity-too-large"),
    ],
)
def test_malformed_bodies_store_and_send_nothing(
    world: AttesterWorld, changes: dict[str, object], status: int, kind: str
) -> None:
    world.found.attestations.address  # noqa: B018 (the contracts are deployed already)
    sent = _sent(world)
    with world.as_member(0) as a:
        _problem(a.post("/v1/attestations", json=world.attestation_body(**changes)), status, kind)
    assert _sent(world) == sent
