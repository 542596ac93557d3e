"""The chain client's anchoring path without a chain: signing, JSON-RPC transport, receipts.

A small JSON-RPC server stands in for the node, so node behaviours anvil never shows (no batch
requests, pending receipts, dropped keep-alive connections) are covered too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.chain.artifact import load_artifact
from ledger.chain.client import ChainClient, RpcError
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.chain.errors import ChainError, NodeError, TransactionFailed
from ledger.chain.evidence import batch_calldata
from ledger.chain.transaction import decode_signed_transaction

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TX_HASH = b"\x11" * 32
BLOCK_HASH = "0x" + "22" * 32


@settings(max_examples=60, deadline=None)
@given(
    chain_id=st.integers(1, 2**64),
    nonce=st.integers(0, 2**64 - 1),
    tip=st.integers(0, 2**96),
    base=st.integers(0, 2**96),
    gas=st.integers(21_000, 2**63),
    data=st.binary(max_size=200),
)
def test_dynamic_fee_signing_matches_eth_account(
    chain_id: int, nonce: int, tip: int, base: int, gas: int, data: bytes
) -> None:
    tx = {
        "chainId": chain_id,
        "nonce": nonce,
        "to": CONTRACT,
        "data": data,
        "value": 0,
        "gas": gas,
        "maxPriorityFeePerGas": tip,
        "maxFeePerGas": tip + base,
    }
    client = ChainClient(rpc_url="http://127.0.0.1:9", private_key=DEV_PRIVATE_KEY)
    expected = Account.from_key(DEV_PRIVATE_KEY).sign_transaction(tx)
    assert client.signer.sign_dynamic_fee(tx) == bytes(expected.raw_transaction)


class FakeNode:
    """JSON-RPC over HTTP from ``methods`` (name -> params -> result, or raise RpcFault)."""

    def __init__(self) -> None:
        self.methods: dict[str, Callable[[list[Any]], Any]] = {}
        self.batches: bool | str = True  # False: an error answer; "http": HTTP 400, no JSON
        self.close_after_each = False
        self.requests: list[Any] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                node.requests.append(body)
                if isinstance(body, list) and node.batches == "http":
                    self.send_response(400)
                    self.send_header("Content-Length", "11")
                    self.end_headers()
                    self.wfile.write(b"Bad Request")
                    return
                if isinstance(body, list):
                    answer: Any = (
                        [node.answer(item) for item in body]
                        if node.batches
                        else {"jsonrpc": "2.0", "id": None, "error": {"code": -32600}}
                    )
                else:
                    answer = node.answer(body)
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if node.close_after_each:
                    self.close_connection = True  # without telling the client (no header)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method = self.methods.get(request["method"])
        if method is None:
            error = {"code": -32601, "message": "Method not found"}
            return {"jsonrpc": "2.0", "id": request["id"], "error": error}
        try:
            return {"jsonrpc": "2.0", "id": request["id"], "result": method(request["params"])}
        except RpcFault as fault:
            return {"jsonrpc": "2.0", "id": request["id"], "error": fault.error}


class RpcFault(Exception):
    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        self.error = {"code": code, "message": message, "data": data}


@pytest.fixture
def node() -> Iterator[FakeNode]:
    fake = FakeNode()
    fake.methods.update(
        {
            "eth_chainId": lambda _: "0x7a69",
            "eth_blockNumber": lambda _: "0x10",
            "eth_getTransactionCount": lambda _: "0x5",
            "eth_estimateGas": lambda _: "0xb1b4",
            "eth_maxPriorityFeePerGas": lambda _: "0x3b9aca00",
            "eth_getBlockByNumber": lambda _: {"hash": BLOCK_HASH, "baseFeePerGas": "0x7"},
        }
    )
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def receipt(status: int = 1) -> dict[str, Any]:
    return {
        "transactionHash": "0x" + TX_HASH.hex(),
        "blockHash": BLOCK_HASH,
        "blockNumber": "0x10",
        "status": hex(status),
        "gasUsed": "0xb1b4",
        "logs": [],
    }


def test_sign_data_prepares_in_one_round_trip(node: FakeNode) -> None:
    client = ChainClient(rpc_url=node.url, private_key=DEV_PRIVATE_KEY)
    client.chain_id  # noqa: B018 (cached from here on)
    node.requests.clear()
    data = batch_calldata(root=b"\x01" * 32, size=3)
    signed = client.sign_data(to=CONTRACT, data=data, artifact=load_artifact("EvidenceLedger"))
    assert len(node.requests) == 1 and isinstance(node.requests[0], list)
    tx = decode_signed_transaction(signed.raw_transaction)
    assert (tx.sender, tx.to, tx.data, tx.chain_id) == (client.address, CONTRACT, data, 31337)
    assert signed.nonce == 5 and tx.tx_hash == signed.tx_hash


@pytest.mark.parametrize("refusal", [False, "http"])
def test_without_batch_requests_calls_go_one_by_one(node: FakeNode, refusal: bool | str) -> None:
    node.batches = refusal
    client = ChainClient(rpc_url=node.url, private_key=DEV_PRIVATE_KEY)
    answers = client.json_rpc_many([("eth_blockNumber", []), ("eth_nope", [])])
    assert answers[0] == "0x10"
    assert isinstance(answers[1], RpcError) and answers[1].code == -32601
    assert client.json_rpc_many([("eth_chainId", []), ("eth_blockNumber", [])]) == [
        "0x7a69",
        "0x10",
    ]
    assert [isinstance(r, list) for r in node.requests] == [True, False, False, False, False]


def test_a_simulated_revert_is_the_contracts_error(node: FakeNode) -> None:
    selector = "0x0dba44df"  # EvidenceLedger__ZeroDigest()

    def revert(_: list[Any]) -> Any:
        raise RpcFault(3, "execution reverted: custom error " + selector, selector)

    node.methods["eth_estimateGas"] = revert
    client = ChainClient(rpc_url=node.url, private_key=DEV_PRIVATE_KEY)
    with pytest.raises(
        TransactionFailed, match=r"^EvidenceLedger reverted with EvidenceLedger__ZeroDigest\(\)$"
    ) as failed:
        client.sign_data(to=CONTRACT, data=b"", artifact=load_artifact("EvidenceLedger"))
    assert failed.value.error == "EvidenceLedger__ZeroDigest"


@pytest.mark.parametrize(
    "answer", ["already known", "Known transaction", "AlreadyKnown", "nonce too low"]
)
def test_send_raw_takes_already_known_as_sent(node: FakeNode, answer: str) -> None:
    def known(_: list[Any]) -> Any:
        raise RpcFault(-32000, answer)

    node.methods["eth_sendRawTransaction"] = known
    client = ChainClient(rpc_url=node.url)
    assert len(client.send_raw(b"\x02raw")) == 32

    def refused(_: list[Any]) -> Any:
        raise RpcFault(-32000, "insufficient funds")

    node.methods["eth_sendRawTransaction"] = refused
    with pytest.raises(NodeError, match="insufficient funds"):
        client.send_raw(b"\x02raw")


def test_wait_polls_until_mined(node: FakeNode) -> None:
    answers = [None, {**receipt(), "blockNumber": None, "blockHash": None}, receipt()]
    node.methods["eth_getTransactionReceipt"] = lambda _: answers.pop(0)
    client = ChainClient(rpc_url=node.url)
    mined = client.wait(TX_HASH, timeout_s=5)
    assert (mined.block_number, mined.block_hash) == (16, bytes.fromhex(BLOCK_HASH[2:]))
    assert mined.receipt["gasUsed"] == 0xB1B4 and answers == []


def test_wait_gives_up_and_reports_reverts(node: FakeNode) -> None:
    node.methods["eth_getTransactionReceipt"] = lambda _: None
    client = ChainClient(rpc_url=node.url)
    assert client.receipt(TX_HASH) is None
    with pytest.raises(ChainError, match="not mined"):
        client.wait(TX_HASH, timeout_s=0.2)
    node.methods["eth_getTransactionReceipt"] = lambda _: receipt(status=0)
    with pytest.raises(TransactionFailed, match="reverted"):
        client.wait(TX_HASH, timeout_s=1)


def test_a_connection_the_node_closed_is_replaced(node: FakeNode) -> None:
    node.close_after_each = True
    client = ChainClient(rpc_url=node.url)
    assert [client.block_number() for _ in range(3)] == [16, 16, 16]


def test_an_unreachable_node_is_a_node_error(node: FakeNode) -> None:
    url = node.url
    node.server.shutdown()
    node.server.server_close()
    with pytest.raises(NodeError, match="unreachable"):
        ChainClient(rpc_url=url, timeout_s=1).block_number()
