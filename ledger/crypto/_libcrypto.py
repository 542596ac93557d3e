"""Private ctypes binding to the system OpenSSL 3 ``libcrypto.so.3``, for SM2 only.

Why this is hand-written rather than a dependency:

* ``cryptography`` (our crypto library, used for SM3 and SM4) refuses the SM2 curve: it exposes
  neither curve OID 1.2.156.10197.1.301 nor the GB/T 32918 signature (the Z_A hash over a
  distinguishing ID) nor SM2 encryption.
* No maintained Python library exposes OpenSSL's SM2. The pure-Python SM2 packages run at 1-8 % of
  OpenSSL's speed and have shipped correctness bugs, which a signing ledger cannot accept.
* OpenSSL 3.0's libcrypto, present on every Debian/Ubuntu host, implements GB/T 32918 in C. A
  small binding over a couple of dozen stable public EVP functions is the least code that gets
  us that, and :class:`ctypes.CDLL` releases the GIL around each call, so threads scale across
  cores.

Rules kept in this module: ``argtypes``/``restype`` are declared for every function; every return
code is checked; every OpenSSL object is freed in a ``finally`` (keys by a finalizer); every
failure drains the thread's OpenSSL error queue into a typed :mod:`ledger.crypto.errors` error.
The distinguishing ID is always set explicitly: OpenSSL 3.0's default SM2 ID is *empty*, which
interoperates with nothing that follows GB/T 35276 (default ``1234567812345678``).

The C functions, the library loading and the error queue are in :mod:`ledger.crypto._openssl`;
this module owns keys and runs the operations. Nothing here is public API: use
:mod:`ledger.crypto.sm2`.
"""

from __future__ import annotations

import ctypes
import weakref
from collections.abc import Callable
from ctypes import byref, c_char_p, c_size_t, c_void_p, create_string_buffer
from typing import Any

from ledger.crypto import _openssl as ossl
from ledger.crypto.errors import (
    CryptoError,
    DecryptionError,
    KeyFormatError,
    OpenSSLError,
)

_SM2_GROUP = b"SM2"
_RAW_PUBLIC_SIZE = 65  # 04 || x || y


# --- key ownership --------------------------------------------------------------------------
class PKey:
    """Owns one ``EVP_PKEY *``, freed exactly once when this wrapper is garbage collected.

    The key is only read after construction, which OpenSSL 3 allows from many threads at once;
    every operation creates (and frees) its own per-call contexts.
    """

    __slots__ = ("__weakref__", "_finalizer", "ptr")

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr
        self._finalizer = weakref.finalize(self, ossl.EVP_PKEY_free, ptr)
        # Leaking a few keys at interpreter exit beats racing OpenSSL's own atexit cleanup.
        self._finalizer.atexit = False

    def free(self) -> None:
        self._finalizer()


def _adopt_sm2(ptr: int | None, *, private: bool, what: str) -> PKey:
    """Wrap a freshly loaded ``EVP_PKEY *`` and insist it is a valid key on the SM2 curve."""
    if not ptr:
        raise ossl.error(KeyFormatError, f"{what}: not a readable key")
    key = PKey(ptr)
    try:
        # is_a("SM2") matters: an "EC" key on another curve would sign with ECDSA, silently.
        if ossl.EVP_PKEY_is_a(ptr, b"SM2") != 1:
            ossl.ERR_clear_error()
            raise KeyFormatError(f"{what}: not an SM2 key")
        group = create_string_buffer(64)
        group_len = c_size_t(0)
        if (
            ossl.EVP_PKEY_get_utf8_string_param(ptr, b"group", group, len(group), byref(group_len))
            != 1
            or group.value != _SM2_GROUP
        ):
            ossl.ERR_clear_error()
            raise KeyFormatError(f"{what}: key is not on the SM2 curve")
        ctx = ossl.EVP_PKEY_CTX_new(ptr, None)
        if not ctx:
            raise ossl.error(OpenSSLError, "EVP_PKEY_CTX_new")
        try:
            # Private: scalar range and pairwise consistency. Public: the "quick" check (point
            # on the curve, coordinates in range, not O) is the whole of SEC 1 v2 §3.2.2.1 for
            # SM2: the curve's cofactor is 1, so every such point has order n, and the full
            # check's extra n*Q == O scalar multiplication (~0.3 ms, half a signature check)
            # proves nothing more.
            check = ossl.EVP_PKEY_check if private else ossl.EVP_PKEY_public_check_quick
            if check(ctx) != 1:
                raise ossl.error(KeyFormatError, f"{what}: key fails validation")
        finally:
            ossl.EVP_PKEY_CTX_free(ctx)
    except BaseException:
        key.free()
        raise
    return key


