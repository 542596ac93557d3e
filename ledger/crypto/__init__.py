"""National cryptography (GB/T SM2, SM3, SM4) for the ledger.

* :mod:`~ledger.crypto.sm2`: signatures and encryption, via the system OpenSSL 3 (``ctypes``).
* :mod:`~ledger.crypto.sm3`: hashing, via ``cryptography``.
* :mod:`~ledger.crypto.sm4`: SM4-GCM authenticated encryption, via ``cryptography``.
* :mod:`~ledger.crypto.keystore`: password-encrypted SM2 private keys on disk.
"""

from __future__ import annotations

from ledger.crypto import sm4
from ledger.crypto.errors import (
    CryptoError,
    DecryptionError,
    InvalidSignature,
    KeyFormatError,
    KeystoreError,
    OpenSSLError,
)
from ledger.crypto.keystore import Keystore, decrypt_key, encrypt_key
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey, SM2PublicKey
from ledger.crypto.sm3 import SM3Hasher, sm3

__all__ = [
    "DEFAULT_DISTID",
    "CryptoError",
    "DecryptionError",
    "InvalidSignature",
    "KeyFormatError",
    "Keystore",
    "KeystoreError",
    "OpenSSLError",
    "SM2PrivateKey",
    "SM2PublicKey",
    "SM3Hasher",
    "decrypt_key",
    "encrypt_key",
    "sm3",
    "sm4",
]
