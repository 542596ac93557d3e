"""EvidenceLedger batches on a real anvil node: one transaction per Merkle root."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from ledger.chain.client import ChainClient
from ledger.chain.consortium import role_id
from ledger.chain.errors import TransactionFailed
from ledger.chain.evidence import (
    EvidenceLedgerContract,
    batch_calldata,
    batch_id_of,
)
from ledger.chain.transaction import decode_signed_transaction

ROOT = keccak(b"merkle root")


def _assert_reverted(exc: pytest.ExceptionInfo[TransactionFailed], error: str, *args: object):
    assert exc.value.error == error
    assert exc.value.error_args == args


def test_anchor_batch_stores_and_emits(evidence_ledger: EvidenceLedgerContract) -> None:
    sent = evidence_ledger.anchor_batch(root=ROOT, size=1000)
    batch_id = batch_id_of(chain_id=31337, contract=evidence_ledger.address, root=ROOT, size=1000)
    events = evidence_ledger._contract.events.BatchAnchored().process_receipt(sent.receipt)
    assert [dict(e["args"]) for e in events] == [
        {"batchId": batch_id, "root": ROOT, "writer": evidence_ledger.client.address, "size": 1000}
    ]
    stored = evidence_ledger.get_batch(batch_id)
    block = evidence_ledger.client.w3.eth.get_block(sent.block_number)
    assert (stored.root, stored.size, stored.writer) == (ROOT, 1000, evidence_ledger.client.address)
    assert (stored.block_number, stored.anchored_at) == (sent.block_number, block["timestamp"])
    assert evidence_ledger.batch_count() == 1
    on_chain_id = evidence_ledger.client.call(
        evidence_ledger._contract.functions.batchIdOf(ROOT, 1000), evidence_ledger.artifact
    )
    assert bytes(on_chain_id) == batch_id
    tx = decode_signed_transaction(sent.raw_transaction)
    assert tx.data == batch_calldata(root=ROOT, size=1000)
    assert tx.tx_hash == sent.tx_hash


def test_same_batch_twice_is_rejected(evidence_ledger: EvidenceLedgerContract) -> None:
    evidence_ledger.anchor_batch(root=ROOT, size=3)
    batch_id = batch_id_of(chain_id=31337, contract=evidence_ledger.address, root=ROOT, size=3)
    with pytest.raises(
        TransactionFailed,
        match=r"^EvidenceLedger reverted with EvidenceLedger__BatchAlreadyAnchored\([0-9a-f]+\)$",
    ) as exc:
        evidence_ledger.anchor_batch(root=ROOT, size=3)
    _assert_reverted(exc, "EvidenceLedger__BatchAlreadyAnchored", batch_id)
    assert evidence_ledger.batch_count() == 1


def test_resending_the_same_signed_bytes_anchors_once(
    evidence_ledger: EvidenceLedgerContract,
) -> None:
    signed = evidence_ledger.sign_anchor_batch(root=ROOT, size=5)
    client = evidence_ledger.client
    assert client.send_raw(signed.raw_transaction) == signed.tx_hash
    first = client.wait(signed.tx_hash)
    assert client.send_raw(signed.raw_transaction) == signed.tx_hash  # e.g. after a lost receipt
    assert client.wait(signed.tx_hash).block_hash == first.block_hash
    assert evidence_ledger.batch_count() == 1


@pytest.mark.parametrize(
    ("root", "size", "error"),
    [
        (b"\0" * 32, 1, "EvidenceLedger__ZeroDigest"),
        (ROOT, 0, "EvidenceLedger__EmptyBatch"),
    ],
)
def test_invalid_batch(
    evidence_ledger: EvidenceLedgerContract, root: bytes, size: int, error: str
) -> None:
    with pytest.raises(
        TransactionFailed, match=r"^EvidenceLedger reverted with EvidenceLedger__"
    ) as exc:
        evidence_ledger.anchor_batch(root=root, size=size)
    _assert_reverted(exc, error)


def test_an_account_outside_the_consortium_cannot_anchor_batches(
    evidence_ledger: EvidenceLedgerContract, outsider_client: ChainClient
) -> None:
    as_outsider = EvidenceLedgerContract(client=outsider_client, address=evidence_ledger.address)
    with pytest.raises(
        TransactionFailed,
        match=r"^EvidenceLedger reverted with EvidenceLedger__NotPermitted\(",
    ) as exc:
        as_outsider.anchor_batch(root=ROOT, size=1)
    _assert_reverted(
        exc, "EvidenceLedger__NotPermitted", outsider_client.address, role_id("broker")
    )
    assert evidence_ledger.batch_count() == 0


def test_unknown_batch(evidence_ledger: EvidenceLedgerContract) -> None:
    with pytest.raises(
        TransactionFailed,
        match=r"^EvidenceLedger reverted with EvidenceLedger__UnknownBatch\([0-9a-f]+\)$",
    ) as exc:
        evidence_ledger.get_batch(b"\x07" * 32)
    _assert_reverted(exc, "EvidenceLedger__UnknownBatch", b"\x07" * 32)


def test_gas_per_batch_is_independent_of_batch_size(
    evidence_ledger: EvidenceLedgerContract,
) -> None:
    evidence_ledger.anchor_batch(root=keccak(b"first"), size=1)  # pays the counter's first write
    gas = {
        size: evidence_ledger.anchor_batch(root=keccak(str(size).encode()), size=size).receipt[
            "gasUsed"
        ]
        for size in (1, 100, 1000, 10000)
    }
    assert max(gas.values()) - min(gas.values()) < 100  # one root per transaction, whatever n
    assert gas[1000] / 1000 <= 250  # the service's target: <= 250 gas per agreement at n >= 1000
