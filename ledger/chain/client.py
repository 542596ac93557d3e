"""A small JSON-RPC client for one signing account: simulate, sign locally, send, wait.

Every state-changing call is first simulated with ``eth_call`` from the sending account, so a
revert is reported as the contract's decoded custom error without spending gas or a nonce.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    BlockNotFound,
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
)

from ledger.chain.artifact import Artifact
from ledger.chain.errors import ChainError, NodeError, TransactionFailed


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


class ChainClient:
    def __init__(
        self, *, rpc_url: str, private_key: str | None = None, timeout_s: float = 30.0
    ) -> None:
        """Without ``private_key`` the client is read-only: calls work, transactions don't."""
        self.rpc_url = rpc_url
        self.timeout_s = timeout_s
        self.w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
        self.account = Account.from_key(private_key) if private_key else None
        self._chain_id: int | None = None

    @property
    def address(self) -> str:
        if self.account is None:
            raise ChainError("this chain client is read-only (no private key configured)")
        return str(self.account.address)

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._rpc(lambda: self.w3.eth.chain_id))
        return self._chain_id

    def code_at(self, address: str) -> bytes:
        return bytes(self._rpc(lambda: self.w3.eth.get_code(Web3.to_checksum_address(address))))

    def receipt(self, tx_hash: bytes) -> Any | None:
        try:
            return self._rpc(lambda: self.w3.eth.get_transaction_receipt(HexBytes(tx_hash)))
        except NodeError as exc:
            if isinstance(exc.__cause__, TransactionNotFound):
                return None
            raise

    def block_number(self) -> int:
        """The node's latest block number (a cheap liveness check)."""
        return int(self._rpc(lambda: self.w3.eth.block_number))

    def block_hash(self, number: int) -> bytes | None:
        try:
            block = self._rpc(lambda: self.w3.eth.get_block(number))
        except NodeError as exc:
            if isinstance(exc.__cause__, BlockNotFound):
                return None
            raise
        return bytes(block["hash"])

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
            raise _decode_revert(exc, artifact) from exc

    def sign(self, call: Any, artifact: Artifact, *, nonce: int | None = None) -> SignedCall:
        """Sign ``call`` without sending it (callers may persist the bytes first)."""

        use_nonce = self.next_nonce() if nonce is None else nonce

        def build() -> Any:
            tx = call.build_transaction(
                {"from": self.address, "nonce": use_nonce, "chainId": self.chain_id}
            )
            assert self.account is not None  # self.address checked it
            return self.account.sign_transaction(tx)

        try:
            signed = self._rpc(build)
        except (ContractCustomError, ContractLogicError) as exc:  # gas estimation reverted
            raise _decode_revert(exc, artifact) from exc
        return SignedCall(
            raw_transaction=bytes(signed.raw_transaction),
            tx_hash=bytes(signed.hash),
            nonce=use_nonce,
        )

    def next_nonce(self) -> int:
        address = Web3.to_checksum_address(self.address)
        return int(self._rpc(lambda: self.w3.eth.get_transaction_count(address, "pending")))

    def send_raw(self, raw_transaction: bytes) -> bytes:
        """Send signed bytes; sending the same bytes again is harmless (same hash)."""
        tx_hash = keccak(raw_transaction)
        try:
            self._rpc(lambda: self.w3.eth.send_raw_transaction(raw_transaction))
        except NodeError as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text or "nonce too low" in text:
                return tx_hash  # the node has it (or mined it): look the receipt up by hash
            raise
        return tx_hash

    def wait(self, tx_hash: bytes, *, timeout_s: float | None = None) -> SentTransaction:
        try:
            receipt = self._rpc(
                lambda: self.w3.eth.wait_for_transaction_receipt(
                    HexBytes(tx_hash), timeout=timeout_s or self.timeout_s
                )
            )
        except TimeExhausted as exc:
            raise ChainError(f"transaction {HexBytes(tx_hash).to_0x_hex()} not mined") from exc
        if receipt["status"] != 1:
            raise TransactionFailed(f"transaction {HexBytes(tx_hash).to_0x_hex()} reverted")
        return SentTransaction(
            tx_hash=bytes(tx_hash),
            raw_transaction=b"",
            block_number=int(receipt["blockNumber"]),
            block_hash=bytes(receipt["blockHash"]),
            receipt=receipt,
        )

    def submit(self, signed: SignedCall) -> SentTransaction:
        """Send signed bytes and wait until they are mined."""
        self.send_raw(signed.raw_transaction)
        return replace(self.wait(signed.tx_hash), raw_transaction=signed.raw_transaction)

    def _send(self, call: Any, artifact: Artifact) -> SentTransaction:
        return self.submit(self.sign(call, artifact))

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


def _decode_revert(exc: Exception, artifact: Artifact) -> TransactionFailed:
    data = getattr(exc, "data", None)
    raw = bytes(HexBytes(data)) if isinstance(data, str) and data.startswith("0x") else b""
    entry = artifact.error_by_selector().get(raw[:4]) if len(raw) >= 4 else None
    if entry is None:
        return TransactionFailed(f"{artifact.name} reverted: {exc}")
    types = [i["type"] for i in entry["inputs"]]
    decoded = abi_decode(types, raw[4:]) if types else ()
    args = tuple(
        Web3.to_checksum_address(value) if kind == "address" else value
        for kind, value in zip(types, decoded, strict=True)
    )
    shown = ", ".join(a.hex() if isinstance(a, bytes) else str(a) for a in args)
    return TransactionFailed(
        f"{artifact.name} reverted with {entry['name']}({shown})", error=entry["name"], args=args
    )
