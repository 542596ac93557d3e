"""Offline decoding of a signed EVM transaction (hash, sender, target, call data, chain ID,
nonce and fees), and the fees a new or replacement transaction offers."""

from __future__ import annotations

from dataclasses import dataclass

import rlp
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from ledger.chain.errors import ChainError

#: The EIP-2718 type byte of an EIP-1559 (dynamic fee) transaction.
DYNAMIC_FEE_TX = b"\x02"


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


#: A replacement must raise both fees by at least 10% over the transaction it replaces (geth's
#: default ``txpool.pricebump``; Besu and Nethermind ask the same or less): we raise by 12.5%.
REPLACEMENT_BUMP = (9, 8)


@dataclass(frozen=True)
class Fees:
    """The nonce and fees of a signed transaction; a legacy one's ``gasPrice`` is both fees."""

    nonce: int
    max_priority_fee: int
    max_fee: int


def fees_of(raw: bytes) -> Fees:
    """The nonce and fees of a signed EIP-1559 or legacy transaction."""
    try:
        if raw[:1] == DYNAMIC_FEE_TX:  # chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, ...
            fields = rlp.decode(raw[1:])
            nonce, priority, max_fee = (int.from_bytes(f, "big") for f in fields[1:4])
            return Fees(nonce=nonce, max_priority_fee=priority, max_fee=max_fee)
        if raw and raw[0] >= 0xC0:  # legacy: nonce, gasPrice, ...
            fields = rlp.decode(raw)
            nonce, price = (int.from_bytes(f, "big") for f in fields[:2])
            return Fees(nonce=nonce, max_priority_fee=price, max_fee=price)
    except (rlp.exceptions.DecodingError, TypeError, IndexError) as exc:
        raise TransactionDecodeError(f"not a signed transaction: {exc}") from exc
    raise TransactionDecodeError("not an EIP-1559 or legacy transaction")


def bumped(fee: int) -> int:
    """The least fee a replacement of a transaction paying ``fee`` offers: 12.5% more, rounded
    up, and at least one more (geth refuses a replacement that does not raise both fees)."""
    numerator, denominator = REPLACEMENT_BUMP
    return max(fee + 1, -(-fee * numerator // denominator))


def dynamic_fees(*, priority: int, base_fee: int, replaces: Fees | None) -> tuple[int, int]:
    """``(maxPriorityFeePerGas, maxFeePerGas)`` as web3 sets them: the node's priority fee, and
    that + 2 x the latest base fee; for a replacement of ``replaces``, at least :func:`bumped`
    of each of its fees."""
    max_fee = priority + 2 * base_fee
    if replaces is not None:
        priority = max(priority, bumped(replaces.max_priority_fee))
        max_fee = max(max_fee, bumped(replaces.max_fee), priority)
    return priority, max_fee


def legacy_gas_price(*, gas_price: int, replaces: Fees | None) -> int:
    """The ``gasPrice`` of a legacy transaction: the node's, or for a replacement of
    ``replaces`` at least :func:`bumped` of its price."""
    return gas_price if replaces is None else max(gas_price, bumped(replaces.max_fee))
