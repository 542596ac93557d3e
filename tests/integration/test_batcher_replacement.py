"""Stuck anchoring transactions on a real anvil node that is told not to mine: replaced with the
same nonce and higher fees, each attempt stored before it is sent, and whichever attempt is mined
is what the batch (and so every proof) records. Also: a lost lease stops the batcher."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.batcher import Batcher, NotLeader
from ledger.chain.client import ChainClient
from ledger.chain.deployments import Deployments, deploy_evidence_ledger
from ledger.chain.devnode import DEV_PRIVATE_KEY, DevNode, free_port
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.chain.transaction import decode_signed_transaction, fees_of
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import Batch, BatchAttempt, BatchStatus, Database
from tests.integration.test_batcher import NOW, _accept


@pytest.fixture
def node(tmp_path: Path) -> Iterator[DevNode]:
    """A node of this test's own: it is told to stop mining."""
    node = DevNode(directory=tmp_path / "chain", port=free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def ledger(node: DevNode, tmp_path: Path) -> EvidenceLedgerContract:
    url = node.status().rpc_url
    assert url
    client = ChainClient(rpc_url=url, private_key=DEV_PRIVATE_KEY)
    deployment = deploy_evidence_ledger(
        client,
        Deployments(directory=tmp_path / "deployments"),
        dev_member_key=SM2PrivateKey.generate().public_key(),
    )
    return EvidenceLedgerContract(client=client, address=deployment.address)


def _batcher_on_a_node_not_mining(
    database: Database, ledger: EvidenceLedgerContract, *, receipt_timeout_s: float
) -> tuple[threading.Thread, list[object]]:
    """The node stops mining; a batcher runs one batch in the background. Its result (the
    batch, or the exception it raised) lands in the list."""
    ledger.client.json_rpc("evm_setAutomine", False)
    batcher = Batcher(
        database=database, ledger=ledger, receipt_timeout_s=receipt_timeout_s, now=lambda: NOW
    )
    result: list[object] = []

    def target() -> None:
        try:
            result.append(batcher.run_once())
        except Exception as exc:  # handed to the test
            result.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def _wait_for_attempts(
    database: Database, client: ChainClient, count: int, result: list[object]
) -> tuple[BatchAttempt, ...]:
    """Until the unfinished batch has ``count`` attempts and the latest is in the node's pool."""
    deadline = time.monotonic() + 30
    while True:
        [batch] = database.unfinished_batches() or [None]
        attempts = database.batch_attempts(batch.batch_id) if batch else ()
        if len(attempts) >= count:
            pooled = client.json_rpc("eth_getTransactionByHash", "0x" + attempts[-1].tx_hash.hex())
            if pooled is not None:
                return attempts
        assert not result, result  # the batcher gave up
        assert time.monotonic() < deadline, f"no {count} attempts: {attempts}"
        time.sleep(0.02)


def _check_replaced(first: BatchAttempt, second: BatchAttempt) -> None:
    old, new = fees_of(first.raw_tx), fees_of(second.raw_tx)
    assert new.nonce == old.nonce
    assert new.max_fee * 10 >= old.max_fee * 11 and new.max_fee > old.max_fee
    assert new.max_priority_fee * 10 >= old.max_priority_fee * 11
    assert new.max_priority_fee > old.max_priority_fee
    assert (
        decode_signed_transaction(second.raw_tx).data
        == decode_signed_transaction(first.raw_tx).data
    )


def test_a_stuck_transaction_is_replaced_and_the_replacement_recorded(
    database: Database, ledger: EvidenceLedgerContract
) -> None:
    client = ledger.client
    ids = _accept(database, ledger, 3)
    thread, result = _batcher_on_a_node_not_mining(database, ledger, receipt_timeout_s=0.5)
    attempts = _wait_for_attempts(database, client, 2, result)
    client.json_rpc("evm_mine")  # the pool holds the latest attempt only: it is mined
    thread.join(30)

    [anchored] = result
    assert isinstance(anchored, Batch), anchored
    attempts = database.batch_attempts(anchored.batch_id)
    _check_replaced(attempts[0], attempts[1])
    assert anchored.status is BatchStatus.ANCHORED
    assert (anchored.tx_hash, anchored.raw_tx) == (attempts[-1].tx_hash, attempts[-1].raw_tx)
    receipt = client.receipt(attempts[-1].tx_hash)
    assert receipt is not None and receipt["status"] == 1
    assert receipt["blockNumber"] == anchored.block_number
    for earlier in attempts[:-1]:
        assert client.receipt(earlier.tx_hash) is None  # replaced: never mined
    inclusion = database.inclusion(ids[0], 1)
    assert (inclusion.tx_hash, inclusion.raw_tx) == (attempts[-1].tx_hash, attempts[-1].raw_tx)
    assert ledger.batch_count() == 1


def test_an_earlier_attempt_mined_after_all_is_what_the_batch_records(
    database: Database, ledger: EvidenceLedgerContract
) -> None:
    client = ledger.client
    ids = _accept(database, ledger, 2)
    thread, result = _batcher_on_a_node_not_mining(database, ledger, receipt_timeout_s=1.0)
    first, second = _wait_for_attempts(database, client, 2, result)[:2]
    # the replacement is lost from the pool and the first comes back (another node had it)
    client.json_rpc("anvil_dropTransaction", "0x" + second.tx_hash.hex())
    client.send_raw(first.raw_tx)
    client.json_rpc("evm_mine")
    thread.join(30)

    [anchored] = result
    assert isinstance(anchored, Batch), anchored
    assert (anchored.tx_hash, anchored.raw_tx, anchored.nonce) == (
        first.tx_hash,
        first.raw_tx,
        first.nonce,
    )
    assert database.inclusion(ids[1], 1).tx_hash == first.tx_hash
    assert client.receipt(second.tx_hash) is None
    assert ledger.batch_count() == 1


def test_a_nonce_taken_by_another_transaction_gets_a_new_attempt_with_a_fresh_nonce(
    database: Database, ledger: EvidenceLedgerContract
) -> None:
    client = ledger.client
    _accept(database, ledger, 2)
    thread, result = _batcher_on_a_node_not_mining(database, ledger, receipt_timeout_s=1.0)
    [first] = _wait_for_attempts(database, client, 1, result)[:1]
    # another transaction of the same account takes the nonce (e.g. an operator's, by hand)
    client.json_rpc("anvil_dropTransaction", "0x" + first.tx_hash.hex())
    client.w3.eth.send_transaction(
        {"from": client.address, "to": client.address, "value": 0, "nonce": first.nonce}
    )
    client.json_rpc("evm_mine")
    client.json_rpc("evm_setAutomine", True)  # the next attempt is mined when sent
    thread.join(30)

    [anchored] = result
    assert isinstance(anchored, Batch), anchored
    attempts = database.batch_attempts(anchored.batch_id)
    assert [a.nonce for a in attempts] == [first.nonce, first.nonce + 1]
    assert anchored.tx_hash == attempts[1].tx_hash
    assert ledger.batch_count() == 1


def test_a_batcher_without_the_lease_does_not_act(
    database: Database, ledger: EvidenceLedgerContract
) -> None:
    _accept(database, ledger, 2)
    leader = True
    batcher = Batcher(database=database, ledger=ledger, is_leader=lambda: leader)
    leader = False
    with pytest.raises(NotLeader, match="this process does not hold the anchoring lease"):
        batcher.run_once()
    assert database.unfinished_batches() == []  # nothing claimed, signed or sent
    assert ledger.batch_count() == 0
