"""The project-managed anvil dev chain keeps its deployments across a stop and a start."""

from __future__ import annotations

from pathlib import Path

from ledger.chain.client import ChainClient
from ledger.chain.deployments import Deployments, ensure_evidence_ledger
from ledger.chain.devnode import DEV_PRIVATE_KEY, DevNode
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.anvil import free_port

KEY = SM2PrivateKey.generate().public_key()


def test_restart_keeps_state_and_deployments(tmp_path: Path) -> None:
    node = DevNode(directory=tmp_path / "chain", port=free_port())
    deployments = Deployments(directory=tmp_path / "deployments")
    url = node.start()
    try:
        assert node.start() == url  # already running: same node, no second process
        client = ChainClient(rpc_url=url, private_key=DEV_PRIVATE_KEY)
        first = ensure_evidence_ledger(client, deployments, dev_member_key=KEY)
        ledger = EvidenceLedgerContract(client=client, address=first.address)
        receipt = ledger.anchor_agreement(
            document_digest=b"\x01" * 32,
            cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
            signer_fingerprints=[b"\x02" * 32],
            signature_set_digest=b"\x03" * 32,
        )
    finally:
        assert node.stop() is True
    assert node.status().running is False
    assert node.stop() is False
    assert node.state_file.stat().st_size > 0

    url = node.start()
    try:
        client = ChainClient(rpc_url=url, private_key=DEV_PRIVATE_KEY)
        again = ensure_evidence_ledger(client, deployments, dev_member_key=KEY)
        assert again == first  # reused, not redeployed
        ledger = EvidenceLedgerContract(client=client, address=again.address)
        assert ledger.get_anchor(receipt.anchor_id).block_number == receipt.block_number
        assert client.w3.eth.block_number >= receipt.block_number
    finally:
        node.stop()


def test_dev_chain_reset_redeploys(tmp_path: Path) -> None:
    deployments = Deployments(directory=tmp_path / "deployments")
    for run in range(2):
        node = DevNode(directory=tmp_path / f"chain-{run}", port=free_port())  # fresh state
        client = ChainClient(rpc_url=node.start(), private_key=DEV_PRIVATE_KEY)
        try:
            deployment = ensure_evidence_ledger(client, deployments, dev_member_key=KEY)
            assert client.code_at(deployment.address)
        finally:
            node.stop()
