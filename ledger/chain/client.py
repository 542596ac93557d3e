"""A small JSON-RPC client for one signing account: simulate, sign locally, send, wait.

Every state-changing call is first simulated from the sending account (``eth_call``, or the
``eth_estimateGas`` that prices it), so a revert is reported as the contract's decoded custom
error without spending gas or a nonce.

Contract reads, deployments and ad-hoc transactions go through web3 (ABI handling). The anchoring
hot path does not: :meth:`ChainClient.sign_data`, :meth:`~ChainClient.send_raw`,
:meth:`~ChainClient.wait` and the receipt, nonce and block reads are plain JSON-RPC (httpx,
keep-alive), several requests per round trip where the node allows it, and the
anchoring transaction is signed with coincurve directly. web3's request pipeline (middleware,
validation, four ``eth_chainId`` calls per signed transaction) and eth-account's signing cost
more CPU than everything else the anchoring loop did per batch.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    Web3Exception,
)

from ledger.canonical import hex0x
from ledger.chain._jsonrpc import (
    HttpStatusError,
    RpcError,
    from_hex,
    post,
    quantity,
    request,
    result_of,
)
from ledger.chain._reverts import decode_revert, rpc_revert
from ledger.chain._signing import LocalSigner
from ledger.chain.artifact import Artifact
from ledger.chain.errors import ChainError, NodeError, NotMined, TransactionFailed
from ledger.chain.receipt import format_receipt
from ledger.chain.transaction import dynamic_fees, fees_of, legacy_gas_price

#: Receipt polling: the first look is immediate, then the pause doubles from this ...
_RECEIPT_FIRST_POLL_S = 0.02
#: ... up to this (a transaction is mined at the next block; consortium chains: about 1-5 s).
_RECEIPT_MAX_POLL_S = 0.25


@dataclass(frozen=True)
class SignedCall:
    raw_transaction: bytes
    tx_hash: bytes
    nonce: int


@dataclass(frozen=True)
class SentTransaction:
    tx_hash: bytes
    raw_transaction: bytes
    block_number: int
    block_hash: bytes
    receipt: Any


#: What nodes answer when they already have a transaction sent again (geth, Besu "Known
#: transaction", Nethermind "AlreadyKnown") or mined its nonce: it is sent.
_ALREADY_HAS_IT = (
    "already known",
    "already imported",
    "known transaction",
    "alreadyknown",
    "nonce too low",
)


class ChainClient:
    def __init__(
        self, *, rpc_url: str, private_key: str | None = None, timeout_s: float = 30.0
    ) -> None:
        """Without ``private_key`` the client is read-only: calls work, transactions don't."""
        self.rpc_url = rpc_url
        self.timeout_s = timeout_s
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        # web3's validation middleware asks the node for eth_chainId before every eth_call,
        # eth_estimateGas and eth_sendTransaction (twice per contract read: three HTTP requests
        # where one does), to compare with a chainId the params may carry. Ours carry none but
        # the one :attr:`chain_id` read from this node, and we send only what we signed.
        self.w3.middleware_onion.remove("validation")
        self._signer = LocalSigner(private_key) if private_key else None
        #: Held from choosing a nonce until the transaction is sent, by every sender of this
        #: account in the process (governance writes, the anchoring loop): no two pick one nonce.
        self.sending = threading.RLock()
        self._chain_id: int | None = None
        self._batch_requests = True  # until the node refuses a JSON-RPC batch
        self._ids = itertools.count(1)

    @property
    def address(self) -> str:
        return self.signer.address

    @property
    def signer(self) -> LocalSigner:
        """The signing account; :class:`ChainError` if this client is read-only."""
        if self._signer is None:
            raise ChainError("this chain client is read-only (no private key configured)")
        return self._signer

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = quantity(self.json_rpc("eth_chainId"))
        return self._chain_id

    def code_at(self, address: str) -> bytes:
        return bytes(self._rpc(lambda: self.w3.eth.get_code(Web3.to_checksum_address(address))))

    def receipt(self, tx_hash: bytes) -> Any | None:
        """The receipt (as web3 formats it), or None while the transaction is not mined."""
        raw = self._raw_receipt(tx_hash)
        return None if raw is None else format_receipt(raw)

    def block_number(self) -> int:
        """The node's latest block number (a cheap liveness check)."""
        return quantity(self.json_rpc("eth_blockNumber"))

    def block_hash(self, number: int) -> bytes | None:
        block = self.json_rpc("eth_getBlockByNumber", hex(number), False)
        return None if block is None else from_hex(block["hash"])

    def contract(self, artifact: Artifact, address: str) -> Any:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact.abi)

    def deploy(self, artifact: Artifact, *args: Any) -> SentTransaction:
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        sent = self._send(factory.constructor(*args), artifact)
        if not sent.receipt["contractAddress"]:
            raise ChainError(f"deploying {artifact.name} created no contract")
        return sent

    def transact(self, call: ContractFunction, artifact: Artifact) -> SentTransaction:
        # 1. simulate from our account: a revert surfaces as the contract's custom error
        self.call(call, artifact, sender=self.address)
        # 2. sign locally, send and wait for the receipt
        return self._send(call, artifact)

    def call(self, call: Any, artifact: Artifact, *, sender: str | None = None) -> Any:
        try:
            return self._rpc(lambda: call.call({"from": sender} if sender else {}))
        except (ContractCustomError, ContractLogicError) as exc:
            raise decode_revert(exc, artifact) from exc

    def read(self, *, to: str, data: bytes, artifact: Artifact) -> bytes:
        """The return data of a plain ``eth_call`` of ``data`` at contract ``to`` (latest
        block), one JSON-RPC request: no web3 pipeline. A revert raises the contract's decoded
        custom error; a node that cannot be reached :class:`NodeError`."""
        try:
            result = self.json_rpc("eth_call", {"to": to, "data": hex0x(data)}, "latest")
        except RpcError as exc:
            raise rpc_revert(exc, artifact) or exc from None
        return bytes(HexBytes(result))

    def sign(self, call: Any, artifact: Artifact, *, nonce: int | None = None) -> SignedCall:
        """Sign ``call`` without sending it (callers may persist the bytes first)."""

        use_nonce = self.next_nonce() if nonce is None else nonce

        def build() -> bytes:
            tx = call.build_transaction(
                {"from": self.address, "nonce": use_nonce, "chainId": self.chain_id}
            )
            return self.signer.sign(tx)

        try:
            raw = self._rpc(build)
        except (ContractCustomError, ContractLogicError) as exc:  # gas estimation reverted
            raise decode_revert(exc, artifact) from exc
        return SignedCall(raw_transaction=raw, tx_hash=keccak(raw), nonce=use_nonce)

    def sign_data(
        self,
        *,
        to: str,
        data: bytes,
        artifact: Artifact,
        nonce: int | None = None,
        replaces: bytes | None = None,
    ) -> SignedCall:
        """Sign a call of contract ``to`` with call data ``data``, without sending it.

        One JSON-RPC round trip estimates the gas (which simulates the call from our account: a
        revert raises the contract's decoded custom error, nothing is signed) and reads the fees
        and the pending nonce. Fees as web3 sets them: an EIP-1559 transaction with
        ``maxPriorityFeePerGas`` from the node and ``maxFeePerGas`` = that + 2 x the latest base
        fee; on a chain without base fees, a legacy (EIP-155) one at ``eth_gasPrice``.

        ``replaces``: the signed bytes of a transaction of ours stuck in the pool. The new one
        takes its nonce and raises both fees by at least 12.5% over it (or more, if the node now
        asks more), as nodes require of a replacement.
        """
        floor = None
        if replaces is not None:
            floor = fees_of(replaces)
            nonce = floor.nonce
        sender = self.address
        call = {"from": sender, "to": Web3.to_checksum_address(to), "data": hex0x(data)}
        requests: list[tuple[str, Sequence[Any]]] = [
            ("eth_estimateGas", [call, "latest"]),  # not "pending": our stuck attempt is there
            ("eth_getBlockByNumber", ["latest", False]),
            ("eth_maxPriorityFeePerGas", []),
        ]
        if nonce is None:
            requests.append(("eth_getTransactionCount", [sender, "pending"]))
        gas, block, tip, *pending = self.json_rpc_many(requests)
        if isinstance(gas, RpcError):
            raise rpc_revert(gas, artifact) or gas
        for answer in (block, *pending):
            if isinstance(answer, RpcError):
                raise answer
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": quantity(pending[0]) if nonce is None else nonce,
            "to": call["to"],
            "data": data,
            "value": 0,
            "gas": quantity(gas),
        }
        if block is not None and block.get("baseFeePerGas") is not None:
            if isinstance(tip, RpcError):  # not a standard method: web3 falls back to fee history
                priority = int(self._rpc(lambda: self.w3.eth.max_priority_fee))
            else:
                priority = quantity(tip)
            tx["maxPriorityFeePerGas"], tx["maxFeePerGas"] = dynamic_fees(
                priority=priority, base_fee=quantity(block["baseFeePerGas"]), replaces=floor
            )
            raw = self.signer.sign_dynamic_fee(tx)
        else:
            gas_price = quantity(self.json_rpc("eth_gasPrice"))
            tx["gasPrice"] = legacy_gas_price(gas_price=gas_price, replaces=floor)
            raw = self.signer.sign(tx)
        return SignedCall(raw_transaction=raw, tx_hash=keccak(raw), nonce=tx["nonce"])

    def logs(self, event: Any, *, from_block: int, to_block: int) -> list[Any]:
        """The logs of a contract ``event`` (``contract.events.Name()``) in those blocks."""
        return list(self._rpc(lambda: event.get_logs(from_block=from_block, to_block=to_block)))

    def next_nonce(self) -> int:
        return quantity(self.json_rpc("eth_getTransactionCount", self.address, "pending"))

    def mined_nonce(self) -> int:
        """How many transactions of this account are mined (the next nonce a block takes)."""
        return quantity(self.json_rpc("eth_getTransactionCount", self.address, "latest"))

    def send_raw(self, raw_transaction: bytes) -> bytes:
        """Send signed bytes; sending the same bytes again is harmless (same hash)."""
        tx_hash = keccak(raw_transaction)
        try:
            self.json_rpc("eth_sendRawTransaction", hex0x(raw_transaction))
        except NodeError as exc:
            text = str(exc).lower()
            if any(answer in text for answer in _ALREADY_HAS_IT):
                return tx_hash  # the node has it (or mined it): look the receipt up by hash
            raise
        return tx_hash

    def wait(self, tx_hash: bytes, *, timeout_s: float | None = None) -> SentTransaction:
        """Wait until ``tx_hash`` is mined (see :meth:`wait_any`)."""
        return self.wait_any([tx_hash], timeout_s=timeout_s)

    def wait_any(
        self, tx_hashes: Sequence[bytes], *, timeout_s: float | None = None
    ) -> SentTransaction:
        """Wait until one of ``tx_hashes`` (attempts with one nonce: at most one can be mined)
        is mined: one look at once, then one after each pause (20 ms, doubling up to 250 ms),
        so a transaction mined on sending (anvil's automine) costs one request and one mined at
        the next block a handful. :class:`NotMined` if none is mined within ``timeout_s``."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        pause = _RECEIPT_FIRST_POLL_S
        while (mined := self.first_mined(tx_hashes)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                shown = ", ".join(HexBytes(h).to_0x_hex() for h in tx_hashes)
                raise NotMined(f"transaction {shown} not mined")
            time.sleep(min(pause, left))
            pause = min(2 * pause, _RECEIPT_MAX_POLL_S)
        return mined

    def first_mined(self, tx_hashes: Sequence[bytes]) -> SentTransaction | None:
        """The first of ``tx_hashes`` that is mined (one round trip), or None.
        :class:`TransactionFailed` if it reverted."""
        if len(tx_hashes) == 1:
            receipts = [self._raw_receipt(tx_hashes[0])]
        else:
            answers = self.json_rpc_many(
                [("eth_getTransactionReceipt", [hex0x(h)]) for h in tx_hashes]
            )
            for answer in answers:
                if isinstance(answer, RpcError):
                    raise answer
            receipts = [a if a is None or a.get("blockNumber") else None for a in answers]
        for tx_hash, raw in zip(tx_hashes, receipts, strict=True):
            if raw is None:
                continue
            if quantity(raw["status"]) != 1:
                raise TransactionFailed(f"transaction {HexBytes(tx_hash).to_0x_hex()} reverted")
            return SentTransaction(
                tx_hash=bytes(tx_hash),
                raw_transaction=b"",
                block_number=quantity(raw["blockNumber"]),
                block_hash=from_hex(raw["blockHash"]),
                receipt=format_receipt(raw),
            )
        return None

    def submit(self, signed: SignedCall) -> SentTransaction:
        """Send signed bytes and wait until they are mined."""
        self.send_raw(signed.raw_transaction)
        return replace(self.wait(signed.tx_hash), raw_transaction=signed.raw_transaction)

    def _send(self, call: Any, artifact: Artifact) -> SentTransaction:
        with self.sending:  # the nonce chosen is sent before another sender chooses
            signed = self.sign(call, artifact)
            self.send_raw(signed.raw_transaction)
        return replace(self.wait(signed.tx_hash), raw_transaction=signed.raw_transaction)

    # -- plain JSON-RPC --------------------------------------------------------------------

    def json_rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; the node's error answer raises :class:`RpcError`."""
        answer = post(self.rpc_url, request(next(self._ids), method, params), self.timeout_s)
        result = result_of(self.rpc_url, method, answer)
        if isinstance(result, RpcError):
            raise result
        return result

    def json_rpc_many(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several JSON-RPC calls in one round trip (a JSON-RPC batch; one by one if the node
        does not take batches). Each slot holds the result or the :class:`RpcError` answered;
        a node that cannot be reached raises :class:`NodeError`."""
        if self._batch_requests and len(calls) > 1:
            first = next(self._ids)
            payload = [request(first + i, m, p) for i, (m, p) in enumerate(calls)]
            for _ in calls[1:]:
                next(self._ids)
            try:
                answer = post(self.rpc_url, payload, self.timeout_s)
            except HttpStatusError:
                answer = None  # e.g. 400 Bad Request: no batches here either
            if isinstance(answer, list):
                by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
                return [
                    result_of(self.rpc_url, method, by_id.get(first + i))
                    for i, (method, _) in enumerate(calls)
                ]
            self._batch_requests = False  # an error answer: no batches here, ask one by one
        results: list[Any] = []
        for method, params in calls:
            answer = post(self.rpc_url, request(next(self._ids), method, params), self.timeout_s)
            results.append(result_of(self.rpc_url, method, answer))
        return results

    def _raw_receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        receipt = self.json_rpc("eth_getTransactionReceipt", hex0x(tx_hash))
        if receipt is not None and receipt.get("blockNumber") is None:
            return None  # some nodes answer a pending transaction with an unmined receipt
        return cast("dict[str, Any] | None", receipt)

    def _rpc(self, action: Any) -> Any:
        try:
            return action()
        except (ContractCustomError, ContractLogicError, TimeExhausted):
            raise
        except (OSError, Web3Exception) as exc:
            raise NodeError(f"chain node at {self.rpc_url} failed: {exc}") from exc
        except Exception as exc:  # requests' connection errors are not OSError subclasses
            if type(exc).__module__.startswith(("requests", "urllib3", "aiohttp")):
                raise NodeError(f"chain node at {self.rpc_url} unreachable: {exc}") from exc
            raise
