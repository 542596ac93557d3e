"""Errors raised on purpose by :mod:`ledger.crypto`.

Everything derives from :class:`CryptoError`, itself a :class:`~ledger.errors.LedgerError`, so the
CLI and the HTTP API can translate any of them once.
"""

from __future__ import annotations

from ledger.errors import LedgerError


class CryptoError(LedgerError):
    """Root of the errors raised by the national-crypto layer."""


class InvalidSignature(CryptoError):
    """A signature does not verify: wrong key, message or ID, or it is not a well-formed DER."""


class KeyFormatError(CryptoError):
    """Key material could not be parsed, is not an SM2 key, or is not a valid point/scalar."""


class DecryptionError(CryptoError):
    """A ciphertext was tampered with, truncated, or decrypted with the wrong key."""


class KeystoreError(CryptoError):
    """A keystore entry is missing, corrupt, of an unknown version, or the password is wrong."""


class OpenSSLError(CryptoError):
    """libcrypto reported an unexpected failure; the message carries its error queue."""
