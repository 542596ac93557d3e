"""Offline decoding of a signed EVM transaction: hash, sender, target, call data, chain ID."""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from ledger.chain.errors import ChainError


class TransactionDecodeError(ChainError):
    """The bytes are not a signed transaction this client understands."""


@dataclass(frozen=True)
class DecodedTransaction:
    tx_hash: bytes
    sender: str
    to: str | None
    data: bytes
    chain_id: int | None


def decode_signed_transaction(raw: bytes) -> DecodedTransaction:
    """Decode legacy (EIP-155) and typed (EIP-2718) transactions and recover the sender."""
    try:
        sender = to_checksum_address(Account.recover_transaction(raw))
        if raw and raw[0] < 0x80:  # typed transaction envelope
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            to_field, data, chain_id = fields.get("to"), fields.get("data", b""), fields["chainId"]
        else:
            items = rlp.decode(raw)
            to_field, data = items[3], items[5]
            v = int.from_bytes(items[6], "big")
            chain_id = (v - 35) // 2 if v >= 35 else None
    except Exception as exc:  # eth-account/rlp raise many unrelated types for bad bytes
        raise TransactionDecodeError(f"not a signed transaction: {exc}") from exc
    to = to_checksum_address(to_field) if to_field else None
    return DecodedTransaction(
        tx_hash=keccak(raw),
        sender=sender,
        to=to,
        data=bytes(data),
        chain_id=int(chain_id) if chain_id is not None else None,
    )
