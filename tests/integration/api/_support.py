"""Helpers of the API tests: the signing domain a client is told, and problem replies."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ledger.agreement import SigningDomain

PROBLEM = "application/problem+json"


def _domain(client: TestClient) -> SigningDomain:
    body = client.get("/v1/signing-domain").json()
    return SigningDomain(chain_id=body["chain_id"], contract=body["contract"])


def _problem(reply: Any, status: int, kind: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == PROBLEM
    body = reply.json()
    assert body["type"] == f"urn:ledger:problem:{kind}" and body["status"] == status
    return body  # type: ignore[no-any-return]
