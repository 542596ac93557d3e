"""SM2 (GB/T 32918) signatures and public-key encryption, backed by the system OpenSSL 3.

* Signatures are GB/T 32918.2 over ``SM3(Z_A || M)``, where ``Z_A`` hashes the signer's
  distinguishing ID and public key; the ID defaults to ``1234567812345678`` (GB/T 35276) and is
  always set explicitly, never OpenSSL 3.0's empty default. Signatures are DER ``SEQUENCE{r, s}``.
* Encryption is GB/T 32918.4 with SM3, in the ASN.1 ``C1C3C2`` form OpenSSL and GM/T 0009 use.

Key objects are immutable and safe to share between threads: each operation creates and frees its
own OpenSSL contexts, and libcrypto runs without the GIL, so signing threads use every core.
"""

from __future__ import annotations

import base64
import functools
import re
from typing import Final, TypeAlias

from ledger._ids import DEFAULT_DISTID as DEFAULT_DISTID  # re-exported: the SM2 default
from ledger.crypto import _libcrypto
from ledger.crypto.errors import InvalidSignature, KeyFormatError
from ledger.crypto.sm3 import sm3

__all__ = ["DEFAULT_DISTID", "RAW_PUBLIC_KEY_SIZE", "BytesLike", "SM2PrivateKey", "SM2PublicKey"]

BytesLike: TypeAlias = bytes | bytearray | memoryview


_MAX_DISTID = 8190  # ENTL_A is the bit length on 2 bytes; OpenSSL wants len < 65535 // 8
RAW_PUBLIC_KEY_SIZE: Final = 65

# SubjectPublicKeyInfo up to the point: SEQUENCE{SEQUENCE{id-ecPublicKey, sm2p256v1}, BIT STRING}
_SPKI_PREFIX: Final = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def _check_distid(distid: BytesLike) -> bytes:
    if not isinstance(distid, bytes | bytearray | memoryview):
        raise TypeError("distid must be bytes")
    distid = bytes(distid)
    if not distid:
        # OpenSSL 3.0 would quietly use an empty ID, which interoperates with nothing.
        raise ValueError("the SM2 distinguishing ID must not be empty")
    if len(distid) > _MAX_DISTID:
        raise ValueError(f"the SM2 distinguishing ID is limited to {_MAX_DISTID} bytes")
    return distid


def _as_bytes(data: BytesLike, name: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"{name} must be bytes, not {type(data).__name__}")


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join(
        [f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""]
    )


class SM2PublicKey:
    """An SM2 public key (a validated point on the SM2 curve)."""

    __slots__ = ("_fingerprint", "_key", "_raw")

    def __init__(self, _key: _libcrypto.PKey, _raw: bytes) -> None:
        # Private: use from_raw / from_der / from_pem or SM2PrivateKey.public_key().
        self._key = _key
        self._raw = _raw
        self._fingerprint: bytes | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def _canonical(cls, loaded: _libcrypto.PKey) -> SM2PublicKey:
        """Re-encode any accepted encoding (e.g. a compressed point) as the uncompressed SPKI."""
        raw = _libcrypto.public_raw(loaded)
        if len(raw) != RAW_PUBLIC_KEY_SIZE or raw[0] != 0x04:
            raise KeyFormatError("SM2 public key is not an uncompressed point")
        if _libcrypto.public_to_der(loaded) == _SPKI_PREFIX + raw:
            return cls(loaded, raw)
        return cls(_libcrypto.load_public_raw(raw), raw)

    @classmethod
    def from_raw(cls, data: BytesLike) -> SM2PublicKey:
        """From the 65-byte uncompressed point ``04 || x || y``; the point must be on the curve."""
        data = _as_bytes(data, "data")
        if len(data) != RAW_PUBLIC_KEY_SIZE or data[0] != 0x04:
            raise KeyFormatError(
                f"a raw SM2 public key is 65 bytes starting with 04, got {len(data)} bytes"
            )
        return _public_key_from_raw(data)

    @classmethod
    def from_der(cls, data: BytesLike) -> SM2PublicKey:
        """From a DER ``SubjectPublicKeyInfo`` (id-ecPublicKey, curve 1.2.156.10197.1.301)."""
        return cls._canonical(_libcrypto.load_public_der(_as_bytes(data, "data")))

    @classmethod
    def from_pem(cls, data: BytesLike) -> SM2PublicKey:
        """From a ``-----BEGIN PUBLIC KEY-----`` PEM (as ``openssl pkey -pubout`` writes)."""
        return cls._canonical(_libcrypto.load_public_pem(_as_bytes(data, "data")))

    # -- encodings ---------------------------------------------------------------------------
    def to_raw(self) -> bytes:
        """The 65-byte uncompressed point ``04 || x || y``."""
        return self._raw

    def to_der(self) -> bytes:
        return _SPKI_PREFIX + self._raw

    def to_pem(self) -> bytes:
        return _pem("PUBLIC KEY", self.to_der())

    def fingerprint(self) -> bytes:
        """SM3 of :meth:`to_raw`: 32 bytes identifying the key."""
        if self._fingerprint is None:
            self._fingerprint = sm3(self._raw)  # immutable key: computed once
        return self._fingerprint

    # -- operations --------------------------------------------------------------------------
    def verify(
        self, signature: BytesLike, message: BytesLike, *, distid: BytesLike = DEFAULT_DISTID
    ) -> None:
        """Return if ``signature`` signs ``message`` under this key and ``distid``.

        Raises :class:`InvalidSignature` on any mismatch, including a malformed or non-DER
        signature.
        """
        signature = _as_bytes(signature, "signature")
        message = _as_bytes(message, "message")
        if not _libcrypto.verify(self._key, _check_distid(distid), signature, message):
            raise InvalidSignature("SM2 signature does not verify")

    def encrypt(self, plaintext: BytesLike) -> bytes:
        """GB/T 32918.4 encryption (SM3), ASN.1 C1C3C2; ``plaintext`` must not be empty."""
        plaintext = _as_bytes(plaintext, "plaintext")
        if not plaintext:
            raise ValueError("SM2 cannot encrypt an empty plaintext")
        return _libcrypto.encrypt(self._key, plaintext)

    # -- value semantics ---------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SM2PublicKey):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash((SM2PublicKey, self._raw))

    def __repr__(self) -> str:
        return f"SM2PublicKey(sm3:{self.fingerprint().hex()[:16]}...)"


