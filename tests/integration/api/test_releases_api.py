"""``POST /v1/consents/{grant_id}/releases`` across three members' services (real processes,
anvil, SQLite): member B asks member A's service for the customer's fields under its grant,
gets the receipt and an envelope only its disclosure-receiving key opens, and checks each field
against the attestation on chain. Attackers (anonymous, the customer, another member, the
auditor, the attester itself, a replayed request, an oversized or malformed body) and every
refusal get their problem, and A's service records no receipt for them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from ledger import canonical
from ledger.attestation.kyc import check_disclosures
from ledger.chain.consent import Mode
from ledger.client import LedgerClient, SigningAuth
from ledger.consent import AccessReceipt
from ledger.consent.envelope import open_release
from ledger.crypto.sm3 import sm3
from ledger.customer import to_bytes
from tests.integration.api._attester_world import FIELDS, AttesterWorld, attester_world, ok
from tests.integration.api._support import _problem


@pytest.fixture(scope="module")
def world(own_chain_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttesterWorld]:
    with attester_world(own_chain_url, tmp_path_factory.mktemp("releases")) as found:
        yield found


def _path(grant_id: str) -> str:
    return f"/v1/consents/{grant_id}/releases"


def _body(fields: list[str], **changes: object) -> bytes:
    return json.dumps(
        {"fields": fields, "purpose": "account-opening", "use": None, **changes}
    ).encode()


def test_b_is_released_the_fields_it_was_granted(world: AttesterWorld) -> None:
    attestation_id = world.attest()
    grant_id = world.grant(attestation_id)
    sent = _body(["given_name", "family_name"])
    with world.as_member(1, at=0) as b:
        reply = ok(
            b.post(_path(grant_id), content=sent, headers={"content-type": "application/json"}), 201
        )
    receipt = AccessReceipt.from_bytes(canonical.dumps(reply["receipt"]))
    assert receipt.caller == world.account(1) and receipt.attester == world.account(0)
    assert receipt.grant_id == canonical.unhex0x(grant_id)
    assert receipt.request_sm3 == sm3(sent)  # the body exactly as sent
    opened = open_release(reply["envelope"], key=world.receiving)
    assert opened.receipt_id == receipt.receipt_id
    attestation = world.found.attestations.attestation(canonical.unhex0x(attestation_id))
    assert check_disclosures(attestation, [d.encoded for d in opened.disclosures]) == {
        "given_name": FIELDS["given_name"],
        "family_name": FIELDS["family_name"],
    }
    [shown] = world.receipts(grant_id)
    assert shown["receipt_id"] == receipt.receipt_id


def test_per_use_through_the_api(world: AttesterWorld) -> None:
    grant_id = world.grant(world.attest(), mode=Mode.PER_USE)
    world.tick()
    use = world.wallet.authorize_use(
        world.domain,
        grant_id=canonical.unhex0x(grant_id),
        grantee=world.account(1),
        fields=["given_name"],
        purpose="account-opening",
    )
    with world.as_member(1, at=0) as b:
        missing = b.post(_path(grant_id), content=_body(["given_name"]))
        _problem(missing, 409, "per-use-authorization-missing")
        sent = _body(["given_name"], use=json.loads(to_bytes(use)))
        ok(b.post(_path(grant_id), content=sent), 201)
        again = b.post(_path(grant_id), content=sent)  # signed afresh: the authorization replayed
        _problem(again, 409, "per-use-authorization-replayed")
    assert len(world.receipts(grant_id)) == 1


def _send(
    world: AttesterWorld, client: LedgerClient | None, grant_id: str, body: bytes
) -> httpx.Response:
    if client is None:
        return httpx.post(world.members.services[0].url + _path(grant_id), content=body)
    return client.post(_path(grant_id), content=body)


@pytest.mark.parametrize(
    ("who", "status", "kind"),
    [
        ("anonymous", 401, "signature-missing"),
        ("customer", 403, "not-grantee"),
        ("member-a", 403, "not-grantee"),  # the attester itself
        ("auditor-c", 403, "not-grantee"),
    ],
)
def test_attackers_are_refused_and_leave_no_receipt(
    world: AttesterWorld, who: str, status: int, kind: str
) -> None:
    grant_id = world.grant(world.attest())
    clients = {
        "anonymous": None,
        "customer": world.as_customer(0),
        "member-a": world.as_member(0),
        "auditor-c": world.as_member(2, at=0),
    }
    client = clients[who]
    _problem(_send(world, client, grant_id, _body(["given_name"])), status, kind)
    assert world.receipts(grant_id) == []


def test_a_replayed_request_is_refused(world: AttesterWorld) -> None:
    grant_id = world.grant(world.attest())
    with world.as_member(1, at=0) as b:
        request = b.http.build_request("POST", _path(grant_id), content=_body(["given_name"]))
        request = next(SigningAuth(b.signer).auth_flow(request))
        ok(b.http.send(request, auth=None), 201)
        _problem(b.http.send(request, auth=None), 401, "replayed")
    assert len(world.receipts(grant_id)) == 1


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        (_body(["phone"]), 422, "field-out-of-scope"),
        (_body(["given_name"], purpose="marketing"), 422, "purpose-out-of-scope"),
        (b"{", 422, "invalid-release-request"),
        (_body(["given_name"], extra=True), 422, "invalid-release-request"),
        (_body(["given_name"], use={"type": "consent-use"}), 422, "invalid-document"),
        (b'{"fields": ["' + b"a" * 2_000_000 + b'"]}', 422, "invalid-release-request"),
        (b'{"fields": ["' + b"a" * (25 << 20) + b'"]}', 413, "request-entity-too-large"),
    ],
)
def test_bad_requests_are_refused_and_leave_no_receipt(
    world: AttesterWorld, body: bytes, status: int, kind: str
) -> None:
    grant_id = world.grant(world.attest())
    with world.as_member(1, at=0) as b:
        _problem(b.post(_path(grant_id), content=body), status, kind)
    assert world.receipts(grant_id) == []


def test_revoked_then_asked_at_once(world: AttesterWorld) -> None:
    grant_id = world.grant(world.attest())
    revocation = world.wallet.revoke(world.domain, canonical.unhex0x(grant_id))
    with world.as_member(1, at=0) as b:
        ok(b.post(_path(grant_id), content=_body(["given_name"])), 201)
        ok(
            b.post(f"/v1/consents/{grant_id}/revocations", json=json.loads(to_bytes(revocation))),
            201,
        )
        _problem(b.post(_path(grant_id), content=_body(["given_name"])), 409, "grant-revoked")
    assert len(world.receipts(grant_id)) == 1


def test_an_unknown_grant(world: AttesterWorld) -> None:
    with world.as_member(1, at=0) as b:
        reply = b.post(_path("0x" + "ab" * 32), content=_body(["given_name"]))
    _problem(reply, 404, "not-found")
