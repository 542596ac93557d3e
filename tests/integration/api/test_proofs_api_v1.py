"""``POST /v1/proofs/verify`` with ``ledger-proof/1`` files (batch anchored on a real anvil), and
the committed ``ledger-proof/2`` golden file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import get_settings
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.settings import Settings
from tests._fixtures.proofs import (
    AnchoredBatch,
    Parties,
    anchor_offline,
    anchor_on_chain,
    domain_of,
    sign_version,
)


def _client(rpc_url: str | None) -> TestClient:
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: Settings(
        data_dir=Path("/nonexistent"), chain_rpc_url=rpc_url
    )
    return TestClient(app)


@pytest.fixture
def batch(evidence_ledger: EvidenceLedgerContract, proof_parties: Parties) -> AnchoredBatch:
    versions = [sign_version(proof_parties, domain_of(evidence_ledger)) for _ in range(3)]
    return anchor_on_chain(versions, evidence_ledger, extra_leaves=2)


def test_a_v1_proof_verifies_offline(batch: AnchoredBatch, proof_parties: Parties) -> None:
    reply = _client(None).post("/v1/proofs/verify", content=batch.proof(2, proof_parties.issuer))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["valid"] is True and body["confirmed_on_chain"] is False
    assert body["agreement_id"] == batch.versions[2].entry.agreement_id
    assert body["roles"] == ["broker", "customer"]
    assert body["cid"] == batch.versions[2].entry.document_cid
    assert body["anchor_id"].startswith("keccak256:")  # the batch ID
    assert body["block_number"] == batch.anchor.block_number
    fingerprint = proof_parties.issuer.public_key().fingerprint().hex()
    assert body["issuer_key_fingerprint"] == f"sm3:{fingerprint}"
    assert (body["format"], body["checked_keys"]) == ("ledger-proof/1", [])  # none claimed


def test_a_v2_proof_lists_the_keys_it_checked() -> None:
    data = (Path(__file__).resolve().parents[2] / "assets" / "proof-v2.json").read_bytes()
    reply = _client(None).post("/v1/proofs/verify", content=data)
    assert reply.status_code == 200, reply.text
    keys = json.loads(data)["keys"]
    assert reply.json()["format"] == "ledger-proof/2"
    assert reply.json()["checked_keys"] == [
        {
            "signer": signer,
            "key_id": keys[signer]["key_id"],
            "member": keys[signer]["member"],
            "purpose": keys[signer]["purpose"],
            "fingerprint": keys[signer]["fingerprint"],
            "signed_at": signed_at,
        }
        for signer, signed_at in (
            ("seal", "2026-11-22T11:00:00Z"),
            ("broker", "2026-11-22T10:00:01Z"),
        )
    ]


def test_a_v1_proof_is_confirmed_on_chain(
    batch: AnchoredBatch, proof_parties: Parties, anvil_url: str
) -> None:
    proof = batch.proof(0, proof_parties.issuer, include_content=False)
    reply = _client(anvil_url).post("/v1/proofs/verify", content=proof)
    assert reply.status_code == 200, reply.text
    assert reply.json()["confirmed_on_chain"] is True


def test_a_v1_proof_not_on_chain_is_a_problem(proof_parties: Parties, anvil_url: str) -> None:
    proof = anchor_offline([sign_version(proof_parties)]).proof(0, proof_parties.issuer)
    assert _client(None).post("/v1/proofs/verify", content=proof).status_code == 200
    reply = _client(anvil_url).post("/v1/proofs/verify", content=proof)
    assert reply.status_code == 422
    assert reply.json()["type"] == "urn:ledger:problem:proof-invalid"
    assert reply.json()["detail"].startswith("no contract at ")


def test_a_tampered_v1_proof_is_a_problem(batch: AnchoredBatch, proof_parties: Parties) -> None:
    proof = batch.proof(1, proof_parties.issuer)
    tampered = proof.replace(b'"leaf_index":1', b'"leaf_index":0')
    reply = _client(None).post("/v1/proofs/verify", content=tampered)
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"] == "inclusion proof does not lead to the root"
