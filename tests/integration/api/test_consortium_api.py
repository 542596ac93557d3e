"""Governing the consortium over HTTP: three members' services (A and B brokers, C the auditor)
on one anvil chain, each sending with its own chain account, called with signed requests
(:class:`ledger.client.LedgerClient`). A proposal made at A's service, voted at A's and B's and
executed at C's is what every service then shows; the contracts' refusals come back as 403,
404, 409 or 422 problems naming their custom error, and nothing is reported before it is mined.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger import canonical
from ledger.chain.devnode import free_port
from ledger.client import LedgerClient
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consortium import ANVIL_KEYS
from tests._fixtures.member_services import MemberServices, member_services
from tests._fixtures.server import ServiceProcess
from tests.integration.api._support import _problem

CONSORTIUM = "/v1/consortium"
PROPOSALS = "/v1/consortium/proposals"
KEYS = "/v1/consortium/keys"
NO_SUCH_ID = "0x" + "ab" * 32


@pytest.fixture(scope="module")
def members(
    tmp_path_factory: pytest.TempPathFactory, governance_url: str
) -> Iterator[MemberServices]:
    with member_services(governance_url, tmp_path_factory.mktemp("members")) as services:
        yield services


def _ok(reply: httpx.Response, status: int) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def _hex(key: SM2PrivateKey) -> str:
    return canonical.hex0x(key.public_key().to_raw())


def _mined(members: MemberServices, transaction: dict[str, Any]) -> None:
    """The transaction is on chain, successful, in the block the reply named."""
    receipt = members.deployed.members[0].client.receipt(canonical.unhex0x(transaction["tx_hash"]))
    assert receipt is not None and receipt["status"] == 1
    assert receipt["blockNumber"] == transaction["block_number"]


def _grant(account: str, role: str) -> dict[str, str]:
    return {"kind": "grant-role", "account": account, "role": role}


def test_a_member_is_admitted_by_proposal_votes_and_execution(members: MemberServices) -> None:
    a, b, c = (members.as_member(i) for i in range(3))
    founders = [p.address for p in members.deployed.members]
    newcomer = members.deployed.outsiders[0]
    body = {
        "kind": "admit-member",
        "account": newcomer.address.lower(),
        "name": "Delta Brokerage",
        "endpoint": "https://delta.example/ledger",
        "public_key": _hex(newcomer.sm2),
        "roles": ["broker"],
    }
    proposed = _ok(a.post(PROPOSALS, json=body), 201)
    _mined(members, proposed["transaction"])
    proposal = proposed["proposal"]
    pid = proposal["proposal_id"]
    fingerprint = canonical.label("sm3", newcomer.sm2.public_key().fingerprint())
    assert proposal["change"] == {
        "account": newcomer.address,
        "name": "Delta Brokerage",
        "endpoint": "https://delta.example/ledger",
        "key_fingerprint": fingerprint,
        "roles": ["broker"],
    }
    assert (proposal["kind"], proposal["state"], proposal["proposer"]) == (
        "admit-member",
        "active",
        founders[0],
    )
    assert (proposal["approvals"], proposal["threshold"]) == (0, 2)

    voted = _ok(a.post(f"{PROPOSALS}/{pid}/votes"), 201)
    assert (voted["proposal"]["approvals"], voted["proposal"]["state"]) == (1, "active")
    _mined(members, voted["transaction"])
    twice = _problem(a.post(f"{PROPOSALS}/{pid}/votes"), 409, "state-conflict")
    assert twice["detail"] == (
        f"Consortium reverted with Consortium__AlreadyVoted({pid[2:]}, {founders[0]})"
    )
    early = _problem(c.post(f"{PROPOSALS}/{pid}/execute"), 409, "state-conflict")
    assert early["detail"] == (
        f"Consortium reverted with Consortium__ProposalNotSucceeded({pid[2:]}, 1)"
    )
    assert _ok(b.post(f"{PROPOSALS}/{pid}/votes"), 201)["proposal"]["state"] == "succeeded"
    executed = _ok(c.post(f"{PROPOSALS}/{pid}/execute"), 200)
    _mined(members, executed["transaction"])
    assert executed["proposal"]["state"] == "executed"

    for client in (a, b, c):
        seen = _ok(client.get(CONSORTIUM), 200)
        newest = seen["members"][-1]
        assert [m["account"] for m in seen["members"]] == [*founders, newcomer.address]
        assert (newest["name"], newest["roles"], newest["key_fingerprint"]) == (
            "Delta Brokerage",
            ["broker"],
            fingerprint,
        )
    assert seen["thresholds"] == {
        "admit-member": 2,
        "remove-member": 2,
        "change-threshold": 2,
        "grant-role": 2,
        "revoke-role": 2,
    }
    assert (seen["voting_delay_s"], seen["voting_period_s"]) == (0, 3600)
    assert _ok(b.get(f"{PROPOSALS}/{pid}"), 200) == executed["proposal"]
    listed = _ok(c.get(PROPOSALS, params={"state": "executed"}), 200)["proposals"]
    assert [p["proposal_id"] for p in listed] == [pid]
    assert _ok(c.get(PROPOSALS, params={"state": "active"}), 200)["proposals"] == []


def test_the_proposer_cancels_and_no_one_else(members: MemberServices) -> None:
    a, b = members.as_member(0), members.as_member(1)
    auditor = members.deployed.members[2].address
    pid = _ok(a.post(PROPOSALS, json=_grant(auditor, "regulator")), 201)["proposal"]["proposal_id"]
    refused = _problem(b.post(f"{PROPOSALS}/{pid}/cancel"), 403, "not-permitted")
    assert refused["detail"] == (
        "Consortium reverted with Consortium__NotProposer("
        f"{pid[2:]}, {members.deployed.members[1].address}, {members.deployed.members[0].address})"
    )
    canceled = _ok(a.post(f"{PROPOSALS}/{pid}/cancel"), 200)
    assert canceled["proposal"]["state"] == "canceled"
    late = _problem(b.post(f"{PROPOSALS}/{pid}/votes"), 409, "state-conflict")
    assert late["detail"] == f"Consortium reverted with Consortium__ProposalNotActive({pid[2:]}, 2)"


def test_what_the_contract_refuses_as_invalid_is_422(members: MemberServices) -> None:
    a = members.as_member(0)
    newcomer = members.deployed.outsiders[1]
    body = {
        "kind": "admit-member",
        "account": newcomer.address,
        "name": "é" * 40,  # 40 characters, 80 bytes: over the contract's 64
        "endpoint": "https://epsilon.example",
        "public_key": _hex(newcomer.sm2),
    }
    before = _ok(a.get(PROPOSALS), 200)
    refused = _problem(a.post(PROPOSALS, json=body), 422, "invalid-argument")
    assert refused["detail"] == "Consortium reverted with Consortium__InvalidName(80, 64)"
    too_high = {"kind": "change-threshold", "target": "remove-member", "threshold": 9}
    refused = _problem(a.post(PROPOSALS, json=too_high), 422, "invalid-argument")
    assert refused["detail"].startswith(
        "Consortium reverted with Consortium__InvalidThreshold(1, 9,"
    )
    assert _ok(a.get(PROPOSALS), 200) == before  # nothing proposed
    schema = _problem(a.post(PROPOSALS, json={**too_high, "threshold": 0}), 422, "invalid-request")
    assert schema["detail"].startswith("body.change-threshold.threshold: Input should be greater")
    role = _problem(
        a.post(PROPOSALS, json=_grant(newcomer.address, "king")), 422, "invalid-request"
    )
    assert "unknown role 'king' (roles: broker, auditor, regulator)" in role["detail"]
    typo = newcomer.address[:2] + newcomer.address[2:].swapcase()
    bad = _problem(a.post(PROPOSALS, json=_grant(typo, "broker")), 422, "invalid-request")
    assert f"{typo!r} is not a (checksummed) account" in bad["detail"]


def test_an_unknown_proposal_is_404(members: MemberServices) -> None:
    b = members.as_member(1)
    missing = _problem(b.get(f"{PROPOSALS}/{NO_SUCH_ID}"), 404, "not-found")
    assert (
        missing["detail"]
        == f"Consortium reverted with Consortium__UnknownProposal({NO_SUCH_ID[2:]})"
    )
    _problem(b.post(f"{PROPOSALS}/{NO_SUCH_ID}/votes"), 404, "not-found")
    _problem(b.get(f"{PROPOSALS}/0x1234"), 422, "invalid-request")


def test_keys_are_registered_rotated_and_revoked(members: MemberServices) -> None:
    a, b = members.as_member(0), members.as_member(1)
    account = members.deployed.members[0].address
    first, second = SM2PrivateKey.generate(), SM2PrivateKey.generate()
    registered = _ok(
        a.post(KEYS, json={"purpose": "proof-sealing", "public_key": _hex(first)}), 201
    )
    _mined(members, registered["transaction"])
    key = registered["key"]
    assert (key["member"], key["purpose"], key["public_key"]) == (
        account,
        "proof-sealing",
        _hex(first),
    )
    assert key["fingerprint"] == canonical.label("sm3", first.public_key().fingerprint())
    assert (key["not_after"], key["revoked_at"], key["ends_at"]) == (None, None, None)
    # the auditor reads A's keys at A's service, B at its own
    auditor_at_a = members.as_member(2, at=0)
    assert key in _ok(auditor_at_a.get(f"{CONSORTIUM}/members/{account}/keys"), 200)["keys"]
    assert key in _ok(b.get(f"{CONSORTIUM}/members/{account.lower()}/keys"), 200)["keys"]

    rotation = {"public_key": _hex(second)}
    rotated = _ok(a.post(f"{KEYS}/{key['key_id']}/rotation", json=rotation), 201)["key"]
    keys = _ok(a.get(f"{CONSORTIUM}/members/{account}/keys"), 200)["keys"]
    old = next(k for k in keys if k["key_id"] == key["key_id"])
    assert old["not_after"] == old["ends_at"] == rotated["not_before"]
    assert rotated["purpose"] == "proof-sealing" and rotated["not_after"] is None

    revoked = _ok(a.post(f"{KEYS}/{rotated['key_id']}/revocation"), 200)
    _mined(members, revoked["transaction"])
    assert revoked["key"]["revoked_at"] is not None
    assert revoked["key"]["ends_at"] == revoked["key"]["revoked_at"]
    again = _problem(a.post(f"{KEYS}/{rotated['key_id']}/revocation"), 409, "state-conflict")
    assert again["detail"].startswith(
        f"KeyRegistry reverted with KeyRegistry__AlreadyRevoked({rotated['key_id'][2:]}, "
    )
    unknown = _problem(a.post(f"{KEYS}/{NO_SUCH_ID}/rotation", json=rotation), 404, "not-found")
    assert (
        unknown["detail"] == f"KeyRegistry reverted with KeyRegistry__UnknownKey({NO_SUCH_ID[2:]})"
    )
    window = {"purpose": "request-signing", "public_key": _hex(SM2PrivateKey.generate())}
    window |= {"not_before": "2100-01-02T00:00:00Z", "not_after": "2100-01-01T00:00:00Z"}
    bad = _problem(a.post(KEYS, json=window), 422, "invalid-argument")
    assert (
        bad["detail"]
        == "KeyRegistry reverted with KeyRegistry__InvalidWindow(4102531200, 4102444800)"
    )

    # B's key is B's: A's service cannot revoke it
    sealing = {"purpose": "proof-sealing", "public_key": _hex(second)}
    taken = _problem(b.post(KEYS, json=sealing), 409, "state-conflict")
    assert taken["detail"] == (
        "KeyRegistry reverted with KeyRegistry__KeyOfAnotherMember("
        f"{second.public_key().fingerprint().hex()}, {account})"
    )
    sealing["public_key"] = _hex(SM2PrivateKey.generate())
    theirs = _ok(b.post(KEYS, json=sealing), 201)
    b_key = theirs["key"]["key_id"]
    refused = _problem(a.post(f"{KEYS}/{b_key}/revocation"), 403, "not-permitted")
    assert refused["detail"] == (
        f"KeyRegistry reverted with KeyRegistry__NotKeyOwner({b_key[2:]}, {account},"
        f" {members.deployed.members[1].address})"
    )


# -- who may call: anonymous, a customer, another member, the auditor --------------------


def _writes(members: MemberServices) -> list[tuple[str, dict[str, Any] | None]]:
    auditor = members.deployed.members[2].address
    key = {"public_key": _hex(SM2PrivateKey.generate())}
    return [
        (PROPOSALS, _grant(auditor, "regulator")),
        (f"{PROPOSALS}/{NO_SUCH_ID}/votes", None),
        (f"{PROPOSALS}/{NO_SUCH_ID}/execute", None),
        (f"{PROPOSALS}/{NO_SUCH_ID}/cancel", None),
        (KEYS, {"purpose": "request-signing", **key}),
        (f"{KEYS}/{NO_SUCH_ID}/rotation", key),
        (f"{KEYS}/{NO_SUCH_ID}/revocation", None),
    ]


def _callers(members: MemberServices) -> dict[str, LedgerClient | httpx.Client]:
    """Callers of A's service."""
    url = members.services[0].url
    return {
        "anonymous": httpx.Client(base_url=url),
        "customer": members.client(0, members.customer),
        "another-member": members.as_member(1, at=0),
        "auditor": members.as_member(2, at=0),
    }


