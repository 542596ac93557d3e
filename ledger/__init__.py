"""Permissioned e-signature and evidence ledger (SM2/SM3/SM4 signatures, EVM anchoring, IPFS)."""

__version__ = "0.1.0"
