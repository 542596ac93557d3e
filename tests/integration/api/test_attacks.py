"""The attacks listed in issue [4], each tried again and now refused with its exact status (the
service in the app's lifespan, real anvil and SQLite; requests signed as the test consortium's
members, see ``tests/_fixtures/members.py``)."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from ledger import canonical
from ledger.agreement import Document, ErasureRequest, SigningDomain, new_agreement_id
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.members import Consortium, signing
from tests._fixtures.server import signature_json, submission
from tests._fixtures.service import sign_all, sign_role
from tests.integration.api._support import _domain, _problem

DOC = Document(b"The victim's account agreement.\n")
NEW = Document(b"The victim's agreement, replaced.\n")


def _victims_agreement(client: TestClient, consortium: Consortium) -> tuple[str, SigningDomain]:
    """An agreement of member A (client's default caller) signed by its customer and broker."""
    domain = _domain(client)
    agreement_id = new_agreement_id()
    keys = {"customer": consortium.customer, "broker": consortium.broker_a}
    reply = client.post("/v1/agreements", json=submission(keys, domain, agreement_id, DOC))
    assert reply.status_code == 201, reply.text
    return agreement_id, domain


def _version_body(
    keys: dict[str, SM2PrivateKey], domain: SigningDomain, agreement_id: str, version: int
) -> dict[str, Any]:
    signatures = sign_all(
        keys, domain=domain, agreement_id=agreement_id, version=version, document=NEW
    )
    return {
        "version": version,
        "document": {"content": base64.b64encode(NEW.content).decode()},
        "signatures": [signature_json(s) for s in signatures],
    }


def test_reading_anyones_agreement_and_proof_is_refused(
    client: TestClient, consortium: Consortium
) -> None:
    agreement_id, _ = _victims_agreement(client, consortium)
    for path in (
        f"/v1/agreements/{agreement_id}",
        f"/v1/agreements/{agreement_id}/versions/1",
        f"/v1/agreements/{agreement_id}/versions/1/proof",
    ):
        _problem(client.get(path, auth=None), 401, "signature-missing")
        _problem(client.get(path, auth=signing(consortium.broker_b)), 404, "not-found")
        _problem(client.get(path, auth=signing(consortium.no_roles)), 404, "not-found")


def test_crypto_shredding_anyones_documents_is_refused(
    client: TestClient, consortium: Consortium
) -> None:
    agreement_id, domain = _victims_agreement(client, consortium)
    path = f"/v1/agreements/{agreement_id}/document-keys"
    _problem(client.delete(path, auth=None), 401, "signature-missing")
    _problem(client.delete(path, auth=signing(consortium.broker_b)), 404, "not-found")
    _problem(client.delete(path, auth=signing(consortium.auditor)), 403, "forbidden")
    # an erasure request signed by a key that is not the agreement's customer's
    forged = _erasure(SM2PrivateKey.generate(), agreement_id, domain)
    _problem(
        client.request("DELETE", path, json=forged, auth=signing(consortium.broker_b)),
        404,
        "not-found",
    )
    _problem(
        client.request("DELETE", path, json=forged, auth=signing(consortium.auditor)),
        422,
        "signature-rejected",
    )
    agreement = client.get(f"/v1/agreements/{agreement_id}").json()
    assert agreement["erasures"] == []
    assert agreement["versions"][0]["keys_erased"] is False


def test_void_or_replace_with_two_fresh_keys_is_refused(
    client: TestClient, consortium: Consortium
) -> None:
    agreement_id, domain = _victims_agreement(client, consortium)
    path = f"/v1/agreements/{agreement_id}/versions"
    fresh = {"customer": SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}
    body = _version_body(fresh, domain, agreement_id, 2)
    _problem(client.post(path, json=body, auth=None), 401, "signature-missing")
    _problem(client.post(path, json=body, auth=signing(consortium.broker_b)), 404, "not-found")
    # even the owning broker cannot bring other parties' signatures
    refused = _problem(client.post(path, json=body), 422, "signature-rejected")
    assert refused["detail"] == (
        f"{agreement_id} v2 must be signed by the customer key that signed v1, not another key"
    )
    unregistered_broker = {"customer": consortium.customer, "broker": fresh["broker"]}
    refused = _problem(
        client.post(path, json=_version_body(unregistered_broker, domain, agreement_id, 2)),
        422,
        "signature-rejected",
    )
    assert refused["detail"] == (
        f"{agreement_id} v2 must be signed by a broker key of member 'member-a' that the key"
        " directory holds valid now"
    )
    other_members_broker = {"customer": consortium.customer, "broker": consortium.broker_b}
    _problem(
        client.post(path, json=_version_body(other_members_broker, domain, agreement_id, 2)),
        422,
        "signature-rejected",
    )
    revoked_broker = {"customer": consortium.customer, "broker": consortium.revoked_a}
    _problem(
        client.post(path, json=_version_body(revoked_broker, domain, agreement_id, 2)),
        422,
        "signature-rejected",
    )
    readers = ["0x" + fresh["customer"].public_key().to_raw().hex()]
    void = {"version": 2, "kind": "void", "reason": "stolen", "readers": readers}
    _problem(client.post(path, json=void, auth=signing(consortium.broker_b)), 404, "not-found")
    assert client.get(f"/v1/agreements/{agreement_id}").json()["state"] == "in force"
    # the parties: the same customer key and another valid broker key of member A
    parties = {"customer": consortium.customer, "broker": consortium.broker_a2}
    reply = client.post(path, json=_version_body(parties, domain, agreement_id, 2))
    assert (reply.status_code, reply.json()["status"]) == (201, "accepted")


def test_signing_a_victims_draft_as_broker_is_refused(
    client: TestClient, consortium: Consortium
) -> None:
    domain = _domain(client)
    readers = ["0x" + consortium.customer.public_key().to_raw().hex()]
    body = {"document": {"content": base64.b64encode(DOC.content).decode()}, "readers": readers}
    draft = client.post("/v1/agreements", json=body).json()["agreement_id"]
    path = f"/v1/agreements/{draft}/versions/1/signatures"
    attacker = SM2PrivateKey.generate()
    forged = signature_json(
        sign_role(
            attacker,
            role="broker",
            domain=domain,
            agreement_id=draft,
            version=1,
            document_sm3=DOC.sm3,
        )
    )
    _problem(client.post(path, json=forged, auth=None), 401, "signature-missing")
    _problem(client.post(path, json=forged, auth=signing(consortium.broker_b)), 404, "not-found")
    # the real broker signs: not blocked by a 409
    for role, key in (("broker", consortium.broker_a), ("customer", consortium.customer)):
        signature = sign_role(
            key, role=role, domain=domain, agreement_id=draft, version=1, document_sm3=DOC.sm3
        )
        reply = client.post(path, json=signature_json(signature))
        assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "accepted"


def test_squatting_an_agreement_id_is_refused(client: TestClient, consortium: Consortium) -> None:
    domain = _domain(client)
    planned = new_agreement_id()
    body = {
        "agreement_id": planned,
        "document": {"content": base64.b64encode(b"x").decode()},
        "readers": ["0x" + consortium.customer.public_key().to_raw().hex()],
    }
    _problem(client.post("/v1/agreements", json=body, auth=None), 401, "signature-missing")
    # anonymous squatting stored nothing: the parties' signed submission goes through
    keys = {"customer": consortium.customer, "broker": consortium.broker_a}
    reply = client.post("/v1/agreements", json=submission(keys, domain, planned, DOC))
    assert reply.status_code == 201, reply.text
    # another member taking the ID now learns only that it is taken (not whose, nor what)
    taken = _problem(
        client.post("/v1/agreements", json=body, auth=signing(consortium.broker_b)), 409, "conflict"
    )
    assert taken["detail"] == f"{planned}: this agreement ID is taken"
    theirs = {"customer": SM2PrivateKey.generate(), "broker": consortium.broker_b}
    bulk = client.post(
        "/v1/agreements/bulk",
        json={"agreements": [submission(theirs, domain, planned, DOC)]},
        auth=signing(consortium.broker_b),
    ).json()
    assert bulk["results"][0]["status"] == 409
    assert bulk["results"][0]["problem"]["detail"] == f"{planned}: this agreement ID is taken"


def test_one_key_as_customer_and_broker_is_refused(
    client: TestClient, consortium: Consortium
) -> None:
    domain = _domain(client)
    one = consortium.broker_a
    agreement_id = new_agreement_id()
    both = submission({"customer": one, "broker": one}, domain, agreement_id, DOC)
    refused = _problem(client.post("/v1/agreements", json=both), 422, "signature-rejected")
    assert refused["detail"] == (
        f"{agreement_id} v1: one key signs as ['broker', 'customer']; each role signs with its"
        " own key (the customer's and the broker's differ)"
    )
    # step by step too: the broker's key cannot add the customer's signature
    readers = ["0x" + one.public_key().to_raw().hex()]
    body = {"document": {"content": base64.b64encode(DOC.content).decode()}, "readers": readers}
    draft = client.post("/v1/agreements", json=body).json()["agreement_id"]
    path = f"/v1/agreements/{draft}/versions/1/signatures"
    for role, status in (("broker", 201), ("customer", 422)):
        signature = sign_role(
            one, role=role, domain=domain, agreement_id=draft, version=1, document_sm3=DOC.sm3
        )
        assert client.post(path, json=signature_json(signature)).status_code == status


def _erasure(
    key: SM2PrivateKey,
    agreement_id: str,
    domain: SigningDomain,
    *,
    at: datetime | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    request = ErasureRequest(
        agreement_id=agreement_id,
        nonce=nonce or secrets.token_urlsafe(16),
        requested_at=at or datetime.now(UTC).replace(microsecond=0),
        domain=domain,
    )
    signed = request.sign(key)
    return {
        "request": {
            "nonce": request.nonce,
            "requested_at": canonical.timestamp(request.requested_at),
            "chain_id": domain.chain_id,
            "contract": domain.contract,
        },
        "public_key": "0x" + key.public_key().to_raw().hex(),
        "signature": base64.b64encode(signed.signature).decode(),
    }


def test_the_customer_erases_with_a_signed_request_once(
    client: TestClient, consortium: Consortium
) -> None:
    agreement_id, domain = _victims_agreement(client, consortium)
    path = f"/v1/agreements/{agreement_id}/document-keys"
    customer = consortium.customer
    stale = _erasure(customer, agreement_id, domain, at=datetime.now(UTC) - timedelta(days=2))
    _problem(
        client.request("DELETE", path, json=stale, auth=signing(customer)),
        422,
        "signature-rejected",
    )
    elsewhere = _erasure(customer, new_agreement_id(), domain)
    _problem(
        client.request("DELETE", path, json=elsewhere, auth=signing(customer)),
        422,
        "signature-rejected",
    )
    request = _erasure(customer, agreement_id, domain)
    # relayed by another member: the customer's signature is the authorization
    reply = client.request("DELETE", path, json=request, auth=signing(consortium.broker_b))
    assert reply.status_code == 200, reply.text
    erased = reply.json()
    assert (erased["method"], erased["caller_member_id"], erased["keys_erased"]) == (
        "customer",
        "member-b",
        2,
    )
    assert erased["customer_key_fingerprint"] == canonical.label(
        "sm3", customer.public_key().fingerprint()
    )
    assert erased["nonce"] == request["request"]["nonce"]
    replayed = _problem(
        client.request("DELETE", path, json=request, auth=signing(customer)),
        422,
        "signature-rejected",
    )
    assert replayed["detail"].endswith("was used already: a replay")
    agreement = client.get(f"/v1/agreements/{agreement_id}").json()
    assert agreement["erasures"] == [erased]
    # the customer reads its agreement (and sees the erasure), signing with its own key
    mine = client.get(f"/v1/agreements/{agreement_id}", auth=signing(customer)).json()
    assert mine["erasures"] == [erased]