class SM2PrivateKey:
    """An SM2 private key. ``repr`` never shows key material."""

    __slots__ = ("_key", "_max_sig", "_public")

    def __init__(self, _key: _libcrypto.PKey) -> None:
        # Private: use generate(), from_pem() or from_der().
        self._key = _key
        self._max_sig = _libcrypto.max_signature_size(_key)
        raw = _libcrypto.public_raw(_key)
        if len(raw) != RAW_PUBLIC_KEY_SIZE or raw[0] != 0x04:
            raise KeyFormatError("SM2 private key carries a malformed public point")
        self._public = SM2PublicKey(_libcrypto.load_public_raw(raw), raw)

    @classmethod
    def generate(cls) -> SM2PrivateKey:
        return cls(_libcrypto.generate_sm2())

    @classmethod
    def from_pem(cls, data: BytesLike) -> SM2PrivateKey:
        """From an unencrypted PEM private key.

        Accepts PKCS#8 ``PRIVATE KEY`` (``openssl genpkey -algorithm SM2``), the same preceded by
        ``SM2 PARAMETERS`` (``openssl ecparam -name SM2 -genkey``), and SEC1 ``SM2/EC PRIVATE
        KEY``; rejects keys on any other curve or algorithm, and encrypted PEM.
        """
        data = _as_bytes(data, "data")
        if not _PEM_BLOCK.search(data):
            raise KeyFormatError("not a PEM document")
        return cls(_libcrypto.load_private_pem(data))

    @classmethod
    def from_der(cls, data: BytesLike) -> SM2PrivateKey:
        """From an unencrypted PKCS#8 ``PrivateKeyInfo`` (or SEC1 ``ECPrivateKey``) DER."""
        return cls(_libcrypto.load_private_der(_as_bytes(data, "data")))

    def to_der(self) -> bytes:
        """Unencrypted PKCS#8 DER. Handle with care: this is the secret."""
        return _libcrypto.private_to_der(self._key)

    def to_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM (``BEGIN PRIVATE KEY``). Handle with care: this is the secret."""
        return _pem("PRIVATE KEY", self.to_der())

    def public_key(self) -> SM2PublicKey:
        return self._public

    def sign(self, message: BytesLike, *, distid: BytesLike = DEFAULT_DISTID) -> bytes:
        """GB/T 32918.2 signature of ``message``: DER ``SEQUENCE{r, s}`` (at most 72 bytes)."""
        message = _as_bytes(message, "message")
        return _libcrypto.sign(self._key, _check_distid(distid), message, self._max_sig)

    def decrypt(self, ciphertext: BytesLike) -> bytes:
        """GB/T 32918.4 decryption of an ASN.1 C1C3C2 ciphertext; DecryptionError if bad."""
        return _libcrypto.decrypt(self._key, _as_bytes(ciphertext, "ciphertext"))

    def __repr__(self) -> str:
        return f"SM2PrivateKey(public=sm3:{self._public.fingerprint().hex()[:16]}...)"


@functools.lru_cache(maxsize=8192)
def _public_key_from_raw(raw: bytes) -> SM2PublicKey:
    """Parsed keys, shared: a service sees the same keys again and again (a broker signs every
    agreement). Keys are immutable, so sharing one object is safe; a bad point raises and is not
    cached."""
    return SM2PublicKey(_libcrypto.load_public_raw(raw), raw)