def test_only_the_member_running_the_service_writes_through_it(members: MemberServices) -> None:
    a_account = members.deployed.members[0].address
    before = _ok(members.as_member(0).get(PROPOSALS), 200)
    for caller, client in _callers(members).items():
        for path, body in _writes(members):
            reply = client.post(path, json=body)
            if caller == "anonymous":
                _problem(reply, 401, "signature-missing")
                continue
            detail = _problem(reply, 403, "forbidden")["detail"]
            assert detail.startswith(
                f"this service sends governance transactions as member {a_account}, its own"
                " chain account; "
            )
            assert detail.endswith(
                " is not that member: propose, vote and manage keys through your own member's"
                " service"
            )
    assert _ok(members.as_member(0).get(PROPOSALS), 200) == before


def test_members_read_the_consortium_and_customers_do_not(members: MemberServices) -> None:
    account = members.deployed.members[1].address
    reads = [CONSORTIUM, PROPOSALS, f"{CONSORTIUM}/members/{account}/keys"]
    for caller, client in _callers(members).items():
        for path in reads:
            reply = client.get(path)
            if caller == "anonymous":
                _problem(reply, 401, "signature-missing")
            elif caller == "customer":
                detail = _problem(reply, 403, "forbidden")["detail"]
                assert detail.startswith(
                    "the consortium's members, proposals and keys are read by its members;"
                    " 'cust-1' (key 'sm3:"
                )
                assert detail.endswith("roles: customer) is a customer")
            else:
                assert reply.status_code == 200, reply.text