def _mem_bio(data: bytes) -> int:
    if len(data) > 0x7FFFFFFF:
        raise KeyFormatError("key data too large")
    bio = ossl.BIO_new_mem_buf(data, len(data))
    if not bio:
        raise ossl.error(OpenSSLError, "BIO_new_mem_buf")
    return int(bio)


def _read_pem(reader: Callable[..., Any], data: bytes) -> int | None:
    """Run a ``PEM_read_bio_*`` reader over ``data`` (an encrypted key is refused, not
    prompted for)."""
    bio = _mem_bio(data)
    try:
        ptr: int | None = reader(bio, None, ossl.NO_PASSWORD, None)
    finally:
        ossl.BIO_free(bio)
    return ptr


def load_private_pem(data: bytes) -> PKey:
    if b"ENCRYPTED" in data:
        raise KeyFormatError("encrypted PEM private keys are not supported; use the keystore")
    ptr = _read_pem(ossl.PEM_read_bio_PrivateKey, data)
    return _adopt_sm2(ptr, private=True, what="PEM private key")


def _d2i(function: Callable[..., Any], data: bytes, what: str) -> int | None:
    """Run a ``d2i_*`` decoder over a private copy of ``data``; refuse trailing bytes."""
    buf = create_string_buffer(data, len(data))
    start = ctypes.addressof(buf)
    cursor = c_char_p(start)
    ptr: int | None = function(None, byref(cursor), len(data))
    if ptr:
        consumed = (ctypes.cast(cursor, c_void_p).value or start) - start
        if consumed != len(data):
            ossl.EVP_PKEY_free(ptr)
            raise KeyFormatError(f"{what}: {len(data) - consumed} trailing bytes after the key")
    return ptr


def load_private_der(data: bytes) -> PKey:
    ptr = _d2i(ossl.d2i_AutoPrivateKey, data, "DER private key")
    return _adopt_sm2(ptr, private=True, what="DER private key")


def load_public_pem(data: bytes) -> PKey:
    ptr = _read_pem(ossl.PEM_read_bio_PUBKEY, data)
    return _adopt_sm2(ptr, private=False, what="PEM public key")


def load_public_der(data: bytes) -> PKey:
    ptr = _d2i(ossl.d2i_PUBKEY, data, "DER public key")
    return _adopt_sm2(ptr, private=False, what="DER public key")


def load_public_raw(raw: bytes) -> PKey:
    """An SM2 public key from its uncompressed point ``04 || x || y``, built from parameters
    (``EVP_PKEY_fromdata``, group ``SM2``): a tenth of the cost of decoding the same key as DER
    through OpenSSL 3.0's decoder framework (~80 us against ~320 us here), and a service parses
    a key from every request. Validated as every loaded key is (:func:`_adopt_sm2`); the
    shape of ``raw`` (65 bytes, ``04`` first) is :mod:`ledger.crypto.sm2`'s to check, as its
    callers do before calling."""
    ctx = ossl.EVP_PKEY_CTX_new_from_name(None, _SM2_GROUP, None)
    if not ctx:
        raise ossl.error(OpenSSLError, "EVP_PKEY_CTX_new_from_name(SM2)")
    group = create_string_buffer(_SM2_GROUP, len(_SM2_GROUP))
    point = create_string_buffer(raw, len(raw))
    params = (ossl.OSSL_PARAM * 3)(
        ossl.OSSL_PARAM(
            b"group", ossl.OSSL_PARAM_UTF8_STRING, ctypes.addressof(group), len(_SM2_GROUP), 0
        ),
        ossl.OSSL_PARAM(b"pub", ossl.OSSL_PARAM_OCTET_STRING, ctypes.addressof(point), len(raw), 0),
        ossl.OSSL_PARAM(None, 0, None, 0, 0),
    )
    out = c_void_p()
    try:
        if ossl.EVP_PKEY_fromdata_init(ctx) != 1:
            raise ossl.error(OpenSSLError, "EVP_PKEY_fromdata_init")
        if ossl.EVP_PKEY_fromdata(ctx, byref(out), ossl.EVP_PKEY_PUBLIC_KEY, params) != 1:
            out = c_void_p()  # not a point of the curve: refused below with OpenSSL's reason
    finally:
        ossl.EVP_PKEY_CTX_free(ctx)
    return _adopt_sm2(out.value, private=False, what="raw public key")


