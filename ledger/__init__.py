"""Permissioned e-signature and evidence ledger (SM2/SM3/SM4 signatures, EVM anchoring, IPFS)."""

from ledger._recursion import cap_recursion_limit

__version__ = "0.1.0"

cap_recursion_limit()
