"""The HTTP API against real proofs and a real anvil node."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import MAX_PROOF_BYTES, get_settings
from ledger.chain.devnode import DevNode
from ledger.demo import run_demo
from ledger.settings import Settings
from tests._fixtures.anvil import free_port


@pytest.fixture(scope="module")
def chain_and_proof(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, bytes]]:
    root = tmp_path_factory.mktemp("api")
    settings = Settings(data_dir=root / "data", dev_chain_port=free_port())
    node = DevNode(directory=settings.chain_dir, port=settings.dev_chain_port)
    url = node.start()
    try:
        yield url, run_demo(settings, out_dir=root / "out").proof_path.read_bytes()
    finally:
        node.stop()


def _client(rpc_url: str | None) -> TestClient:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(
        data_dir=Path("/nonexistent"), chain_rpc_url=rpc_url
    )
    return TestClient(app)


def test_verify_valid_proof_offline(chain_and_proof: tuple[str, bytes]) -> None:
    _, proof = chain_and_proof
    reply = _client(None).post("/v1/proofs/verify", content=proof)
    assert reply.status_code == 200
    body = reply.json()
    assert body["valid"] is True and body["confirmed_on_chain"] is False
    assert body["roles"] == ["broker", "customer"]  # role order (ledger-proof/1)
    assert body["agreement_id"].startswith("agr_")


def test_verify_confirms_on_chain(chain_and_proof: tuple[str, bytes]) -> None:
    url, proof = chain_and_proof
    reply = _client(url).post("/v1/proofs/verify", content=proof)
    assert reply.status_code == 200, reply.text
    assert reply.json()["confirmed_on_chain"] is True


def test_tampered_proof_is_a_problem(chain_and_proof: tuple[str, bytes]) -> None:
    _, proof = chain_and_proof
    tampered = proof.replace(b'"role":"broker"', b'"role":"brokex"')
    reply = _client(None).post("/v1/proofs/verify", content=tampered)
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["type"] == "urn:ledger:problem:proof-invalid"
    assert problem["status"] == 422
    assert "broker" in problem["detail"] or "signature" in problem["detail"]


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"format":"ledger-proof/9"}'])
def test_garbage_is_a_problem_not_a_crash(body: bytes) -> None:
    reply = _client(None).post("/v1/proofs/verify", content=body)
    assert reply.status_code == 422
    assert reply.json()["type"] == "urn:ledger:problem:proof-invalid"


def test_oversized_upload_is_refused() -> None:
    reply = _client(None).post("/v1/proofs/verify", content=b" " * (MAX_PROOF_BYTES + 1))
    assert reply.status_code == 413
    assert reply.headers["content-type"] == "application/problem+json"


def test_unreachable_chain_is_503(chain_and_proof: tuple[str, bytes]) -> None:
    _, proof = chain_and_proof
    reply = _client(f"http://127.0.0.1:{free_port()}").post("/v1/proofs/verify", content=proof)
    assert reply.status_code == 503
    assert reply.json()["type"] == "urn:ledger:problem:chain-unavailable"


def test_health(chain_and_proof: tuple[str, bytes]) -> None:
    url, _ = chain_and_proof
    assert _client(None).get("/health").json()["chain"] == "not configured"
    assert _client(url).get("/health").json() == {
        "status": "ok",
        "version": "0.1.0",
        "chain": "ok",
        "chain_id": 31337,
    }
    down = _client(f"http://127.0.0.1:{free_port()}").get("/health").json()
    assert down["status"] == "degraded" and down["chain"] == "unreachable"


def test_store_unavailable_is_503() -> None:
    from fastapi import FastAPI

    from api import problems
    from ledger.store import KuboStore

    app = FastAPI()
    problems.install(app)

    @app.get("/probe")
    def probe() -> None:
        KuboStore(api_url=f"http://127.0.0.1:{free_port()}", timeout_s=2).get(
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        )

    reply = TestClient(app).get("/probe")
    assert reply.status_code == 503
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["type"] == "urn:ledger:problem:store-unavailable"


CONSENT_PROOF = Path(__file__).resolve().parents[2] / "assets" / "consent-proof-v1.json"


def test_a_proof_of_consent_is_verified_too() -> None:
    """The customer's ``ledger-consent-proof/1`` (the committed golden file): the grant, its
    revocation and every use proven anchored; offline (its chain is not this machine's)."""
    data = CONSENT_PROOF.read_bytes()
    stated = json.loads(data)
    reply = _client(None).post("/v1/proofs/verify", content=data)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["valid"], body["format"], body["confirmed_on_chain"]) == (
        True,
        "ledger-consent-proof/1",
        False,
    )
    assert body["grant_id"] == stated["recorded"]["grant_id"]
    assert [u["receipt_id"] for u in body["uses"]] == [
        r["receipt"]["receipt_id"] for r in stated["receipts"]
    ]
    assert body["pending"] == stated["pending"]
    assert body["revoked_at"] is not None  # the golden grant was revoked by its customer
    assert [k["purpose"] for k in body["checked_keys"]] == ["proof-sealing"]


def test_a_changed_proof_of_consent_is_a_problem() -> None:
    data = CONSENT_PROOF.read_bytes().replace(
        b'"purpose":"account-opening"', b'"purpose":"account-openinh"', 1
    )
    reply = _client(None).post("/v1/proofs/verify", content=data)
    assert reply.status_code == 422, reply.text
    assert reply.json()["type"] == "urn:ledger:problem:proof-invalid"
