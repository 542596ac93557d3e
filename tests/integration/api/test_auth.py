"""The request-signature dependency end to end: a tiny app whose route takes ``SignedCaller``,
through Starlette's TestClient and through a real uvicorn server with ``LedgerClient`` (its key
from the keystore); refusals are 401 problems naming the reason. Nonces in a real SQLite file."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api import problems
from api.auth import SignedCaller
from api.deps import get_settings
from ledger.chain.devnode import free_port
from ledger.client import LedgerClient, SigningAuth
from ledger.crypto.keystore import Keystore
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import Database
from ledger.httpsig import (
    ACCEPT_SIGNATURE,
    KeyTable,
    RequestSigner,
    RequestVerifier,
    default_keyid,
)
from ledger.settings import Settings
from tests.integration.httpsig.conftest import registered

PROBLEM = "application/problem+json"
BROKER = SM2PrivateKey.generate()


class Note(BaseModel):
    text: str


def auth_app(*, verifier: RequestVerifier | None, public_origin: str | None = None) -> FastAPI:
    """An app with one route that admits signed requests only and says who signed."""
    app = FastAPI()
    problems.install(app)
    app.state.request_verifier = verifier
    app.dependency_overrides[get_settings] = lambda: Settings(api_public_origin=public_origin)

    @app.api_route("/v1/whoami", methods=["GET", "POST", "DELETE"])
    async def whoami(caller: SignedCaller, request: Request) -> dict[str, Any]:
        return {
            "member_id": caller.member_id,
            "roles": sorted(caller.roles),
            "keyid": caller.keyid,
            "body": (await request.body()).decode(),  # still readable after verification
        }

    @app.post("/v1/notes")
    async def note(caller: SignedCaller, note: Note) -> dict[str, str]:
        """A body model parsed after the dependency has read and verified the body."""
        return {"member_id": caller.member_id, "text": note.text}

    return app


@pytest.fixture
def verifier(sqlite_database: Database) -> RequestVerifier:
    keys = KeyTable([registered(BROKER, "member-a", "broker")])
    return RequestVerifier(keys=keys, nonces=sqlite_database, max_age_s=300, max_skew_s=30)


def assert_problem(response: httpx.Response, status: int, kind: str, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:ledger:problem:{kind}"
    assert body["status"] == status
    assert body["detail"].startswith(detail), body["detail"]
    if status == 401:
        assert body["title"] == "Request signature refused"
        assert response.headers["www-authenticate"] == "Signature"
        assert response.headers["accept-signature"] == ACCEPT_SIGNATURE


def test_a_signed_request_reaches_the_route_with_its_caller(verifier: RequestVerifier) -> None:
    auth = SigningAuth(RequestSigner(key=BROKER))
    with TestClient(auth_app(verifier=verifier)) as client:
        response = client.post("/v1/whoami?x=1", json={"hello": "world"}, auth=auth)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "member_id": "member-a",
            "roles": ["broker"],
            "keyid": default_keyid(BROKER.public_key()),
            "body": '{"hello":"world"}',
        }
        assert client.get("/v1/whoami", auth=auth).status_code == 200
        noted = client.post("/v1/notes", json={"text": "signed"}, auth=auth)
        assert noted.json() == {"member_id": "member-a", "text": "signed"}


def test_refusals_are_401_problems_naming_the_reason(verifier: RequestVerifier) -> None:
    with TestClient(auth_app(verifier=verifier)) as client:
        assert_problem(
            client.get("/v1/whoami"), 401, "signature-missing", "the request is not signed"
        )
        stranger = SigningAuth(RequestSigner(key=SM2PrivateKey.generate()))
        assert_problem(
            client.get("/v1/whoami", auth=stranger), 401, "unknown-key", "no registered key"
        )

        signed = client.build_request("POST", "/v1/whoami", content=b'{"a": 1}')
        next(SigningAuth(RequestSigner(key=BROKER)).auth_flow(signed))
        assert client.send(signed).status_code == 200
        assert_problem(client.send(signed), 401, "replayed", "nonce '")

        tampered = _as_received(client, signed, content=b'{"a": 2}')
        assert_problem(
            client.send(tampered), 401, "digest-mismatch", "the body does not match its Content"
        )
        moved = _as_received(client, signed, method="DELETE")
        assert_problem(client.send(moved), 401, "signature-invalid", "the signature does not")


def _as_received(client: TestClient, signed: httpx.Request, **changes: Any) -> httpx.Request:
    """The signed request with its signature fields, but changed on the way."""
    headers = {k: v for k, v in signed.headers.items() if k != "content-length"}
    return client.build_request(
        changes.get("method", signed.method),
        signed.url,
        content=changes.get("content", signed.content),
        headers=headers,
    )


def test_without_a_verifier_the_dependency_answers_503() -> None:
    with TestClient(auth_app(verifier=None)) as client:
        assert_problem(
            client.get("/v1/whoami"),
            503,
            "service-unavailable",
            "this process cannot check request signatures",
        )


def test_behind_a_proxy_the_target_uri_is_the_public_origins(verifier: RequestVerifier) -> None:
    """With LEDGER_API_PUBLIC_ORIGIN the signed @target-uri is what the client addressed (the
    TLS-terminating proxy's origin), not how the request reached this process."""
    app = auth_app(verifier=verifier, public_origin="https://member-a.example")
    with TestClient(app) as client:
        request = client.build_request("GET", "/v1/whoami?car=false")
        RequestSigner(key=BROKER).sign(
            method="GET",
            url="https://member-a.example/v1/whoami?car=false",
            headers=request.headers,
            body=b"",
        )
        assert client.send(request).status_code == 200
        # signed for the address it was sent to instead: not this service's public address
        direct = client.get("/v1/whoami", auth=SigningAuth(RequestSigner(key=BROKER)))
        assert_problem(direct, 401, "signature-invalid", "the signature does not verify")


def test_ledger_client_against_a_real_uvicorn(tmp_path: Path, verifier: RequestVerifier) -> None:
    keystore = Keystore(directory=tmp_path / "keys", scrypt_n=2**10)
    keystore.save("broker", BROKER, b"broker password")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            auth_app(verifier=verifier), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        with LedgerClient.from_keystore(
            base_url=f"http://127.0.0.1:{port}",
            keystore=keystore,
            name="broker",
            password=b"broker password",
            digest="sm3",
        ) as client:
            assert client.keyid == default_keyid(BROKER.public_key())
            posted = client.post("/v1/whoami", json={"agreement": "agr_1"})
            assert posted.status_code == 200, posted.text
            assert posted.json()["member_id"] == "member-a"
            assert posted.json()["body"] == '{"agreement":"agr_1"}'
            assert client.delete("/v1/whoami").json()["roles"] == ["broker"]
            assert client.get("/v1/whoami", params={"q": "a b/c"}).status_code == 200
        unsigned = httpx.get(f"http://127.0.0.1:{port}/v1/whoami", timeout=10)
        assert_problem(unsigned, 401, "signature-missing", "the request is not signed")
    finally:
        server.should_exit = True
        thread.join(30)
