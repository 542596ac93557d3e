"""Three members, one chain: each member runs its own service (own chain account, keys and
database) over one Consortium, KeyRegistry and EvidenceLedger on one anvil node, and every
service learns who calls it from the chain (no members file).

* A cannot read B's agreements (and B not A's): 404, exactly as for an agreement that does
  not exist; a customer reads what it signed, with its own unregistered key, and nothing else;
* A registers its service's sealing key (its proofs then carry the registry entry,
  ``ledger-proof/2``), then rotates its request-signing key and, with ``ledger consortium keys
  rotate-sealing``, its service's sealing key: the old request key is refused from then on, the
  new one is accepted, the running service seals with the new sealing key, and the proof it
  sealed before keeps verifying, against the chain too;
* C is voted out: its key is refused by every service (its own included) and its service can
  no longer anchor what it had acknowledged (the EvidenceLedger refuses C's account).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger import canonical
from ledger.agreement import Document, new_agreement_id
from ledger.chain.client import ChainClient
from ledger.chain.deployments import Deployments, deploy
from ledger.chain.devnode import DevNode, free_port
from ledger.client import SigningAuth
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.httpsig import RequestSigner
from ledger.member import customer_keyid
from ledger.member.chain_directory import REQUEST_SIGNING
from ledger.proof import confirm_on_chain, verify_proof
from tests._fixtures.consortium import ANVIL_KEYS, Deployed, Party, carry, make_consortium
from tests._fixtures.members import signing
from tests._fixtures.server import ServiceProcess, submission

PROOF_SEALING = "proof-sealing"
DOC = Document(b"Securities account agreement between a customer and one member.\n" * 8)
#: How stale a service's view of the chain's keys may be (the setting; short for the test).
REFRESH_S = 0.3


@pytest.fixture
def network(tmp_path: Path) -> Iterator[tuple[Deployed, list[ServiceProcess]]]:
    node = DevNode(directory=tmp_path / "anvil", port=free_port())
    url = node.start()
    services: list[ServiceProcess] = []
    try:
        recorded = tmp_path / "deployments"
        deployed = make_consortium(url, recorded, founders=3, roles=[("broker",)] * 3)
        consortium = deployed.consortium_deployment.address
        deploy(
            deployed.members[0].client,
            Deployments(directory=recorded),
            "EvidenceLedger",
            (consortium,),
        )
        for index, party in enumerate(deployed.members):
            party.keys.register(REQUEST_SIGNING, party.sm2.public_key())
            data_dir = tmp_path / "abc"[index]
            shutil.copytree(recorded, data_dir / "deployments")
            services.append(
                ServiceProcess(
                    data_dir=data_dir,
                    port=free_port(),
                    signer=party.sm2,
                    env={
                        "LEDGER_CHAIN_RPC_URL": url,
                        "LEDGER_CHAIN_PRIVATE_KEY": ANVIL_KEYS[index],
                        "LEDGER_BATCH_MAX_WAIT_S": "6" if index == 2 else "0.2",
                        "LEDGER_KEY_DIRECTORY_REFRESH_S": str(REFRESH_S),
                    },
                )
            )
        for service in services:
            service.start()
        yield deployed, services
    finally:
        for service in services:
            service.close()
        node.stop()


def _submit(service: ServiceProcess, customer: SM2PrivateKey | None = None) -> str:
    agreement_id = new_agreement_id()
    keys = {"customer": customer or SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}
    reply = service.http.post(
        "/v1/agreements", json=submission(keys, service.domain(), agreement_id, DOC)
    )
    assert reply.status_code == 201, reply.text
    return agreement_id


def _as(key: SM2PrivateKey, service: ServiceProcess, path: str) -> httpx.Response:
    with httpx.Client(base_url=service.url, auth=signing(key), timeout=30.0) as client:
        return client.get(path)


def _as_customer(key: SM2PrivateKey, service: ServiceProcess, path: str) -> httpx.Response:
    auth = SigningAuth(RequestSigner(key=key, keyid=customer_keyid(key.public_key())))
    with httpx.Client(base_url=service.url, auth=auth, timeout=30.0) as client:
        return client.get(path)


def _refused(reply: httpx.Response, status: int, kind: str) -> None:
    assert (reply.status_code, reply.json()["type"]) == (status, f"urn:ledger:problem:{kind}"), (
        reply.text
    )


def _after_refresh() -> None:
    time.sleep(REFRESH_S * 2)


def test_members_see_only_their_own_and_rotation_keeps_proofs(
    network: tuple[Deployed, list[ServiceProcess]],
) -> None:
    deployed, (a, b, c) = network
    member_a, member_b = deployed.members[0], deployed.members[1]
    assert a.domain() == b.domain() == c.domain()  # one chain, one EvidenceLedger
    customer = SM2PrivateKey.generate()
    mine, theirs = _submit(a, customer), _submit(b)
    a.wait_until_anchored()
    b.wait_until_anchored()

    # each member reads its own agreement on its own service, and nothing of the other's
    assert _as(member_a.sm2, a, f"/v1/agreements/{mine}").status_code == 200
    for key, service, agreement_id in (
        (member_a.sm2, b, theirs),
        (member_b.sm2, a, mine),
    ):
        reply = _as(key, service, f"/v1/agreements/{agreement_id}")
        _refused(reply, 404, "not-found")
        assert reply.json()["detail"] == f"no agreement {agreement_id}"

    # the customer reads what it signed with its own, unregistered key; nothing else
    assert _as_customer(customer, a, f"/v1/agreements/{mine}").status_code == 200
    _refused(_as_customer(customer, b, f"/v1/agreements/{theirs}"), 404, "not-found")
    stranger = SM2PrivateKey.generate()
    _refused(_as_customer(stranger, a, f"/v1/agreements/{mine}"), 404, "not-found")

    # A registers its service's sealing key: its proofs then carry the registry entry (v2)
    unregistered = _as(member_a.sm2, a, f"/v1/agreements/{mine}/versions/1/proof")
    assert unregistered.status_code == 200, unregistered.text
    assert unregistered.json()["format"] == "ledger-proof/1"
    seal_key = SM2PublicKey.from_raw(canonical.unhex0x(unregistered.json()["seal"]["public_key"]))
    sealing = member_a.keys.register(PROOF_SEALING, seal_key)
    proof = _as(member_a.sm2, a, f"/v1/agreements/{mine}/versions/1/proof")
    assert proof.status_code == 200, proof.text
    assert proof.json()["format"] == "ledger-proof/2"
    claims = verify_proof(proof.content).keys
    assert claims is not None and [e.key_id for e in claims.entries] == [sealing.key_id]

    # A rotates its request-signing key, and its service's sealing key with the CLI (a new key
    # in the service's keystore, rotated in on chain), a second after the seal: a rotation ends
    # the old key at its block's second, and a seal in that very second would be refused
    time.sleep(1.1)
    old = member_a.keys.key_ids_of(member_a.address, REQUEST_SIGNING)[0]
    new_key = SM2PrivateKey.generate()
    member_a.keys.rotate(old, new_key.public_key())
    rotated = _ledger_cli(a, "consortium", "keys", "rotate-sealing")
    assert rotated.returncode == 0, rotated.stderr
    name, new_sealing, *replaced = rotated.stdout.split()
    assert name.startswith("proof-sealing-"), rotated.stdout
    assert replaced == ["(replaces", f"0x{sealing.key_id.hex()})"]
    _after_refresh()
    _refused(_as(member_a.sm2, a, f"/v1/agreements/{mine}"), 401, "key-not-valid")
    assert _as(new_key, a, f"/v1/agreements/{mine}").status_code == 200

    # the running service seals with the new key from the rotation on
    resealed = _as(new_key, a, f"/v1/agreements/{mine}/versions/1/proof")
    assert resealed.status_code == 200, resealed.text
    assert resealed.json()["seal"]["public_key"] != unregistered.json()["seal"]["public_key"]
    chain = ChainClient(rpc_url=member_a.client.rpc_url)
    for file, key_id in ((proof, sealing.key_id.hex()), (resealed, new_sealing[2:])):
        verified = verify_proof(file.content)  # sealed before and after the rotation
        assert verified.keys is not None and verified.keys.entries[0].key_id.hex() == key_id
        confirm_on_chain(verified, client=chain)


def _ledger_cli(service: ServiceProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """``ledger ARGS`` as the member that runs ``service`` (its data dir, chain and account)."""
    env = {**os.environ, "LEDGER_DATA_DIR": str(service.data_dir), **service.env}
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_member_voted_out_can_no_longer_call_or_anchor(
    network: tuple[Deployed, list[ServiceProcess]],
) -> None:
    deployed, (a, _b, c) = network
    member_a, member_b, member_c = deployed.members
    assert _as(member_c.sm2, a, "/v1/agreements/agr_" + "0" * 32).status_code == 404
    acknowledged = _submit(c)  # C's service waits up to 6 s before it anchors a batch

    _vote_out(proposer=member_b, voters=[member_a, member_b], account=member_c.address)
    _after_refresh()

    for service in (a, c):  # other members' services and its own
        reply = _as(member_c.sm2, service, f"/v1/agreements/{acknowledged}")
        _refused(reply, 401, "key-not-valid")
        assert "is not valid at" in reply.json()["detail"]
    deadline = time.monotonic() + 30
    while "EvidenceLedger__NotPermitted" not in str(c.health()["anchoring"].get("last_error")):
        assert time.monotonic() < deadline, f"C anchored after its removal: {c.health()}"
        time.sleep(0.2)
    anchoring = c.health()["anchoring"]
    assert anchoring["waiting"] == 1 and anchoring["batches_anchored"] == 0


def _vote_out(*, proposer: Party, voters: list[Party], account: str) -> None:
    carry(proposer, voters, proposer.consortium.propose_removal(account).proposal_id)
    assert not proposer.consortium.is_member(account)
