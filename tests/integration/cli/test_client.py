"""``ledger client ...`` against real members' services (``python -m api`` on one anvil): the
generic get / post, the consortium's proposal, votes at two services and execution, an
agreement submitted, shown and its proof downloaded and verified; keys from a PEM file, a
keystore document or a keystore; refusals are one line and exit status 2."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ledger.agreement import Document, SigningDomain, new_agreement_id
from ledger.chain.devnode import free_port
from ledger.cli import cli
from ledger.crypto.keystore import Keystore
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.member_services import MemberServices, member_services
from tests._fixtures.server import submission

PASSWORD = "client-test-password"


@pytest.fixture(scope="module")
def members(
    tmp_path_factory: pytest.TempPathFactory, governance_url: str
) -> Iterator[MemberServices]:
    with member_services(governance_url, tmp_path_factory.mktemp("members"), count=2) as services:
        yield services


@pytest.fixture(scope="module")
def pems(members: MemberServices, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Each founder's request-signing key as a PEM file."""
    directory = tmp_path_factory.mktemp("pems")
    paths = []
    for i, party in enumerate(members.deployed.members):
        path = directory / f"member{i}.pem"
        path.write_bytes(party.sm2.to_pem())
        paths.append(path)
    return paths


def _client(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["client", *args], env=env or {}, input=stdin)


def _ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _as(members: MemberServices, pems: list[Path], member: int, at: int | None = None) -> list[str]:
    url = members.services[member if at is None else at].url
    return ["--url", url, "--key-file", str(pems[member])]


def test_a_proposal_voted_at_two_services_and_executed(
    members: MemberServices, pems: list[Path]
) -> None:
    a, b = _as(members, pems, 0), _as(members, pems, 1)
    auditor = members.deployed.members[2].address
    status = _ok(_client(*a, "consortium", "status"))
    assert [m["roles"] for m in status["members"]] == [["broker"], ["broker"], ["auditor"]]

    proposed = _ok(_client(*a, "consortium", "propose", "grant", auditor, "regulator"))
    pid = proposed["proposal"]["proposal_id"]
    assert re.fullmatch(r"0x[0-9a-f]{64}", proposed["transaction"]["tx_hash"])
    assert (proposed["proposal"]["state"], proposed["proposal"]["summary"]) == (
        "active",
        f"grant-role {auditor} regulator",
    )
    assert _ok(_client(*a, "consortium", "vote", pid))["proposal"]["approvals"] == 1
    twice = _client(*a, "consortium", "vote", pid)
    voter = members.deployed.members[0].address
    assert twice.exit_code == 2
    assert twice.output == (
        f"error: POST /v1/consortium/proposals/{pid}/votes: 409 state-conflict: Consortium"
        f" reverted with Consortium__AlreadyVoted({pid[2:]}, {voter})\n"
    )
    assert _ok(_client(*b, "consortium", "vote", pid))["proposal"]["state"] == "succeeded"
    assert _ok(_client(*b, "consortium", "execute", pid))["proposal"]["state"] == "executed"

    listed = _ok(_client(*b, "consortium", "proposals", "--state", "executed"))["proposals"]
    assert [p["proposal_id"] for p in listed] == [pid]
    generic = _ok(_client(*a, "get", "/v1/consortium/proposals?state=executed"))
    assert generic == {"proposals": listed}
    roles = _ok(_client(*b, "get", "/v1/consortium"))["members"][2]["roles"]
    assert roles == ["auditor", "regulator"]


def test_post_a_body_from_a_file_or_stdin_and_cancel(
    members: MemberServices, pems: list[Path], tmp_path: Path
) -> None:
    a = _as(members, pems, 0)
    body = {"kind": "remove-member", "account": members.deployed.members[2].address}
    (tmp_path / "body.json").write_text(json.dumps(body))
    from_file = _ok(
        _client(*a, "post", "/v1/consortium/proposals", "--json", str(tmp_path / "body.json"))
    )
    from_stdin = _ok(
        _client(*a, "post", "/v1/consortium/proposals", "--json", "-", stdin=json.dumps(body))
    )
    assert from_file["proposal"]["kind"] == from_stdin["proposal"]["kind"] == "remove-member"
    for proposal in (from_file, from_stdin):
        pid = proposal["proposal"]["proposal_id"]
        assert _ok(_client(*a, "consortium", "cancel", pid))["proposal"]["state"] == "canceled"
    (tmp_path / "bad.json").write_text("{not json")
    bad = _client(*a, "post", "/v1/consortium/proposals", "--json", str(tmp_path / "bad.json"))
    assert bad.exit_code == 2
    assert bad.output.startswith(f"error: {tmp_path / 'bad.json'} is not JSON: ")


