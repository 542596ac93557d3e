"""The agreements API over HTTP (FastAPI TestClient, the service running in the app's lifespan,
real anvil, SQLite, embedded store)."""

from __future__ import annotations

import base64
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import problems
from ledger.agreement import Document, new_agreement_id
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db.errors import Conflict as DbConflict
from ledger.db.errors import DatabaseError
from ledger.db.errors import NotFound as DbNotFound
from ledger.httpsig import default_keyid
from ledger.proof import verify_proof
from ledger.service.errors import ServiceUnavailable
from tests._fixtures.server import signature_json, submission
from tests._fixtures.service import sign_role
from tests.integration.api._support import _domain, _problem

DOC = Document(b"Account agreement over HTTP.\n")


def _wait_anchored(client: TestClient, agreement_id: str, version: int = 1) -> None:
    deadline = time.monotonic() + 30
    while client.get(f"/v1/agreements/{agreement_id}/versions/{version}").json()["status"] != (
        "anchored"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_draft_sign_accept_anchor_download_and_verify(
    client: TestClient, keys: dict[str, SM2PrivateKey]
) -> None:
    domain = _domain(client)
    readers = ["0x" + k.public_key().to_raw().hex() for k in keys.values()]
    reply = client.post(
        "/v1/agreements",
        json={"document": {"content": base64.b64encode(DOC.content).decode()}, "readers": readers},
    )
    assert reply.status_code == 201, reply.text
    draft = reply.json()
    agreement_id = draft["agreement_id"]
    assert (draft["status"], draft["missing_roles"]) == ("draft", ["broker", "customer"])
    assert draft["signing"] == {
        "type": "ledger/agreement-signature",
        "version": 1,
        "agreement_id": agreement_id,
        "agreement_version": 1,
        "document_digest": "sm3:" + DOC.sm3.hex(),
        "chain_id": domain.chain_id,
        "contract": domain.contract,
    }
    _problem(client.get(f"/v1/agreements/{agreement_id}/versions/1/proof"), 409, "not-anchored-yet")
    for role in ("customer", "broker"):
        signature = sign_role(
            keys[role],
            domain=domain,
            agreement_id=agreement_id,
            version=1,
            document_sm3=DOC.sm3,
            role=role,
        )
        reply = client.post(
            f"/v1/agreements/{agreement_id}/versions/1/signatures", json=signature_json(signature)
        )
        assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "accepted"
    _wait_anchored(client, agreement_id)
    agreement = client.get(f"/v1/agreements/{agreement_id}").json()
    assert (agreement["state"], agreement["current_version"]) == ("in force", 1)

    reply = client.get(f"/v1/agreements/{agreement_id}/versions/1/proof")
    assert reply.status_code == 200
    assert agreement_id in reply.headers["content-disposition"]
    assert verify_proof(reply.content).agreement_id == agreement_id
    verdict = client.post("/v1/proofs/verify", content=reply.content)
    assert verdict.status_code == 200 and verdict.json()["valid"] is True

    erased = client.delete(f"/v1/agreements/{agreement_id}/document-keys").json()
    assert erased == {
        "agreement_id": agreement_id,
        "keys_erased": 2,
        "erased_at": erased["erased_at"],
        "method": "broker",
        "caller_member_id": "member-a",
        "caller_keyid": default_keyid(keys["broker"].public_key()),
        "customer_key_fingerprint": None,
        "nonce": None,
    }
    version = client.get(f"/v1/agreements/{agreement_id}/versions/1").json()
    assert version["keys_erased"] is True
    agreement = client.get(f"/v1/agreements/{agreement_id}").json()
    assert (agreement["owner"], agreement["erasures"]) == ("member-a", [erased])
    verify_proof(client.get(f"/v1/agreements/{agreement_id}/versions/1/proof").content)


def test_signed_submission_supersede_and_void(
    client: TestClient, keys: dict[str, SM2PrivateKey]
) -> None:
    domain = _domain(client)
    agreement_id = new_agreement_id()
    reply = client.post("/v1/agreements", json=submission(keys, domain, agreement_id, DOC))
    assert (reply.status_code, reply.json()["status"]) == (201, "accepted")
    _problem(
        client.post("/v1/agreements", json=submission(keys, domain, agreement_id, DOC)),
        409,
        "conflict",
    )
    # void: the draft carries the void notice; both parties sign its digest
    readers = ["0x" + k.public_key().to_raw().hex() for k in keys.values()]
    reply = client.post(
        f"/v1/agreements/{agreement_id}/versions",
        json={"version": 2, "kind": "void", "reason": "account closed", "readers": readers},
    )
    assert reply.status_code == 201, reply.text
    void = reply.json()
    assert (void["kind"], void["version"]) == ("void", 2)
    notice_digest = bytes.fromhex(void["document_digest"].removeprefix("sm3:"))
    for role in ("customer", "broker"):
        signature = sign_role(
            keys[role],
            domain=domain,
            agreement_id=agreement_id,
            version=2,
            document_sm3=notice_digest,
            role=role,
        )
        reply = client.post(
            f"/v1/agreements/{agreement_id}/versions/2/signatures", json=signature_json(signature)
        )
        assert reply.status_code == 201, reply.text
    agreement = client.get(f"/v1/agreements/{agreement_id}").json()
    assert (agreement["state"], agreement["current_version"]) == ("void", None)
    assert [v["version"] for v in agreement["versions"]] == [1, 2]
    _problem(
        client.post(
            f"/v1/agreements/{agreement_id}/versions",
            json={
                "version": 3,
                "document": {"content": base64.b64encode(b"x").decode()},
                "readers": readers,
            },
        ),
        409,
        "conflict",
    )


def test_bad_input_is_4xx_problem_json_and_stores_nothing(
    client: TestClient, keys: dict[str, SM2PrivateKey]
) -> None:
    domain = _domain(client)
    agreement_id = new_agreement_id()
    body = submission(keys, domain, agreement_id, DOC)
    body["signatures"][0]["signature"] = base64.b64encode(
        b"\x30\x06\x02\x01\x01\x02\x01\x01"
    ).decode()
    _problem(client.post("/v1/agreements", json=body), 422, "signature-rejected")
    _problem(client.get(f"/v1/agreements/{agreement_id}"), 404, "not-found")

    body = submission(keys, domain, agreement_id, DOC)
    body["document"]["content"] = "not base64!"
    _problem(client.post("/v1/agreements", json=body), 400, "bad-request")
    body = submission(keys, domain, agreement_id, DOC)
    body["signatures"][0]["public_key"] = "0x04" + "00" * 64  # not on the curve
    _problem(client.post("/v1/agreements", json=body), 400, "bad-request")
    body = submission(keys, domain, agreement_id, DOC)
    body["surprise"] = 1
    _problem(client.post("/v1/agreements", json=body), 422, "invalid-request")
    body = submission(keys, domain, agreement_id, DOC)
    body["signatures"][0]["signed_at"] = "yesterday"
    _problem(client.post("/v1/agreements", json=body), 400, "bad-request")
    body = submission(keys, domain, agreement_id, DOC)
    body["signatures"][0]["distid"] = "\u00e9\u00e9"  # not ASCII
    _problem(client.post("/v1/agreements", json=body), 422, "invalid-request")
    _problem(client.get(f"/v1/agreements/{agreement_id}"), 404, "not-found")
    _problem(client.get("/v1/agreements/agr_nope"), 422, "invalid-request")  # path pattern
    for version in (2**70, 0, -1):
        reply = client.get(f"/v1/agreements/{agreement_id}/versions/{version}")
        _problem(reply, 422, "invalid-request")
    _problem(client.get(f"/v1/agreements/{agreement_id}/versions/1/proof"), 404, "not-found")


def test_health_reports_the_service(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert (health["chain"], health["store"], health["database"]) == ("ok", "ok", "ok")
    assert health["anchoring"]["running"] is True


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (DatabaseError("disk I/O error"), 503, "service-unavailable"),
        (DbConflict("refused by the database"), 409, "conflict"),
        (DbNotFound("no version 3"), 404, "not-found"),
        (ServiceUnavailable("stopping"), 503, "service-unavailable"),
    ],
)
def test_database_failures_are_problems_never_500(error: Exception, status: int, kind: str) -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/probe")
    def probe() -> None:
        raise error

    _problem(TestClient(app).get("/probe"), status, kind)


