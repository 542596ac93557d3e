"""Every endpoint x every kind of caller, with the exact status and problem type: who may do
what to member A's agreement (the service in the app's lifespan, real anvil and SQLite).

Callers: anonymous, a key nobody registered, member A's revoked key, a member voted out (its
key's window ended), a request signed by another key than its keyid names, a replayed one, a
``created`` too old and too far ahead, a member without roles, another broker member (B), the
auditor, the regulator, the customer that signed A's agreement, A's brokers (two keys), and the
member that runs the service (its chain account; a broker like B for A's agreements).
Refusals that depend on the agreement answer 404 to whoever may not see it (as if it did not
exist) and 403 where the caller's role forbids the action whatever the agreement. The consortium
routes are read by every member and written only by the member that runs the service
(:mod:`tests.integration.api._consortium_routes`); every endpoint is in the matrix.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import canonical
from ledger.agreement import Document, SigningDomain, new_agreement_id
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.client import SigningAuth
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import RegisteredKey, RequestSigner, default_keyid
from ledger.member.governance import Governance
from ledger.settings import Settings
from tests._fixtures.members import SINCE, Consortium, signing
from tests._fixtures.server import signature_json, submission
from tests._fixtures.service import sign_role
from tests.integration.api import _attestation_routes as attestation_routes
from tests.integration.api import _audit_routes as audit_routes
from tests.integration.api import _consent_proof_routes as consent_proof_routes
from tests.integration.api import _consent_routes as consent_routes
from tests.integration.api import _consortium_routes as consortium_routes
from tests.integration.api import _reliance_routes as reliance_routes
from tests.integration.api._support import PROBLEM

DOC = Document(b"Member A's account agreement.\n")


@dataclass
class World:
    client: TestClient
    consortium: Consortium
    domain: SigningDomain
    agreement_id: str  # member A's, anchored: customer + broker_a signed
    proof: bytes
    operator: SM2PrivateKey  # of the member whose chain account the service sends with

    @property
    def governance(self) -> Governance:
        governance: Governance = self.client.app.state.service.governance  # type: ignore[attr-defined]
        return governance

    @property
    def owner(self) -> SigningAuth:
        return signing(self.consortium.broker_a)

    def draft(self) -> str:
        """A fresh draft of member A (its broker made it)."""
        body = {"document": _document(DOC), "readers": [_hex(self.consortium.customer)]}
        reply = self.client.post("/v1/agreements", json=body, auth=self.owner)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["agreement_id"])

    def latest(self) -> int:
        reply = self.client.get(f"/v1/agreements/{self.agreement_id}", auth=self.owner)
        return int(reply.json()["versions"][-1]["version"])


def _document(document: Document) -> dict[str, str]:
    return {"content": base64.b64encode(document.content).decode(), "media_type": "text/plain"}


def _hex(key: SM2PrivateKey) -> str:
    return "0x" + key.public_key().to_raw().hex()


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, anvil_url: str, consortium: Consortium
) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("matrix") / "data",
        chain_rpc_url=anvil_url,
        chain_private_key=DEV_PRIVATE_KEY,
        batch_max_wait_s=0.1,
    )
    directory = consortium.directory()
    operator = SM2PrivateKey.generate()
    directory.add(
        RegisteredKey(
            keyid=default_keyid(operator.public_key()),
            member_id=Account.from_key(DEV_PRIVATE_KEY).address,
            roles=frozenset({"broker"}),
            public_key=operator.public_key(),
            valid_from=SINCE,
            valid_until=None,
        )
    )
    app = create_app(run_service=True, settings=settings, directory=directory)
    with TestClient(app) as client:
        owner = signing(consortium.broker_a)
        body = client.get("/v1/signing-domain").json()
        domain = SigningDomain(chain_id=body["chain_id"], contract=body["contract"])
        agreement_id = new_agreement_id()
        keys = {"customer": consortium.customer, "broker": consortium.broker_a}
        reply = client.post(
            "/v1/agreements", json=submission(keys, domain, agreement_id, DOC), auth=owner
        )
        assert reply.status_code == 201, reply.text
        deadline = time.monotonic() + 30
        path = f"/v1/agreements/{agreement_id}/versions/1"
        while client.get(path, auth=owner).json()["status"] != "anchored":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proof = client.get(path + "/proof", auth=owner).content
        yield World(client, consortium, domain, agreement_id, proof, operator)


# -- the endpoints: method, path and body, built when the cell runs ------------------------

Request = Callable[[World], tuple[str, str, Any]]


def _create(w: World) -> tuple[str, str, Any]:
    return (
        "POST",
        "/v1/agreements",
        {"document": _document(DOC), "readers": [_hex(w.consortium.customer)]},
    )


def _bulk(w: World) -> tuple[str, str, Any]:
    keys = {"customer": SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}
    item = submission(keys, w.domain, new_agreement_id(), DOC)
    return "POST", "/v1/agreements/bulk", {"agreements": [item]}


def _new_version(w: World) -> tuple[str, str, Any]:
    body = {
        "version": w.latest() + 1,
        "kind": "void",
        "reason": "account closed",
        "readers": [_hex(w.consortium.customer)],
    }
    return "POST", f"/v1/agreements/{w.agreement_id}/versions", body


def _sign_draft(w: World) -> tuple[str, str, Any]:
    draft = w.draft()
    signature = sign_role(
        w.consortium.customer,
        role="customer",
        domain=w.domain,
        agreement_id=draft,
        version=1,
        document_sm3=DOC.sm3,
    )
    return "POST", f"/v1/agreements/{draft}/versions/1/signatures", signature_json(signature)


def _read(w: World) -> tuple[str, str, Any]:
    return "GET", f"/v1/agreements/{w.agreement_id}", None


def _read_version(w: World) -> tuple[str, str, Any]:
    return "GET", f"/v1/agreements/{w.agreement_id}/versions/1", None


def _proof(w: World) -> tuple[str, str, Any]:
    return "GET", f"/v1/agreements/{w.agreement_id}/versions/1/proof", None


def _erase(w: World) -> tuple[str, str, Any]:
    return "DELETE", f"/v1/agreements/{w.agreement_id}/document-keys", None


ROUTES: dict[str, Request] = {
    "create": _create,
    "bulk": _bulk,
    "new-version": _new_version,
    "sign-draft": _sign_draft,
    "read": _read,
    "read-version": _read_version,
    "proof": _proof,
    "erase": _erase,
}


def _on_chain(build: consortium_routes.Build) -> Request:
    def request(w: World) -> tuple[str, str, Any]:
        return build(w.governance)

    return request


def _consent(build: consent_routes.Build) -> Request:
    def request(w: World) -> tuple[str, str, Any]:
        return build(w.client.app.state.service.consents, w.consortium.customer)  # type: ignore[attr-defined]

    return request


def _reliance(build: reliance_routes.Build) -> Request:
    def request(w: World) -> tuple[str, str, Any]:
        return build(w.client.app.state.service)  # type: ignore[attr-defined]

    return request


def _attestation(build: attestation_routes.Build) -> Request:
    def request(w: World) -> tuple[str, str, Any]:
        return build(w.client.app.state.service, w.consortium.customer)  # type: ignore[attr-defined]

    return request


def _fixed(build: audit_routes.Build) -> Request:
    def request(w: World) -> tuple[str, str, Any]:
        del w
        return build()

    return request


#: Every route of the matrix: the agreement routes, the consortium's, the consents', the
#: consent proofs', the attestations' and releases', the reliances', the audit's.
ALL_ROUTES: dict[str, Request] = {
    **ROUTES,
    **{
        name: _on_chain(build)
        for name, build in {**consortium_routes.READS, **consortium_routes.WRITES}.items()
    },
    **{name: _consent(build) for name, build in consent_routes.ROUTES.items()},
    **{name: _reliance(build) for name, build in reliance_routes.ROUTES.items()},
    **{name: _fixed(build) for name, build in audit_routes.ROUTES.items()},
    **{name: _consent(build) for name, build in consent_proof_routes.ROUTES.items()},
    **{name: _attestation(build) for name, build in attestation_routes.ROUTES.items()},
}
#: Each agreement route's endpoint, as the OpenAPI document names it.
ENDPOINTS = {
    "create": ("POST", "/v1/agreements"),
    "bulk": ("POST", "/v1/agreements/bulk"),
    "new-version": ("POST", "/v1/agreements/{agreement_id}/versions"),
    "sign-draft": ("POST", "/v1/agreements/{agreement_id}/versions/{version}/signatures"),
    "read": ("GET", "/v1/agreements/{agreement_id}"),
    "read-version": ("GET", "/v1/agreements/{agreement_id}/versions/{version}"),
    "proof": ("GET", "/v1/agreements/{agreement_id}/versions/{version}/proof"),
    "erase": ("DELETE", "/v1/agreements/{agreement_id}/document-keys"),
    **consortium_routes.ENDPOINTS,
    **consent_routes.ENDPOINTS,
    **reliance_routes.ENDPOINTS,
    **audit_routes.ENDPOINTS,
    **consent_proof_routes.ENDPOINTS,
    **attestation_routes.ENDPOINTS,
}
#: What anyone may call, signed or not.
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/v1/signing-domain"),
    ("GET", "/v1/consent-domain"),
    ("POST", "/v1/proofs/verify"),
}
WRITES = ("new-version", "sign-draft", "erase")
READS = ("read", "read-version", "proof")
CREATES = ("create", "bulk")
SUCCESS = {"create": 201, "bulk": 200, "new-version": 201, "sign-draft": 201, "erase": 200}

# -- the callers ---------------------------------------------------------------------------

#: 401 refusals: every agreement route answers them alike, before anything else.
UNAUTHENTICATED = {
    "anonymous": "signature-missing",
    "unknown-key": "unknown-key",
    "revoked-key": "key-not-valid",
    "removed-member": "key-not-valid",
    "wrong-key": "signature-invalid",
    "stale-created": "signature-stale",
    "future-created": "signature-from-future",
    "replayed": "replayed",
}


def _expected(caller: str, route: str) -> tuple[int, str | None]:
    """(status, problem type or None for success) of ``caller`` on ``route``."""
    if caller in UNAUTHENTICATED:
        return 401, UNAUTHENTICATED[caller]
    if route in consortium_routes.ENDPOINTS:
        return consortium_routes.expected(caller)(route)
    if route in consent_routes.ENDPOINTS:
        return consent_routes.expected(caller, route)
    if route in reliance_routes.ENDPOINTS:
        return reliance_routes.expected(caller, route)
    if route in audit_routes.ENDPOINTS:
        return audit_routes.expected(caller, route)
    if route in consent_proof_routes.ENDPOINTS:
        return consent_proof_routes.expected(caller, route)
    if route in attestation_routes.ENDPOINTS:
        return attestation_routes.expected(caller, route)
    if caller in ("broker-a", "broker-a-second-key"):
        return SUCCESS.get(route, 200), None
    if caller in ("broker-b", "operator"):  # another member: creates its own, sees none of A's
        return (SUCCESS[route], None) if route in CREATES else (404, "not-found")
    if caller == "member-without-roles":  # new versions, like agreements, need a broker
        return (403, "forbidden") if route in (*CREATES, "new-version") else (404, "not-found")
    if caller == "customer" and route == "sign-draft":
        return 404, "not-found"  # a draft its key has not signed: not its agreement (yet)
    # auditor, regulator and A's customer read A's agreement and write nothing
    return (200, None) if route in READS else (403, "forbidden")


CALLERS = [
    *UNAUTHENTICATED,
    "member-without-roles",
    "broker-b",
    "auditor",
    "regulator",
    "customer",
    "broker-a",
    "broker-a-second-key",
    "operator",
]


def _auth(w: World, caller: str) -> httpx.Auth | None:
    c = w.consortium
    now = datetime.now(UTC)
    keys = {
        "unknown-key": SM2PrivateKey.generate(),
        "revoked-key": c.revoked_a,
        "removed-member": c.removed,
        "member-without-roles": c.no_roles,
        "broker-b": c.broker_b,
        "auditor": c.auditor,
        "regulator": c.regulator,
        "customer": c.customer,
        "broker-a": c.broker_a,
        "broker-a-second-key": c.broker_a2,
        "replayed": c.auditor,
        "operator": w.operator,
    }
    if caller == "anonymous":
        return None
    if caller == "wrong-key":  # names member A's broker key, signs with another
        keyid = default_keyid(c.broker_a.public_key())
        return SigningAuth(RequestSigner(key=SM2PrivateKey.generate(), keyid=keyid))
    if caller == "stale-created":
        return SigningAuth(RequestSigner(key=c.broker_a, clock=lambda: now - timedelta(hours=1)))
    if caller == "future-created":
        return SigningAuth(RequestSigner(key=c.broker_a, clock=lambda: now + timedelta(hours=1)))
    return signing(keys[caller])


def test_every_endpoint_is_in_the_matrix(world: World) -> None:
    paths = world.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    endpoints = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    assert endpoints - PUBLIC == set(ENDPOINTS.values())
    assert set(ENDPOINTS) == set(ALL_ROUTES)


@pytest.mark.parametrize("route", list(ALL_ROUTES))
@pytest.mark.parametrize("caller", CALLERS)
def test_each_caller_on_each_route(world: World, caller: str, route: str) -> None:
    method, path, body = ALL_ROUTES[route](world)
    request = world.client.build_request(method, path, json=body)
    auth = _auth(world, caller)
    if auth is not None:
        next(auth.auth_flow(request))
    if caller == "replayed":  # the auditor's request, captured and sent again
        world.client.send(request)
    reply = world.client.send(request)
    status, kind = _expected(caller, route)
    assert reply.status_code == status, reply.text
    if kind is not None:
        assert reply.headers["content-type"] == PROBLEM
        assert reply.json()["type"] == f"urn:ledger:problem:{kind}"
        assert reply.json()["status"] == status


@pytest.mark.parametrize("caller", ["anonymous", "unknown-key", "member-without-roles", "auditor"])
def test_the_public_routes_answer_anyone(world: World, caller: str) -> None:
    auth = _auth(world, caller)
    assert world.client.get("/health", auth=auth).status_code == 200
    assert world.client.get("/v1/signing-domain", auth=auth).status_code == 200
    assert world.client.get("/v1/consent-domain", auth=auth).status_code == 200
    verdict = world.client.post("/v1/proofs/verify", content=world.proof, auth=auth)
    assert verdict.status_code == 200 and verdict.json()["valid"] is True


def test_what_a_refusal_says(world: World) -> None:
    """The problem names what was missing: the role, or that only the owner writes."""
    c = world.consortium
    reply = world.client.post(*_create(world)[1:2], json=_create(world)[2], auth=signing(c.auditor))
    detail = reply.json()["detail"]
    assert detail.startswith("creating agreements needs the broker role; 'audit-firm' (key 'sm3:")
    assert detail.endswith("roles: auditor) does not have it")
    path = f"/v1/agreements/{world.agreement_id}/document-keys"
    reply = world.client.delete(path, auth=signing(c.regulator))
    assert reply.status_code == 403
    assert reply.json()["detail"].endswith(
        "may not erase its documents: auditors and the regulator read agreements and write"
        " nothing; its customer erases them with a customer-signed erasure request"
    )
    hidden = world.client.get(f"/v1/agreements/{world.agreement_id}", auth=signing(c.broker_b))
    missing = world.client.get(f"/v1/agreements/{new_agreement_id()}", auth=signing(c.broker_b))
    assert hidden.json()["detail"] == f"no agreement {world.agreement_id}"
    assert missing.json()["detail"].startswith("no agreement agr_")  # the same words
    reply = world.client.get("/v1/agreements/" + world.agreement_id, auth=None)
    assert reply.headers["www-authenticate"] == "Signature"
    assert reply.headers["accept-signature"].startswith('sig=("@method" "@target-uri"')


def test_a_members_file_backs_the_service_as_the_key_table_does(
    tmp_path: Path, consortium: Consortium
) -> None:
    from ledger.member import directory_for

    now = datetime.now(UTC)
    file = consortium.members_file(tmp_path / "members.toml")
    table = directory_for(Settings(members_file=file))
    for entry in consortium.entries():
        found = table.lookup(entry.keyid, now)
        assert found is not None
        assert (found.member_id, found.roles, found.public_key) == (
            entry.member_id,
            entry.roles,
            entry.public_key,
        )
        assert found.valid_at(now) == entry.valid_at(now)


@pytest.mark.parametrize("route", [r for r in ROUTES if r not in CREATES])
def test_another_member_gets_what_a_missing_agreement_gets(world: World, route: str) -> None:
    """Member B cannot tell member A's agreement from one that does not exist: the same status,
    problem and words (the ID aside), on every route that names an agreement."""
    method, path, body = ROUTES[route](world)
    named = path.split("/")[3]
    absent = new_agreement_id()
    auth = signing(world.consortium.broker_b)
    hidden = world.client.request(method, path, json=body, auth=auth)
    missing = world.client.request(method, path.replace(named, absent), json=body, auth=auth)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {
        **missing.json(),
        "detail": missing.json()["detail"].replace(absent, named),
    }


def test_a_forged_erasure_request_tells_nothing_of_the_agreement(world: World) -> None:
    """A relayed erasure request that is malformed, for another chain or badly signed is judged
    before the agreement is read: the same 422 whether it exists or not."""
    c = world.consortium
    absent = new_agreement_id()
    request = {
        "request": {
            "nonce": "n" * 22,
            "requested_at": canonical.timestamp(datetime.now(UTC).replace(microsecond=0)),
            "chain_id": world.domain.chain_id + 1,
            "contract": world.domain.contract,
        },
        "public_key": _hex(c.customer),
        "signature": base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode(),
    }
    replies = [
        world.client.request(
            "DELETE",
            f"/v1/agreements/{agreement_id}/document-keys",
            json=request,
            auth=signing(c.broker_b),
        )
        for agreement_id in (world.agreement_id, absent)
    ]
    assert [r.status_code for r in replies] == [422, 422]
    assert replies[0].json() == replies[1].json()
    assert replies[0].json()["type"] == "urn:ledger:problem:signature-rejected"
