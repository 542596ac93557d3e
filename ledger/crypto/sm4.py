"""SM4-GCM (GB/T 32907 block cipher in GCM mode, RFC 8998) authenticated encryption.

Blob format: ``nonce (12) || ciphertext || tag (16)``; a fresh random nonce per call. With random
96-bit nonces keep well under 2**32 encryptions per key.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ledger.crypto.errors import DecryptionError

__all__ = ["KEY_SIZE", "NONCE_SIZE", "TAG_SIZE", "decrypt", "encrypt", "generate_key"]

KEY_SIZE: Final = 16
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16


def generate_key() -> bytes:
    """A fresh random 128-bit SM4 key."""
    return os.urandom(KEY_SIZE)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray | memoryview) or len(key) != KEY_SIZE:
        raise ValueError(f"an SM4 key is {KEY_SIZE} bytes")


def encrypt_with_nonce(key: bytes, nonce: bytes, plaintext: bytes, *, aad: bytes = b"") -> bytes:
    """``ciphertext || tag`` under an explicit nonce. Never reuse a nonce with the same key:
    this exists for known-answer tests; use :func:`encrypt`."""
    _check_key(key)
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"an SM4-GCM nonce is {NONCE_SIZE} bytes")
    encryptor = Cipher(algorithms.SM4(bytes(key)), modes.GCM(bytes(nonce))).encryptor()
    if aad:
        encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return body + encryptor.tag


def encrypt(key: bytes, plaintext: bytes, *, aad: bytes = b"") -> bytes:
    """``nonce || ciphertext || tag`` with a fresh random nonce; ``aad`` is authenticated only."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + encrypt_with_nonce(key, nonce, plaintext, aad=aad)


def decrypt(key: bytes, blob: bytes, *, aad: bytes = b"") -> bytes:
    """Inverse of :func:`encrypt`; raises :class:`DecryptionError` on any tampering, a wrong
    key or wrong ``aad``, or a truncated blob."""
    _check_key(key)
    if len(blob) < NONCE_SIZE + TAG_SIZE:
        raise DecryptionError("SM4-GCM blob is too short")
    view = memoryview(blob)
    nonce = bytes(view[:NONCE_SIZE])
    body = view[NONCE_SIZE:-TAG_SIZE]
    tag = bytes(view[-TAG_SIZE:])
    decryptor = Cipher(algorithms.SM4(bytes(key)), modes.GCM(nonce, tag)).decryptor()
    if aad:
        decryptor.authenticate_additional_data(aad)
    plaintext = decryptor.update(body)
    try:
        return plaintext + decryptor.finalize()
    except InvalidTag:
        raise DecryptionError("SM4-GCM authentication failed: tampered data or wrong key") from None
