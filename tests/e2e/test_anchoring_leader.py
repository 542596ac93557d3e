"""Acceptance: several service processes on one PostgreSQL database, and a start without the
chain, spoken to over HTTP like their users do.

* two processes under load, the anchoring leader killed with SIGKILL mid-batch: the other takes
  over (the takeover time is printed), every acknowledged agreement is anchored exactly once and
  no anchoring transaction reverted (every transaction to the contract is checked on the node);
* the chain node down when the service starts: it starts degraded, acknowledges, and anchors
  everything once the node is up; without a recorded deployment it refuses to start, saying why.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ledger.agreement import Document, new_agreement_id
from ledger.chain.client import ChainClient
from ledger.chain.devnode import DEV_PRIVATE_KEY, DevNode
from ledger.chain.evidence import BATCH_SELECTOR, EvidenceLedgerContract, batch_id_of
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.proof import confirm_on_chain, verify_proof
from tests._fixtures.anvil import free_port
from tests._fixtures.database import PostgresServer
from tests._fixtures.server import ServiceProcess, post_all, submission

DOC = Document(b"Securities account agreement: several processes.\n" * 20)
ENV = {
    "LEDGER_CHAIN_PRIVATE_KEY": DEV_PRIVATE_KEY,
    "LEDGER_BATCH_MAX_SIZE": "25",
    "LEDGER_BATCH_MAX_WAIT_S": "0.2",
}


def _keys() -> dict[str, SM2PrivateKey]:
    return {"customer": SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


def _batches(url: str) -> list[tuple[str, int, bytes | None, bytes | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT status, size, root, tx_hash FROM batches ORDER BY batch_id"
        ).fetchall()
    return [(s, n, bytes(r) if r else None, bytes(t) if t else None) for s, n, r, t in rows]


def _transactions_to(client: ChainClient, address: str) -> list[dict[str, Any]]:
    """Every mined transaction to ``address``, from the node's blocks."""
    found = []
    for number in range(client.block_number() + 1):
        block = client.json_rpc("eth_getBlockByNumber", hex(number), True)
        found += [tx for tx in block["transactions"] if (tx["to"] or "").lower() == address.lower()]
    return found


def _check_anchored_once(
    url: str, client: ChainClient, contract: EvidenceLedgerContract, *, agreements: int
) -> None:
    batches = _batches(url)
    assert all(status == "anchored" for status, _, _, _ in batches), batches
    assert sum(size for _, size, _, _ in batches) == agreements
    with psycopg.connect(url) as conn:
        ((outbox_rows, distinct),) = conn.execute(
            "SELECT count(*), count(DISTINCT agreement_id) FROM outbox"
        ).fetchall()
    assert outbox_rows == distinct == agreements
    # the chain holds exactly the database's batches, each anchored by one mined transaction
    assert contract.batch_count() == len(batches)
    domain_id = contract.client.chain_id
    for _, size, root, _ in batches:
        assert root is not None
        bid = batch_id_of(chain_id=domain_id, contract=contract.address, root=root, size=size)
        assert contract.get_batch(bid).size == size
    sent = [tx for tx in _transactions_to(client, contract.address)]
    anchoring = [tx for tx in sent if tx["input"].startswith("0x" + BATCH_SELECTOR.hex())]
    reverted = [
        tx["hash"] for tx in sent if client.receipt(bytes.fromhex(tx["hash"][2:]))["status"] != 1
    ]
    assert reverted == [], f"reverted anchoring transactions: {reverted}"
    assert sorted(bytes.fromhex(tx["hash"][2:]) for tx in anchoring) == sorted(
        tx_hash for _, _, _, tx_hash in batches if tx_hash is not None
    )


def _check_proofs(service: ServiceProcess, ids: list[str], client: ChainClient) -> None:
    for agreement_id in ids:
        reply = service.http.get(
            f"/v1/agreements/{agreement_id}/versions/1/proof", params={"car": "false"}
        )
        assert reply.status_code == 200, reply.text
        proof = verify_proof(reply.content)
        assert proof.agreement_id == agreement_id
        confirm_on_chain(proof, client=client)


