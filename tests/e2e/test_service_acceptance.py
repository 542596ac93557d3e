"""Acceptance: the service process under failure, spoken to over HTTP like its users do.

* SIGKILL in the middle of batching, restart: every acknowledged agreement anchored exactly once,
  each with a valid proof;
* chain node stopped for a while: agreements keep being acknowledged, health says degraded,
  all are anchored once the node is back;
* IPFS node stopped: nothing is acknowledged that is not stored; the client gets a clear 503.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from ledger.agreement import Document, new_agreement_id
from ledger.chain.client import ChainClient
from ledger.chain.devnode import DEV_PRIVATE_KEY, DevNode
from ledger.chain.evidence import EvidenceLedgerContract, batch_id_of
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.proof import confirm_on_chain, verify_proof
from tests._fixtures.anvil import free_port
from tests._fixtures.ipfs import IpfsNode
from tests._fixtures.server import ServiceProcess, post_all, submission

DOC = Document(b"Securities account agreement: acceptance test.\n" * 20)


def _keys() -> dict[str, SM2PrivateKey]:
    return {"customer": SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}


def _service(tmp_path: Path, rpc_url: str, **env: str) -> ServiceProcess:
    return ServiceProcess(
        data_dir=tmp_path / "service",
        port=free_port(),
        env={
            "LEDGER_CHAIN_RPC_URL": rpc_url,
            "LEDGER_CHAIN_PRIVATE_KEY": DEV_PRIVATE_KEY,
            "LEDGER_BATCH_MAX_SIZE": "25",
            "LEDGER_BATCH_MAX_WAIT_S": "0.2",
            **env,
        },
    )


def _batches(db: Path) -> list[tuple[str, int, bytes | None]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return list(conn.execute("SELECT status, size, root FROM batches ORDER BY batch_id"))


def _check_every_proof(service: ServiceProcess, ids: list[str], client: ChainClient) -> None:
    for agreement_id in ids:
        reply = service.http.get(f"/v1/agreements/{agreement_id}/versions/1/proof")
        assert reply.status_code == 200, reply.text
        proof = verify_proof(reply.content)
        assert proof.agreement_id == agreement_id
        confirm_on_chain(proof, client=client)


def test_sigkill_in_the_middle_of_batching_loses_and_repeats_nothing(tmp_path: Path) -> None:
    # Blocks every second, as on a consortium chain: a batch waits for its block long enough
    # to be killed between "transaction stored and sent" and "anchored".
    node = DevNode(directory=tmp_path / "chain", port=free_port(), block_time_s=1)
    rpc_url = node.start()
    service = _service(tmp_path, rpc_url)
    try:
        service.start()
        domain, keys = service.domain(), _keys()
        bodies = [submission(keys, domain, new_agreement_id(), DOC) for _ in range(300)]
        results: dict[str, int | str] = {}
        sender = threading.Thread(target=lambda: results.update(post_all(service, bodies)))
        sender.start()
        db = service.data_dir / "ledger.db"
        deadline = time.monotonic() + 60
        while not any(status == "submitted" for status, _, _ in _batches(db)):
            assert time.monotonic() < deadline, "no batch was ever submitted"
            time.sleep(0.02)
        service.kill()  # a signed anchoring transaction is stored, its block not yet recorded
        sender.join()
        killed_with = _batches(db)
        assert any(status == "submitted" for status, _, _ in killed_with)

        acked = [a for a, status in results.items() if status == 201]
        assert acked, results
        assert set(results.values()) <= {201} | {s for s in results.values() if isinstance(s, str)}

        service.start()
        # clients retry what got no answer: stored already (409) or stored now (201)
        retried = post_all(service, [b for b in bodies if results[b["agreement_id"]] != 201])
        assert set(retried.values()) <= {201, 409}, retried
        service.wait_until_anchored()

        client = ChainClient(rpc_url=rpc_url)
        _check_every_proof(service, acked + list(retried), client)
        # exactly once: the chain holds exactly the database's batches, which hold every
        # agreement once (300 in all, whether first acknowledged before or after the kill)
        batches = _batches(db)
        assert all(status == "anchored" for status, _, _ in batches)
        assert sum(size for _, size, _ in batches) == 300
        contract = EvidenceLedgerContract(client=client, address=domain.contract)
        assert contract.batch_count() == len(batches)
        for _, size, root in batches:
            assert root is not None
            bid = batch_id_of(
                chain_id=domain.chain_id, contract=domain.contract, root=root, size=size
            )
            assert contract.get_batch(bid).size == size
    finally:
        service.close()
        node.stop()


def test_chain_node_down_keeps_acknowledging_and_anchors_when_back(tmp_path: Path) -> None:
    node = DevNode(directory=tmp_path / "chain", port=free_port())
    rpc_url = node.start()
    service = _service(tmp_path, rpc_url)
    try:
        service.start()
        domain, keys = service.domain(), _keys()
        before = [submission(keys, domain, new_agreement_id(), DOC) for _ in range(30)]
        assert set(post_all(service, before).values()) == {201}
        service.wait_until_anchored()

        assert node.stop()
        during = [submission(keys, domain, new_agreement_id(), DOC) for _ in range(40)]
        assert set(post_all(service, during).values()) == {201}  # acknowledged, durably
        deadline = time.monotonic() + 30
        while True:
            health = service.health()
            if health["anchoring"].get("last_error") is not None:
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.1)
        assert health["status"] == "degraded"
        assert health["chain"] == "unreachable"
        assert health["anchoring"]["waiting"] == 40

        node.start()  # same port, same persisted state
        health = service.wait_until_anchored()
        assert health["status"] == "ok", health
        client = ChainClient(rpc_url=rpc_url)
        _check_every_proof(service, [b["agreement_id"] for b in before + during], client)
    finally:
        service.close()
        node.stop()


def test_ipfs_node_down_means_503_and_nothing_acknowledged(tmp_path: Path, anvil_url: str) -> None:
    (tmp_path / "ipfs").mkdir()
    ipfs = IpfsNode.start(tmp_path / "ipfs")
    service = _service(
        tmp_path,
        anvil_url,
        LEDGER_STORE_BACKEND="kubo",
        LEDGER_IPFS_API_URL=ipfs.api_url,
    )
    try:
        service.start()
        domain, keys = service.domain(), _keys()
        stored = [submission(keys, domain, new_agreement_id(), DOC) for _ in range(3)]
        assert set(post_all(service, stored).values()) == {201}

        ipfs.stop()
        refused = submission(keys, domain, new_agreement_id(), DOC)
        reply = service.http.post("/v1/agreements", json=refused)
        assert reply.status_code == 503
        assert reply.headers["content-type"] == "application/problem+json"
        problem = reply.json()
        assert problem["type"] == "urn:ledger:problem:store-unavailable"
        assert problem["status"] == 503 and problem["detail"]
        assert service.http.get(f"/v1/agreements/{refused['agreement_id']}").status_code == 404

        health = service.health()
        assert (health["status"], health["store"]) == ("degraded", "unreachable")
        # what was stored before is still anchored and provable (without the CAR: IPFS is down)
        service.wait_until_anchored()
        for body in stored:
            reply = service.http.get(
                f"/v1/agreements/{body['agreement_id']}/versions/1/proof", params={"car": "false"}
            )
            assert reply.status_code == 200, reply.text
            verify_proof(reply.content)
    finally:
        service.close()
        ipfs.stop()


@pytest.fixture(autouse=True)
def _default_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
