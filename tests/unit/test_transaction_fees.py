"""Nonce and fees of signed transactions, and the least fees a replacement offers."""

from __future__ import annotations

import pytest
from eth_account import Account

from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.chain.transaction import Fees, TransactionDecodeError, bumped, fees_of

TO = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _signed(**fields: int) -> bytes:
    tx = {"chainId": 31337, "to": TO, "value": 0, "data": b"\x01", "gas": 50_000, **fields}
    return bytes(Account.from_key(DEV_PRIVATE_KEY).sign_transaction(tx).raw_transaction)


def test_fees_of_dynamic_fee_and_legacy_transactions() -> None:
    dynamic = _signed(nonce=7, maxPriorityFeePerGas=1_000_000_000, maxFeePerGas=3_000_000_001)
    assert fees_of(dynamic) == Fees(nonce=7, max_priority_fee=1_000_000_000, max_fee=3_000_000_001)
    legacy = _signed(nonce=0, gasPrice=20_000_000_000)
    assert fees_of(legacy) == Fees(nonce=0, max_priority_fee=20_000_000_000, max_fee=20_000_000_000)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", "^not an EIP-1559 or legacy transaction$"),
        (b"\x01\xc0", "^not an EIP-1559 or legacy transaction$"),  # EIP-2930: not ours
        (b"\x02\x81", "^not a signed transaction: "),
        (b"\xf8", "^not a signed transaction: "),
    ],
)
def test_fees_of_refuses_what_is_not_a_transaction(raw: bytes, error: str) -> None:
    with pytest.raises(TransactionDecodeError, match=error):
        fees_of(raw)


@pytest.mark.parametrize(
    ("fee", "least"), [(0, 1), (1, 2), (8, 9), (100, 113), (3_000_000_001, 3_375_000_002)]
)
def test_a_replacement_raises_a_fee_by_an_eighth_rounded_up_and_at_least_one(
    fee: int, least: int
) -> None:
    assert bumped(fee) == least
    assert bumped(fee) * 10 >= fee * 11  # geth's 10% rule
    assert bumped(fee) > fee
