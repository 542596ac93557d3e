"""The customer side of consent: a wallet holding the customer's SM2 key that signs grants,
revocations and per-use authorizations (:class:`CustomerWallet`), and the signed documents it
hands to any member's service (:mod:`ledger.customer.documents`)."""

from ledger.customer.documents import (
    ConsentDomain,
    SignedGrant,
    SignedRevocation,
    SignedUse,
    parse,
    to_bytes,
)
from ledger.customer.errors import CustomerError, DocumentError, WalletError
from ledger.customer.wallet import CustomerWallet, read_wallet_public_key

__all__ = [
    "ConsentDomain",
    "CustomerError",
    "CustomerWallet",
    "DocumentError",
    "SignedGrant",
    "SignedRevocation",
    "SignedUse",
    "WalletError",
    "parse",
    "read_wallet_public_key",
    "to_bytes",
]
