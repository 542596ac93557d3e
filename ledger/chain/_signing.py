"""The signing account of :class:`~ledger.chain.client.ChainClient`: transactions signed locally.

An EIP-1559 transaction (the anchoring hot path) is RLP-encoded and signed with coincurve
directly: the same bytes as eth-account's ``sign_transaction`` (RFC 6979 signatures are
deterministic; a test compares them), at a tenth of its CPU. Anything else (legacy EIP-155
transactions, on chains without base fees) goes through eth-account.
"""

from __future__ import annotations

from typing import Any

import coincurve
import rlp
from eth_account import Account
from eth_utils.address import to_canonical_address
from eth_utils.crypto import keccak

from ledger.chain.transaction import DYNAMIC_FEE_TX


class LocalSigner:
    """One account's key; :meth:`sign` returns signed transaction bytes (their hash is their
    keccak256)."""

    def __init__(self, private_key: str) -> None:
        self.account = Account.from_key(private_key)
        self._key: coincurve.PrivateKey | None = None  # made at the first EIP-1559 signature

    @property
    def address(self) -> str:
        return str(self.account.address)

    def sign(self, tx: dict[str, Any]) -> bytes:
        """The signed transaction ``tx`` (any kind eth-account signs; its field names)."""
        return bytes(self.account.sign_transaction(tx).raw_transaction)

    def sign_dynamic_fee(self, tx: dict[str, Any]) -> bytes:
        """The signed EIP-1559 transaction ``tx`` (no access list), as :meth:`sign` signs it."""
        if self._key is None:
            self._key = coincurve.PrivateKey(bytes(self.account.key))
        fields = [
            tx["chainId"],
            tx["nonce"],
            tx["maxPriorityFeePerGas"],
            tx["maxFeePerGas"],
            tx["gas"],
            to_canonical_address(tx["to"]),
            tx["value"],
            tx["data"],
            [],  # access list
        ]
        digest = keccak(DYNAMIC_FEE_TX + rlp.encode(fields))
        signature = self._key.sign_recoverable(digest, hasher=None)  # r || s || y parity
        r, s, y_parity = signature[:32], signature[32:64], signature[64]
        fields += [y_parity, int.from_bytes(r, "big"), int.from_bytes(s, "big")]
        encoded: bytes = rlp.encode(fields)
        return DYNAMIC_FEE_TX + encoded
