"""Our receipt formatter gives exactly what web3's own (private) formatter gives, on real anvil
receipts: a deployment (contract address, no ``to``), a call with an event (logs), and a
transfer of value (no logs, no contract)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_utils import keccak
from web3._utils.method_formatters import receipt_formatter  # the reference, in tests only
from web3.datastructures import AttributeDict

from ledger.chain.client import ChainClient
from ledger.chain.deployments import Deployments, deploy
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.chain.receipt import format_receipt
from tests._fixtures.anvil import OUTSIDER_PRIVATE_KEY


def _both(client: ChainClient, tx_hash: bytes) -> tuple[Any, Any]:
    raw = client.json_rpc("eth_getTransactionReceipt", "0x" + tx_hash.hex())
    assert raw is not None
    return format_receipt(raw), AttributeDict.recursive(receipt_formatter(raw))


def test_receipts_match_web3s_formatter(
    evidence_ledger: EvidenceLedgerContract, chain_client: ChainClient, tmp_path: Path
) -> None:
    anchored = evidence_ledger.anchor_agreement(
        document_digest=keccak(b"document"),
        cid="bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        signer_fingerprints=[keccak(b"signer")],
        signature_set_digest=keccak(b"signatures"),
    )
    ours, web3s = _both(chain_client, anchored.tx_hash)
    assert ours == web3s
    assert len(ours["logs"]) == 1 and ours["logs"][0]["topics"]
    assert type(ours["logs"][0]["topics"][0]) is type(web3s["logs"][0]["topics"][0])

    deployed = deploy(  # a deployment of our own (the session node's history is shared)
        chain_client,
        Deployments(directory=tmp_path / "deployments"),
        "EvidenceLedger",
        (evidence_ledger.consortium(),),
    )
    ours, web3s = _both(chain_client, bytes.fromhex(deployed.tx_hash[2:]))
    assert ours == web3s
    assert ours["contractAddress"] is not None and ours["to"] is None

    # A transfer from an account of its own (services under test anchor with the dev account
    # on this shared node), and its receipt once mined.
    outsider = ChainClient(rpc_url=chain_client.rpc_url, private_key=OUTSIDER_PRIVATE_KEY)
    sent = outsider.w3.eth.send_transaction(
        {"from": outsider.address, "to": chain_client.address, "value": 1}
    )
    mined = outsider.wait(bytes(sent)).receipt
    ours, web3s = _both(chain_client, bytes(sent))
    assert ours == web3s == mined
    assert ours["contractAddress"] is None and ours["logs"] == []
