"""The agreement's rules at the HTTP edge: replays and refused versions store nothing, signing
times outside the window are a 422, the rules' limits are in the OpenAPI document (FastAPI
TestClient, the service running in the app's lifespan, real anvil, SQLite, embedded store)."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from ledger.agreement import MAX_SIGNERS, Document, new_agreement_id
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.server import signature_json, submission
from tests._fixtures.service import sign_all, sign_role
from tests.integration.api._support import _domain, _problem

MIB_DOC = Document(os.urandom(1024 * 1024))


def _stored(tmp_path: Path) -> list[tuple[str, int]]:
    blocks = tmp_path / "data" / "store" / "blocks"
    return sorted(
        (p.name, p.stat().st_size) for p in blocks.rglob("*") if p.is_file() and p.name[0] != "."
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_replays_are_409_and_store_nothing(
    client: TestClient, keys: dict[str, SM2PrivateKey], tmp_path: Path
) -> None:
    agreement_id = new_agreement_id()
    body = submission(keys, _domain(client), agreement_id, MIB_DOC)
    assert client.post("/v1/agreements", json=body).status_code == 201
    before = _stored(tmp_path)
    for _ in range(20):
        problem = _problem(client.post("/v1/agreements", json=body), 409, "conflict")
        assert problem["detail"] == f"{agreement_id}: the next version is 2, not 1"
    reply = client.post("/v1/agreements/bulk", json={"agreements": [body] * 5})
    assert reply.status_code == 200, reply.text
    assert [r["status"] for r in reply.json()["results"]] == [409] * 5
    assert _stored(tmp_path) == before


def _signed_at(offset: timedelta) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + offset


def test_out_of_window_signing_times_are_422_and_store_nothing(
    client: TestClient, keys: dict[str, SM2PrivateKey], tmp_path: Path
) -> None:
    domain = _domain(client)
    before = _stored(tmp_path)
    cases = {
        "1970-01-01T00:00:00Z": "before",
        "2099-12-31T23:59:59Z": "after",
        f"{_signed_at(-timedelta(hours=25)):%Y-%m-%dT%H:%M:%SZ}": "before",
        f"{_signed_at(timedelta(minutes=10)):%Y-%m-%dT%H:%M:%SZ}": "after",
    }
    for when, side in cases.items():
        agreement_id = new_agreement_id()
        signed_at = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        signatures = [
            sign_role(
                key,
                role=role,
                domain=domain,
                agreement_id=agreement_id,
                version=1,
                document_sm3=MIB_DOC.sm3,
                signed_at=signed_at,
            )
            for role, key in keys.items()
        ]
        body = {
            "agreement_id": agreement_id,
            "document": {"content": _b64(MIB_DOC.content)},
            "signatures": [signature_json(s) for s in signatures],
        }
        problem = _problem(client.post("/v1/agreements", json=body), 422, "signature-rejected")
        assert problem["detail"].startswith(
            f"signature of 'customer' over {agreement_id} v1: signed at {when}, more than"
        )
        assert f" s {side} " in problem["detail"]
        bulk = client.post("/v1/agreements/bulk", json={"agreements": [body]}).json()
        assert bulk["results"][0]["status"] == 422
        assert bulk["results"][0]["problem"]["type"] == "urn:ledger:problem:signature-rejected"
        _problem(client.get(f"/v1/agreements/{agreement_id}"), 404, "not-found")
    assert _stored(tmp_path) == before


def test_a_late_signature_of_a_draft_is_422_and_not_recorded(
    client: TestClient, keys: dict[str, SM2PrivateKey]
) -> None:
    domain = _domain(client)
    readers = ["0x" + k.public_key().to_raw().hex() for k in keys.values()]
    draft = client.post(
        "/v1/agreements", json={"document": {"content": _b64(b"draft")}, "readers": readers}
    ).json()
    late = sign_role(
        keys["customer"],
        role="customer",
        domain=domain,
        agreement_id=draft["agreement_id"],
        version=1,
        document_sm3=Document(b"draft").sm3,
        signed_at=datetime(1970, 1, 1, tzinfo=UTC),
    )
    url = f"/v1/agreements/{draft['agreement_id']}/versions/1"
    _problem(client.post(f"{url}/signatures", json=signature_json(late)), 422, "signature-rejected")
    assert client.get(url).json()["missing_roles"] == ["broker", "customer"]


def test_new_versions_follow_the_rules_and_refusals_store_nothing(
    client: TestClient, keys: dict[str, SM2PrivateKey], tmp_path: Path
) -> None:
    domain = _domain(client)
    agreement_id = new_agreement_id()
    assert (
        client.post(
            "/v1/agreements", json=submission(keys, domain, agreement_id, Document(b"v1"))
        ).status_code
        == 201
    )
    readers = ["0x" + k.public_key().to_raw().hex() for k in keys.values()]
    url = f"/v1/agreements/{agreement_id}/versions"
    doc = {"content": _b64(MIB_DOC.content)}
    before = _stored(tmp_path)
    problem = _problem(
        client.post(url, json={"version": 3, "document": doc, "readers": readers}), 409, "conflict"
    )
    assert problem["detail"] == f"{agreement_id}: the next version is 2, not 3"
    problem = _problem(
        client.post(url, json={"version": 2, "kind": "void", "document": doc, "readers": readers}),
        400,
        "bad-request",
    )
    assert problem["detail"] == "a void takes a reason, not a document"
    problem = _problem(
        client.post(url, json={"version": 2, "reason": "why", "readers": readers}),
        400,
        "bad-request",
    )
    assert problem["detail"] == "a new agreement version takes a document, not a reason"
    problem = _problem(client.post(url, json={"version": 2, "document": doc}), 400, "bad-request")
    assert problem["detail"] == "a draft needs readers: the keys allowed to decrypt the document"
    # signed, but one role short
    (customer,) = sign_all(
        {"customer": keys["customer"]},
        domain=domain,
        agreement_id=agreement_id,
        version=2,
        document=MIB_DOC,
    )
    problem = _problem(
        client.post(
            url, json={"version": 2, "document": doc, "signatures": [signature_json(customer)]}
        ),
        409,
        "conflict",
    )
    assert problem["detail"] == (
        f"{agreement_id} v2 needs exactly one signature of each of ['broker', 'customer'],"
        " has ['customer']"
    )
    assert _stored(tmp_path) == before
    # a signed void: the service writes the notice, the parties sign its digest
    draft = client.post(
        url, json={"version": 2, "kind": "void", "reason": "closed", "readers": readers}
    ).json()
    assert (draft["kind"], draft["status"]) == ("void", "draft")


def test_the_rules_limits_are_in_the_openapi_document(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["VersionKind"]["enum"] == ["agreement", "void"]
    assert schemas["AgreementState"]["enum"] == ["draft", "in force", "void"]
    roles = schemas["NewAgreementIn"]["properties"]["required_roles"]
    assert (roles["minItems"], roles["maxItems"]) == (1, MAX_SIGNERS)
    media_type = schemas["DocumentIn"]["properties"]["media_type"]
    assert media_type["maxLength"] == 200


def test_more_signers_than_the_cap_is_422(
    client: TestClient, keys: dict[str, SM2PrivateKey]
) -> None:
    roles = ["customer", "broker", *(f"r{i}" for i in range(MAX_SIGNERS - 1))]
    readers = ["0x" + keys["customer"].public_key().to_raw().hex()]
    reply = client.post(
        "/v1/agreements",
        json={"document": {"content": _b64(b"x")}, "readers": readers, "required_roles": roles},
    )
    _problem(reply, 422, "invalid-request")
    reply = client.post(
        "/v1/agreements",
        json={
            "document": {"content": _b64(b"x")},
            "readers": readers,
            "required_roles": roles[:MAX_SIGNERS],
        },
    )
    assert reply.status_code == 201, reply.text
    assert len(reply.json()["required_roles"]) == MAX_SIGNERS