def test_sigkill_of_the_anchoring_leader_under_load(tmp_path: Path, database_url: str) -> None:
    # Blocks every second, as on a consortium chain: a batch waits for its block long enough
    # to kill its leader between "transaction stored and sent" and "anchored".
    node = DevNode(directory=tmp_path / "chain", port=free_port(), block_time_s=1)
    rpc_url = node.start()
    env = {
        **ENV,
        "LEDGER_CHAIN_RPC_URL": rpc_url,
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_BATCH_MAX_SIZE": "100",  # one batch a block at most: keep their number small
    }
    # one member: one data dir (store, keys, deployments), one database, two processes
    first = ServiceProcess(data_dir=tmp_path / "member", port=free_port(), env=env)
    second = ServiceProcess(data_dir=tmp_path / "member", port=free_port(), env=env)
    first.log, second.log = tmp_path / "first.log", tmp_path / "second.log"
    try:
        first.start()  # migrates, creates the issuer key, deploys: then the second one
        second.start()
        assert first.health()["anchoring"]["role"] == "leader"
        assert second.health()["anchoring"]["role"] == "standby"
        domain, keys = first.domain(), _keys()
        to_first = [submission(keys, domain, new_agreement_id(), DOC) for _ in range(60)]
        to_second = [submission(keys, domain, new_agreement_id(), DOC) for _ in range(140)]
        results: dict[str, int | str] = {}
        senders = [
            threading.Thread(target=lambda: results.update(post_all(first, to_first, workers=4))),
            threading.Thread(target=lambda: results.update(post_all(second, to_second, workers=4))),
        ]
        for sender in senders:
            sender.start()
        deadline = time.monotonic() + 30
        while not any(status == "submitted" for status, *_ in _batches(database_url)):
            assert time.monotonic() < deadline, "no batch was ever submitted"
            time.sleep(0.02)
        first.kill()  # the leader, mid-batch: its signed transaction stored, not yet mined
        killed_at = time.monotonic()
        while second.health()["anchoring"]["role"] != "leader":
            assert time.monotonic() - killed_at < 30, second.tail()
            time.sleep(0.05)
        takeover_s = time.monotonic() - killed_at
        print(f"\ntakeover after SIGKILL of the leader: {takeover_s:.2f} s")
        assert takeover_s < 15
        for sender in senders:
            sender.join()
        assert all(results[b["agreement_id"]] == 201 for b in to_second), results
        # clients of the killed process retry what got no answer: 409 if it was stored already
        retried = post_all(second, [b for b in to_first if results[b["agreement_id"]] != 201])
        assert set(retried.values()) <= {201, 409}, retried
        acked = [a for a, status in results.items() if status == 201] + list(retried)
        second.wait_until_anchored()

        client = ChainClient(rpc_url=rpc_url)
        contract = EvidenceLedgerContract(client=client, address=domain.contract)
        _check_anchored_once(database_url, client, contract, agreements=200)
        assert len(acked) == 200
        _check_proofs(second, acked[::5], client)  # every agreement's anchoring: above
    finally:
        first.close()
        second.close()
        node.stop()


def test_start_without_the_chain_then_anchor_when_it_appears(tmp_path: Path) -> None:
    node = DevNode(directory=tmp_path / "chain", port=free_port())
    rpc_url = node.start()
    env = {**ENV, "LEDGER_CHAIN_RPC_URL": rpc_url}
    service = ServiceProcess(data_dir=tmp_path / "service", port=free_port(), env=env)
    try:
        service.start()  # deploys the contract and records the deployment
        domain = service.domain()
        service.stop()
        assert node.stop()

        service.start()  # the chain node is down
        health = service.health()
        assert (health["status"], health["chain"]) == ("degraded", "unreachable"), health
        assert (health["chain_id"], health["contract"]) == (domain.chain_id, domain.contract)
        assert service.domain() == domain
        keys = _keys()
        bodies = [submission(keys, domain, new_agreement_id(), DOC) for _ in range(30)]
        assert set(post_all(service, bodies).values()) == {201}  # acknowledged, durably
        assert service.health()["anchoring"]["waiting"] == 30

        node.start()  # same port, same persisted state
        health = service.wait_until_anchored()
        assert health["status"] == "ok", health
        client = ChainClient(rpc_url=rpc_url)
        _check_proofs(service, [b["agreement_id"] for b in bodies], client)
        assert EvidenceLedgerContract(client=client, address=domain.contract).batch_count() >= 1
    finally:
        service.close()
        node.stop()

    # a member that never saw its chain cannot know what to sign for: one clear error
    fresh = ServiceProcess(data_dir=tmp_path / "fresh", port=free_port(), env=env)
    with pytest.raises(AssertionError, match="service exited with") as refused:
        fresh.start(timeout_s=30)
    assert "the chain node is unreachable and the signing domain is not known" in str(refused.value)
    fresh.close()


@pytest.fixture(autouse=True)
def _no_database_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_DATABASE_URL", raising=False)
