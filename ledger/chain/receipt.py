"""A transaction receipt as web3 hands it out, from the node's JSON-RPC answer.

web3 formats receipts with a private helper (``web3._utils.method_formatters``); its public path
(``w3.eth.get_transaction_receipt``) is the request pipeline the anchoring loop avoids (see
:mod:`ledger.chain.client`). The conversion is small and fixed by the JSON-RPC specification, so
it is written here: quantities become ints, hashes and data :class:`~hexbytes.HexBytes`,
addresses checksummed; unknown fields pass through unchanged. A test compares the result with
web3's own formatter on real anvil receipts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from hexbytes import HexBytes
from web3.datastructures import AttributeDict


def _int(value: Any) -> Any:
    return int(value, 16) if isinstance(value, str) else value


def _bytes(value: Any) -> Any:
    return HexBytes(value) if isinstance(value, str | bytes | bytearray) else value


def _address(value: Any) -> Any:
    return to_checksum_address(value) if is_address(value) else value


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


_LOG_FIELDS: dict[str, Callable[[Any], Any]] = {
    "blockHash": _optional(_bytes),
    "blockNumber": _optional(_int),
    "transactionIndex": _optional(_int),
    "transactionHash": _optional(_bytes),
    "logIndex": _int,
    "address": _address,
    "topics": lambda topics: [_bytes(t) for t in topics],
    "data": _bytes,
}


def _log(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _LOG_FIELDS[k](v) if k in _LOG_FIELDS else v for k, v in entry.items()}


_RECEIPT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "blockHash": _optional(_bytes),
    "blockNumber": _optional(_int),
    "transactionIndex": _optional(_int),
    "transactionHash": _bytes,
    "cumulativeGasUsed": _int,
    "status": _int,
    "gasUsed": _int,
    "contractAddress": _optional(_address),
    "logs": lambda logs: [_log(entry) for entry in logs],
    "logsBloom": _bytes,
    "from": _optional(_address),
    "to": _address,
    "effectiveGasPrice": _int,
    "type": _int,
    "blobGasPrice": _int,
    "blobGasUsed": _int,
}


def format_receipt(raw: Mapping[str, Any]) -> AttributeDict[str, Any]:
    """The receipt ``raw`` (as ``eth_getTransactionReceipt`` answered it), formatted as web3's
    ``eth.get_transaction_receipt`` returns it."""
    formatted = {k: _RECEIPT_FIELDS[k](v) if k in _RECEIPT_FIELDS else v for k, v in raw.items()}
    receipt: AttributeDict[str, Any] = AttributeDict.recursive(formatted)
    return receipt