def test_refusals_are_one_line_and_exit_2(
    members: MemberServices, pems: list[Path], tmp_path: Path
) -> None:
    b_at_a = _as(members, pems, 1, at=0)
    account = members.deployed.members[0].address
    refused = _client(*b_at_a, "consortium", "propose", "revoke", account, "broker")
    assert refused.exit_code == 2
    assert refused.output.startswith(
        "error: POST /v1/consortium/proposals: 403 forbidden: this service sends governance"
        f" transactions as member {account}, its own chain account; "
    )
    assert refused.output.count("\n") == 1
    schema = _client(
        *_as(members, pems, 0), "post", "/v1/consortium/proposals", "--json", "-", stdin="{}"
    )
    assert schema.exit_code == 2
    assert schema.output.startswith("error: POST /v1/consortium/proposals: 422 invalid-request: ")
    stranger = SM2PrivateKey.generate()
    (tmp_path / "stranger.pem").write_bytes(stranger.to_pem())
    unknown = _client(
        "--url",
        members.services[0].url,
        "--key-file",
        str(tmp_path / "stranger.pem"),
        "get",
        "/v1/consortium",
    )
    assert unknown.exit_code == 2
    assert unknown.output == (
        "error: GET /v1/consortium: 401 unknown-key: no registered key has keyid"
        f" '{'sm3:' + stranger.public_key().fingerprint().hex()}'\n"
    )
    nowhere = _client(
        "--url", f"http://127.0.0.1:{free_port()}", "--key-file", str(pems[0]), "get", "/health"
    )
    assert nowhere.exit_code == 2
    assert nowhere.output.startswith("error: GET /health: ConnectError: ")
    no_key = _client("--url", members.services[0].url, "get", "/health")
    assert no_key.exit_code == 2
    assert "give either --key-file KEY.pem, or --keystore DIR with --name NAME" in no_key.output


def test_keys_from_a_keystore_and_the_url_from_the_environment(
    members: MemberServices, tmp_path: Path
) -> None:
    store = Keystore(directory=tmp_path / "keys", scrypt_n=2**10)
    store.save("alpha", members.deployed.members[0].sm2, PASSWORD.encode())
    env = {"LEDGER_CLIENT_URL": members.services[0].url, "LEDGER_KEY_PASSWORD": PASSWORD}
    by_name = _client(
        "--keystore", str(tmp_path / "keys"), "--name", "alpha", "consortium", "status", env=env
    )
    by_file = _client(
        "--key-file", str(tmp_path / "keys" / "alpha.json"), "consortium", "status", env=env
    )
    assert _ok(by_name)["members"] == _ok(by_file)["members"]
    wrong = _client(
        "--key-file",
        str(tmp_path / "keys" / "alpha.json"),
        "get",
        "/health",
        env={**env, "LEDGER_KEY_PASSWORD": "wrong-password"},
    )
    assert wrong.exit_code == 2
    assert wrong.output == "error: wrong password, or the keystore was tampered with\n"


def test_an_agreement_shown_and_its_proof_downloaded(
    members: MemberServices, pems: list[Path], tmp_path: Path
) -> None:
    a = _as(members, pems, 0)
    domain_body = _ok(_client(*a, "get", "/v1/signing-domain"))
    domain = SigningDomain(chain_id=domain_body["chain_id"], contract=domain_body["contract"])
    agreement_id = new_agreement_id()
    keys = {"customer": members.customer, "broker": members.deployed.members[0].sm2}
    body = submission(keys, domain, agreement_id, Document(b"Alpha's account agreement.\n"))
    created = _ok(_client(*a, "post", "/v1/agreements", "--json", "-", stdin=json.dumps(body)))
    assert (created["agreement_id"], created["status"]) == (agreement_id, "accepted")

    deadline = time.monotonic() + 60
    while (shown := _ok(_client(*a, "agreements", "show", agreement_id)))["versions"][0][
        "status"
    ] != "anchored":
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)
    assert (shown["owner"], shown["current_version"]) == (members.deployed.members[0].address, 1)
    hidden = _client(*_as(members, pems, 1), "agreements", "show", agreement_id)
    assert (
        hidden.output
        == f"error: GET /v1/agreements/{agreement_id}: 404 not-found: no agreement {agreement_id}\n"
    )

    out = tmp_path / "agreement.proof.json"
    downloaded = _client(*a, "proof", agreement_id, "--out", str(out))
    assert downloaded.exit_code == 0, downloaded.output
    assert downloaded.output.startswith(f"{out}: proof of {agreement_id} version 1 (")
    verified = CliRunner().invoke(cli, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output