def test_a_member_voted_out_can_no_longer_govern_through_its_service(
    members: MemberServices,
) -> None:
    """Its service still sends with its account; the contract now refuses it (403)."""
    a, b, c = (members.as_member(i) for i in range(3))
    auditor = members.deployed.members[2].address
    removal = {"kind": "remove-member", "account": auditor}
    pid = _ok(a.post(PROPOSALS, json=removal), 201)["proposal"]["proposal_id"]
    pending = _ok(c.post(PROPOSALS, json=_grant(auditor, "regulator")), 201)["proposal"]
    for voter in (a, b):
        _ok(voter.post(f"{PROPOSALS}/{pid}/votes"), 201)
    assert _ok(b.post(f"{PROPOSALS}/{pid}/execute"), 200)["proposal"]["state"] == "executed"
    assert auditor not in [m["account"] for m in _ok(a.get(CONSORTIUM), 200)["members"]]

    for path, body in (
        (PROPOSALS, _grant(auditor, "auditor")),
        (f"{PROPOSALS}/{pending['proposal_id']}/votes", None),
        (f"{PROPOSALS}/{pending['proposal_id']}/cancel", None),
    ):
        refused = _problem(c.post(path, json=body), 403, "not-permitted")
        assert refused["detail"] == f"Consortium reverted with Consortium__NotMember({auditor})"
    key = {"purpose": "request-signing", "public_key": _hex(SM2PrivateKey.generate())}
    refused = _problem(c.post(KEYS, json=key), 403, "not-permitted")
    assert refused["detail"] == f"KeyRegistry reverted with KeyRegistry__NotMember({auditor})"


def test_an_unreachable_chain_is_503(members: MemberServices, tmp_path: Path) -> None:
    """A service whose chain node is down starts on its recorded deployment; governance answers
    503 until the node is back."""
    data = tmp_path / "offline"
    shutil.copytree(members.services[0].data_dir / "deployments", data / "deployments")
    service = ServiceProcess(
        data_dir=data,
        port=free_port(),
        env={
            "LEDGER_CHAIN_RPC_URL": f"http://127.0.0.1:{free_port()}",
            "LEDGER_CHAIN_PRIVATE_KEY": ANVIL_KEYS[0],
            "LEDGER_MEMBERS_FILE": str(members.members_file),
        },
    )
    service.start()
    try:
        a = members.client(0, members.deployed.members[0].sm2)
        offline = LedgerClient(base_url=service.url, key=members.deployed.members[0].sm2)
        assert a.get(CONSORTIUM).status_code == 200
        _problem(offline.get(CONSORTIUM), 503, "chain-unavailable")
        _problem(offline.post(f"{PROPOSALS}/{NO_SUCH_ID}/votes"), 503, "chain-unavailable")
    finally:
        service.close()
