"""A contract's revert as :class:`~ledger.chain.errors.TransactionFailed`: its custom error decoded
with the contract's ABI (name and arguments), from a node's JSON-RPC error answer or a web3
exception."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from eth_abi.abi import decode as abi_decode
from hexbytes import HexBytes
from web3 import Web3

from ledger.chain._jsonrpc import RpcError
from ledger.chain.artifact import Artifact
from ledger.chain.errors import ContractRefused, TransactionFailed


def rpc_revert(error: RpcError, artifact: Artifact) -> TransactionFailed | None:
    """The decoded revert a simulation answered with; None if ``error`` is not a revert."""
    if error.code != 3 and "revert" not in error.rpc_message.lower():
        return None
    data = error.data
    if isinstance(data, dict):  # some nodes nest it: {"data": {"data": "0x..."}}
        data = data.get("data")
    return _from_data(data, error.rpc_message, artifact)


def decode_revert(exc: Exception, artifact: Artifact) -> TransactionFailed:
    return _from_data(getattr(exc, "data", None), str(exc), artifact)


def _from_data(data: Any, message: str, artifact: Artifact) -> TransactionFailed:
    raw = bytes(HexBytes(data)) if isinstance(data, str) and data.startswith("0x") else b""
    entry = artifact.error_by_selector().get(raw[:4]) if len(raw) >= 4 else None
    if entry is None:
        return TransactionFailed(f"{artifact.name} reverted: {message}")
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


@contextmanager
def refusals(kinds: Mapping[str, type[ContractRefused]]) -> Iterator[None]:
    """Re-raise a :class:`TransactionFailed` whose custom error ``kinds`` names as that typed
    refusal (same message, error and arguments); any other failure passes unchanged."""
    try:
        yield
    except TransactionFailed as exc:
        kind = kinds.get(exc.error or "")
        if kind is None:
            raise
        raise kind(str(exc), error=exc.error, args=exc.error_args) from exc