def generate_sm2() -> PKey:
    ctx = ossl.EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        raise ossl.error(OpenSSLError, "EVP_PKEY_CTX_new_from_name(SM2)")
    try:
        if ossl.EVP_PKEY_keygen_init(ctx) != 1:
            raise ossl.error(OpenSSLError, "EVP_PKEY_keygen_init")
        out = c_void_p()
        if ossl.EVP_PKEY_generate(ctx, byref(out)) != 1 or not out.value:
            raise ossl.error(OpenSSLError, "EVP_PKEY_generate(SM2)")
    finally:
        ossl.EVP_PKEY_CTX_free(ctx)
    return PKey(out.value)


def private_to_der(key: PKey) -> bytes:
    """Unencrypted PKCS#8 ``PrivateKeyInfo`` DER."""
    bio = ossl.BIO_new(ossl.BIO_s_mem())
    if not bio:
        raise ossl.error(OpenSSLError, "BIO_new")
    try:
        if ossl.i2d_PKCS8PrivateKey_bio(bio, key.ptr, None, None, 0, None, None) != 1:
            raise ossl.error(OpenSSLError, "i2d_PKCS8PrivateKey_bio")
        data = c_void_p()
        size = ossl.BIO_ctrl(bio, ossl.BIO_CTRL_INFO, 0, byref(data))
        if size <= 0 or not data.value:
            raise ossl.error(OpenSSLError, "BIO_get_mem_data")
        return ctypes.string_at(data.value, size)
    finally:
        ossl.BIO_free(bio)


def public_to_der(key: PKey) -> bytes:
    """``SubjectPublicKeyInfo`` DER."""
    size = ossl.i2d_PUBKEY(key.ptr, None)
    if size <= 0:
        raise ossl.error(OpenSSLError, "i2d_PUBKEY")
    buf = create_string_buffer(size)
    cursor = c_void_p(ctypes.addressof(buf))
    if ossl.i2d_PUBKEY(key.ptr, byref(cursor)) != size:
        raise ossl.error(OpenSSLError, "i2d_PUBKEY")
    return buf.raw


def public_raw(key: PKey) -> bytes:
    """The public point as it is encoded in the key (uncompressed ``04||x||y`` when so stored)."""
    buf = create_string_buffer(_RAW_PUBLIC_SIZE + 8)
    size = c_size_t(0)
    if (
        ossl.EVP_PKEY_get_octet_string_param(
            key.ptr, b"encoded-pub-key", buf, len(buf), byref(size)
        )
        != 1
    ):
        raise ossl.error(OpenSSLError, "EVP_PKEY_get_octet_string_param(encoded-pub-key)")
    return buf.raw[: size.value]


def max_signature_size(key: PKey) -> int:
    size = ossl.EVP_PKEY_get_size(key.ptr)
    if size <= 0:
        raise ossl.error(OpenSSLError, "EVP_PKEY_get_size")
    return int(size)


