"""What the governance contracts' bindings share: the contract at an address, reads and writes
whose custom errors become typed refusals, the events of a transaction, and names <-> on-chain IDs
(keccak256 of the name, as the contracts define their roles and purposes)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import collapse_if_tuple
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.logs import DISCARD

from ledger.chain._reverts import refusals
from ledger.chain.artifact import load_artifact
from ledger.chain.client import ChainClient, SentTransaction
from ledger.chain.errors import ChainError, ContractRefused


def name_id(name: str) -> bytes:
    """keccak256 of the UTF-8 ``name``: how the contracts identify roles, purposes, field names."""
    return keccak(text=name)


def deployment_scoped_id(
    *, chain_id: int, contract: str, types: Sequence[str], values: Sequence[Any]
) -> bytes:
    """keccak256(abi.encode(chainid, contract, *values)): how the contracts derive the IDs of
    their records (keys, proposals, attestations), scoped to one deployment on one chain."""
    return keccak(
        abi_encode(
            ["uint256", "address", *types], [chain_id, to_checksum_address(contract), *values]
        )
    )


def name_ids(names: Sequence[str]) -> dict[str, bytes]:
    """``{name: keccak256(name)}``."""
    return {name: name_id(name) for name in names}


def id_of(ids: Mapping[str, bytes], name: str, what: str) -> bytes:
    """The ID of ``name`` in ``ids``; :class:`ValueError` naming the known ones otherwise."""
    try:
        return ids[name]
    except KeyError:
        raise ValueError(f"unknown {what} {name!r} ({what}s: {', '.join(ids)})") from None


def name_of(ids: Mapping[str, bytes], value: bytes) -> str:
    """The name whose ID is ``value``, else its hex."""
    for name, known in ids.items():
        if known == bytes(value):
            return name
    return "0x" + bytes(value).hex()


class ContractBinding:
    """A deployed contract of ``CONTRACT_NAME``; its custom errors named in ``REFUSALS`` are
    raised as those typed refusals."""

    CONTRACT_NAME: ClassVar[str]
    REFUSALS: ClassVar[Mapping[str, type[ContractRefused]]]

    def __init__(self, *, client: ChainClient, address: str) -> None:
        self.client = client
        self.address = to_checksum_address(address)
        self.artifact = load_artifact(self.CONTRACT_NAME)
        self._contract = client.contract(self.artifact, self.address)

    def logs(self, name: str, *, from_block: int, to_block: int) -> list[Any]:
        """The contract's ``name`` events in blocks ``from_block``..``to_block``, decoded, in
        chain order (``args``, ``blockNumber``, ``logIndex``, ...)."""
        event = getattr(self._contract.events, name)()
        return self.client.logs(event, from_block=from_block, to_block=to_block)

    def events(self, name: str, sent: SentTransaction) -> list[dict[str, Any]]:
        """The arguments of each ``name`` event the contract emitted in ``sent``."""
        found = getattr(self._contract.events, name)().process_receipt(sent.receipt, errors=DISCARD)
        return [dict(event["args"]) for event in found]

    def _one_event(self, name: str, sent: SentTransaction) -> dict[str, Any]:
        found = self.events(name, sent)
        if len(found) != 1:
            raise ChainError(f"expected one {name} event, got {len(found)}")
        return found[0]

    def _transact(self, fn: Any) -> SentTransaction:
        with refusals(self.REFUSALS):
            return self.client.transact(fn, self.artifact)

    def _call(self, fn: Any) -> Any:
        with refusals(self.REFUSALS):
            return self.client.call(fn, self.artifact)

    def _read(self, name: str, *args: Any) -> Any:
        """The view function ``name`` called with ``args`` (already the ABI's Python types:
        bytes, ints, checksummed addresses), returning what web3 would: one value, or a tuple
        of several; addresses checksummed, arrays as lists, structs as tuples.

        One ``eth_call`` without web3's contract machinery, which costs about 3 ms of CPU per
        read here (ABI lookup, argument normalizers, selector hashing, request middleware) for
        what is an encode, a request and a decode: the reads a release makes (grant,
        revocations, attestation, keys) are on every consent-checked request."""
        function = _view(self.CONTRACT_NAME, name)
        data = function.selector + abi_encode(function.inputs, args)
        with refusals(self.REFUSALS):
            raw = self.client.read(to=self.address, data=data, artifact=self.artifact)
        values = tuple(
            _normalized(kind, value)
            for kind, value in zip(function.outputs, abi_decode(function.outputs, raw), strict=True)
        )
        return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class _View:
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@functools.cache
def _view(contract: str, name: str) -> _View:
    """A function of the contract's ABI by name (view functions are not overloaded here)."""
    entries = [
        entry
        for entry in load_artifact(contract).abi
        if entry.get("type") == "function" and entry.get("name") == name
    ]
    if len(entries) != 1:
        raise ChainError(f"{contract} has {len(entries)} functions named {name!r}, not one")
    inputs = tuple(collapse_if_tuple(dict(i)) for i in entries[0]["inputs"])
    outputs = tuple(collapse_if_tuple(dict(o)) for o in entries[0]["outputs"])
    selector = keccak(text=f"{name}({','.join(inputs)})")[:4]
    return _View(selector=selector, inputs=inputs, outputs=outputs)


_ARRAY = re.compile(r"^(.*)\[\d*\]$")


def _normalized(kind: str, value: Any) -> Any:
    """``value`` decoded as ABI type ``kind``, as web3 returns it."""
    array = _ARRAY.match(kind)
    if array:
        return [_normalized(array.group(1), item) for item in value]
    if kind.startswith("("):
        return tuple(
            _normalized(part, item) for part, item in zip(_components(kind), value, strict=True)
        )
    if kind == "address":
        return to_checksum_address(value)
    return value


@functools.cache
def _components(kind: str) -> tuple[str, ...]:
    """The component types of a tuple type ``(a,b,(c,d)[],...)``."""
    parts, depth, start = [], 0, 1
    for i, char in enumerate(kind[1:-1], start=1):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(kind[start:i])
            start = i + 1
    parts.append(kind[start:-1])
    return tuple(parts)