def test_bulk_submission_judges_each_agreement_and_acknowledges_the_good_ones(
    client: TestClient, keys: dict[str, SM2PrivateKey]
) -> None:
    domain = _domain(client)
    ids = [new_agreement_id() for _ in range(4)]
    good = [submission(keys, domain, i, Document(f"agreement {i}".encode())) for i in ids[:3]]
    forged = {**submission(keys, domain, ids[3], DOC), "signatures": good[0]["signatures"]}
    not_base64 = {**good[1], "agreement_id": new_agreement_id()}
    not_base64["document"] = {"content": "***", "media_type": "text/plain"}
    body = {"agreements": [good[0], forged, good[1], not_base64, good[0], good[2]]}

    reply = client.post("/v1/agreements/bulk", json=body)

    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert (out["accepted"], out["refused"]) == (3, 3)
    statuses = [r["status"] for r in out["results"]]
    assert statuses == [201, 422, 201, 400, 409, 201]
    assert [r["version"]["agreement_id"] for r in out["results"] if r["status"] == 201] == ids[:3]
    assert out["results"][1]["problem"]["type"] == "urn:ledger:problem:signature-rejected"
    assert out["results"][3]["problem"]["type"] == "urn:ledger:problem:bad-request"
    assert out["results"][4]["problem"]["type"] == "urn:ledger:problem:conflict"
    _problem(client.get(f"/v1/agreements/{ids[3]}"), 404, "not-found")  # nothing stored
    _wait_anchored(client, ids[2])
    verify_proof(client.get(f"/v1/agreements/{ids[2]}/versions/1/proof").content)


@pytest.mark.parametrize("agreements", [[], [{"agreement_id": "x"}]])
def test_a_malformed_bulk_request_is_refused_whole(
    client: TestClient, agreements: list[dict[str, str]]
) -> None:
    _problem(
        client.post("/v1/agreements/bulk", json={"agreements": agreements}),
        422,
        "invalid-request",
    )