# --- the hot paths --------------------------------------------------------------------------
def _digest_init(mctx: int, init: Callable[..., int], name: str, key: PKey, distid: bytes) -> None:
    """Initialise the MD context ``mctx`` for an SM3 signature or verification (``init``:
    ``EVP_DigestSignInit`` / ``EVP_DigestVerifyInit``, which creates the PKEY_CTX the MD context
    owns), then set the distinguishing ID on that PKEY_CTX (Z_A is computed lazily at the first
    update, so setting it after init is what OpenSSL expects)."""
    pctx = c_void_p()
    if init(mctx, byref(pctx), ossl.SM3_MD, None, key.ptr) != 1:
        raise ossl.error(OpenSSLError, name)
    if ossl.EVP_PKEY_CTX_set1_id(pctx, distid, len(distid)) != 1:
        raise ossl.error(OpenSSLError, "EVP_PKEY_CTX_set1_id")


def sign(key: PKey, distid: bytes, message: bytes, max_size: int) -> bytes:
    """GB/T 32918.2 signature over ``message`` (Z_A over ``distid``, SM3); DER ``SEQUENCE{r,s}``.

    Five foreign calls: new MD context, init, set the ID, one-shot sign, free.
    """
    mctx = ossl.EVP_MD_CTX_new()
    if not mctx:
        raise ossl.error(OpenSSLError, "EVP_MD_CTX_new")
    try:
        _digest_init(mctx, ossl.EVP_DigestSignInit, "EVP_DigestSignInit", key, distid)
        out = create_string_buffer(max_size)
        size = c_size_t(max_size)
        if ossl.EVP_DigestSign(mctx, out, byref(size), message, len(message)) != 1:
            raise ossl.error(OpenSSLError, "EVP_DigestSign")
        return out.raw[: size.value]
    finally:
        ossl.EVP_MD_CTX_free(mctx)


def verify(key: PKey, distid: bytes, signature: bytes, message: bytes) -> bool:
    """True iff ``signature`` is a valid strict-DER SM2 signature of ``message`` under ``distid``.

    OpenSSL re-encodes the parsed (r, s) and compares it with the input, so non-canonical DER,
    trailing bytes and garbage all come back as False rather than as an error.
    """
    mctx = ossl.EVP_MD_CTX_new()
    if not mctx:
        raise ossl.error(OpenSSLError, "EVP_MD_CTX_new")
    try:
        _digest_init(mctx, ossl.EVP_DigestVerifyInit, "EVP_DigestVerifyInit", key, distid)
        ok: bool = (
            ossl.EVP_DigestVerify(mctx, signature, len(signature), message, len(message)) == 1
        )
        if not ok:
            ossl.ERR_clear_error()  # a bad signature leaves entries we must not let pile up
        return ok
    finally:
        ossl.EVP_MD_CTX_free(mctx)


def _pkey_crypt(key: PKey, data: bytes, *, encrypt: bool) -> bytes:
    """GB/T 32918.4 encryption / decryption, ASN.1 ``SEQUENCE{x, y, C3 hash, C2}`` (C1C3C2)."""
    init = ossl.EVP_PKEY_encrypt_init if encrypt else ossl.EVP_PKEY_decrypt_init
    crypt = ossl.EVP_PKEY_encrypt if encrypt else ossl.EVP_PKEY_decrypt
    name = "EVP_PKEY_encrypt" if encrypt else "EVP_PKEY_decrypt"
    failure: type[CryptoError] = OpenSSLError if encrypt else DecryptionError
    ctx = ossl.EVP_PKEY_CTX_new(key.ptr, None)
    if not ctx:
        raise ossl.error(OpenSSLError, "EVP_PKEY_CTX_new")
    try:
        if init(ctx) != 1:
            raise ossl.error(OpenSSLError, f"{name}_init")
        size = c_size_t(0)
        if crypt(ctx, None, byref(size), data, len(data)) != 1 or size.value == 0:
            raise ossl.error(failure, name)
        out = create_string_buffer(size.value)
        if crypt(ctx, out, byref(size), data, len(data)) != 1:
            raise ossl.error(failure, name)
        return out.raw[: size.value]
    finally:
        ossl.EVP_PKEY_CTX_free(ctx)


def encrypt(key: PKey, plaintext: bytes) -> bytes:
    return _pkey_crypt(key, plaintext, encrypt=True)


def decrypt(key: PKey, ciphertext: bytes) -> bytes:
    return _pkey_crypt(key, ciphertext, encrypt=False)
