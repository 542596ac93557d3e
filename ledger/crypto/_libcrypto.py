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

Nothing here is public API: use :mod:`ledger.crypto.sm2`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import weakref
from collections.abc import Callable
from ctypes import (
    CFUNCTYPE,
    POINTER,
    byref,
    c_char_p,
    c_int,
    c_long,
    c_size_t,
    c_ulong,
    c_void_p,
    create_string_buffer,
)
from typing import Any

from ledger.crypto.errors import (
    CryptoError,
    DecryptionError,
    KeyFormatError,
    OpenSSLError,
)

_MIN_VERSION = 0x30000000  # OpenSSL 3.0.0: provider-based SM2 with EVP_PKEY_CTX_set1_id
_BIO_CTRL_INFO = 3  # BIO_get_mem_data(b, pp) is the macro BIO_ctrl(b, BIO_CTRL_INFO, 0, pp)
_SM2_GROUP = b"SM2"
_RAW_PUBLIC_SIZE = 65  # 04 || x || y


def _load() -> ctypes.CDLL:
    names = ["libcrypto.so.3"]
    found = ctypes.util.find_library("crypto")
    if found and found not in names:
        names.append(found)
    problems: list[str] = []
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            problems.append(f"{name}: {exc}")
            continue
        version = lib.OpenSSL_version_num
        version.restype = c_ulong
        version.argtypes = []
        if version() < _MIN_VERSION:
            problems.append(f"{name}: OpenSSL {version():#x} is older than 3.0")
            continue
        return lib
    raise OpenSSLError("cannot load OpenSSL 3 libcrypto for SM2: " + "; ".join(problems))


_lib = _load()


def _fn(name: str, restype: Any, *argtypes: Any) -> Callable[..., Any]:
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_PEM_PASSWORD_CB = CFUNCTYPE(c_int, c_void_p, c_int, c_int, c_void_p)


def _refuse_password(_buf: int | None, _size: int, _rwflag: int, _userdata: int | None) -> int:
    # Encrypted PEM keys are refused instead of letting OpenSSL prompt on the terminal.
    return -1


_NO_PASSWORD = _PEM_PASSWORD_CB(_refuse_password)  # module-level: must outlive every call

# --- errors ---------------------------------------------------------------------------------
_ERR_get_error = _fn("ERR_get_error", c_ulong)
_ERR_error_string_n = _fn("ERR_error_string_n", None, c_ulong, c_char_p, c_size_t)
_ERR_clear_error = _fn("ERR_clear_error", None)

# --- BIO ------------------------------------------------------------------------------------
_BIO_s_mem = _fn("BIO_s_mem", c_void_p)
_BIO_new = _fn("BIO_new", c_void_p, c_void_p)
_BIO_new_mem_buf = _fn("BIO_new_mem_buf", c_void_p, c_char_p, c_int)
_BIO_free = _fn("BIO_free", c_int, c_void_p)
_BIO_ctrl = _fn("BIO_ctrl", c_long, c_void_p, c_int, c_long, c_void_p)

# --- key (de)serialization ------------------------------------------------------------------
_PEM_read_bio_PrivateKey = _fn(
    "PEM_read_bio_PrivateKey", c_void_p, c_void_p, c_void_p, _PEM_PASSWORD_CB, c_void_p
)
_PEM_read_bio_PUBKEY = _fn(
    "PEM_read_bio_PUBKEY", c_void_p, c_void_p, c_void_p, _PEM_PASSWORD_CB, c_void_p
)
_d2i_AutoPrivateKey = _fn("d2i_AutoPrivateKey", c_void_p, c_void_p, POINTER(c_char_p), c_long)
_d2i_PUBKEY = _fn("d2i_PUBKEY", c_void_p, c_void_p, POINTER(c_char_p), c_long)
_i2d_PUBKEY = _fn("i2d_PUBKEY", c_int, c_void_p, POINTER(c_void_p))
_i2d_PKCS8PrivateKey_bio = _fn(
    "i2d_PKCS8PrivateKey_bio",
    c_int,
    c_void_p,  # BIO *
    c_void_p,  # const EVP_PKEY *
    c_void_p,  # const EVP_CIPHER *enc (NULL: unencrypted)
    c_char_p,  # const char *kstr
    c_int,  # int klen
    c_void_p,  # pem_password_cb *cb (NULL: unused without a cipher)
    c_void_p,  # void *u
)

# --- EVP_PKEY -------------------------------------------------------------------------------
_EVP_PKEY_free = _fn("EVP_PKEY_free", None, c_void_p)
_EVP_PKEY_is_a = _fn("EVP_PKEY_is_a", c_int, c_void_p, c_char_p)
_EVP_PKEY_get_size = _fn("EVP_PKEY_get_size", c_int, c_void_p)
_EVP_PKEY_get_utf8_string_param = _fn(
    "EVP_PKEY_get_utf8_string_param",
    c_int,
    c_void_p,
    c_char_p,
    c_char_p,
    c_size_t,
    POINTER(c_size_t),
)
_EVP_PKEY_get_octet_string_param = _fn(
    "EVP_PKEY_get_octet_string_param",
    c_int,
    c_void_p,
    c_char_p,
    c_char_p,
    c_size_t,
    POINTER(c_size_t),
)
_EVP_PKEY_CTX_new = _fn("EVP_PKEY_CTX_new", c_void_p, c_void_p, c_void_p)
_EVP_PKEY_CTX_new_from_name = _fn(
    "EVP_PKEY_CTX_new_from_name", c_void_p, c_void_p, c_char_p, c_char_p
)
_EVP_PKEY_CTX_free = _fn("EVP_PKEY_CTX_free", None, c_void_p)
_EVP_PKEY_keygen_init = _fn("EVP_PKEY_keygen_init", c_int, c_void_p)
_EVP_PKEY_generate = _fn("EVP_PKEY_generate", c_int, c_void_p, POINTER(c_void_p))
_EVP_PKEY_check = _fn("EVP_PKEY_check", c_int, c_void_p)
_EVP_PKEY_public_check = _fn("EVP_PKEY_public_check", c_int, c_void_p)
_EVP_PKEY_encrypt_init = _fn("EVP_PKEY_encrypt_init", c_int, c_void_p)
_EVP_PKEY_encrypt = _fn(
    "EVP_PKEY_encrypt", c_int, c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t
)
_EVP_PKEY_decrypt_init = _fn("EVP_PKEY_decrypt_init", c_int, c_void_p)
_EVP_PKEY_decrypt = _fn(
    "EVP_PKEY_decrypt", c_int, c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t
)

# --- signatures -----------------------------------------------------------------------------
_EVP_sm3 = _fn("EVP_sm3", c_void_p)
_EVP_MD_CTX_new = _fn("EVP_MD_CTX_new", c_void_p)
_EVP_MD_CTX_free = _fn("EVP_MD_CTX_free", None, c_void_p)
_EVP_DigestSignInit = _fn(
    "EVP_DigestSignInit", c_int, c_void_p, POINTER(c_void_p), c_void_p, c_void_p, c_void_p
)
_EVP_DigestVerifyInit = _fn(
    "EVP_DigestVerifyInit", c_int, c_void_p, POINTER(c_void_p), c_void_p, c_void_p, c_void_p
)
_EVP_PKEY_CTX_set1_id = _fn("EVP_PKEY_CTX_set1_id", c_int, c_void_p, c_char_p, c_int)
_EVP_DigestSign = _fn(
    "EVP_DigestSign", c_int, c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t
)
_EVP_DigestVerify = _fn("EVP_DigestVerify", c_int, c_void_p, c_char_p, c_size_t, c_char_p, c_size_t)

_SM3_MD: int = _EVP_sm3()  # a static const EVP_MD *: fetched once, never freed
if not _SM3_MD:
    raise OpenSSLError("this libcrypto has no SM3 digest")


# --- error plumbing -------------------------------------------------------------------------
def drain_errors() -> str:
    """Empty this thread's OpenSSL error queue and return it as one line."""
    messages: list[str] = []
    buf = create_string_buffer(256)
    for _ in range(64):  # the queue holds at most 16 entries; bound the loop anyway
        code = _ERR_get_error()
        if not code:
            break
        _ERR_error_string_n(code, buf, len(buf))
        messages.append(buf.value.decode("ascii", "replace"))
    _ERR_clear_error()
    return "; ".join(messages)


def _error(kind: type[CryptoError], what: str) -> CryptoError:
    detail = drain_errors()
    return kind(f"{what}: {detail}" if detail else what)


# --- key ownership --------------------------------------------------------------------------
class PKey:
    """Owns one ``EVP_PKEY *``, freed exactly once when this wrapper is garbage collected.

    The key is only read after construction, which OpenSSL 3 allows from many threads at once;
    every operation creates (and frees) its own per-call contexts.
    """

    __slots__ = ("__weakref__", "_finalizer", "ptr")

    def __init__(self, ptr: int) -> None:
        self.ptr = ptr
        self._finalizer = weakref.finalize(self, _EVP_PKEY_free, ptr)
        # Leaking a few keys at interpreter exit beats racing OpenSSL's own atexit cleanup.
        self._finalizer.atexit = False

    def free(self) -> None:
        self._finalizer()


def _adopt_sm2(ptr: int | None, *, private: bool, what: str) -> PKey:
    """Wrap a freshly loaded ``EVP_PKEY *`` and insist it is a valid key on the SM2 curve."""
    if not ptr:
        raise _error(KeyFormatError, f"{what}: not a readable key")
    key = PKey(ptr)
    try:
        # is_a("SM2") matters: an "EC" key on another curve would sign with ECDSA, silently.
        if _EVP_PKEY_is_a(ptr, b"SM2") != 1:
            _ERR_clear_error()
            raise KeyFormatError(f"{what}: not an SM2 key")
        group = create_string_buffer(64)
        group_len = c_size_t(0)
        if (
            _EVP_PKEY_get_utf8_string_param(ptr, b"group", group, len(group), byref(group_len)) != 1
            or group.value != _SM2_GROUP
        ):
            _ERR_clear_error()
            raise KeyFormatError(f"{what}: key is not on the SM2 curve")
        ctx = _EVP_PKEY_CTX_new(ptr, None)
        if not ctx:
            raise _error(OpenSSLError, "EVP_PKEY_CTX_new")
        try:
            # Private: scalar range and pairwise consistency; public: point on curve, not O.
            check = _EVP_PKEY_check if private else _EVP_PKEY_public_check
            if check(ctx) != 1:
                raise _error(KeyFormatError, f"{what}: key fails validation")
        finally:
            _EVP_PKEY_CTX_free(ctx)
    except BaseException:
        key.free()
        raise
    return key


def _mem_bio(data: bytes) -> int:
    if len(data) > 0x7FFFFFFF:
        raise KeyFormatError("key data too large")
    bio = _BIO_new_mem_buf(data, len(data))
    if not bio:
        raise _error(OpenSSLError, "BIO_new_mem_buf")
    return bio


def load_private_pem(data: bytes) -> PKey:
    if b"ENCRYPTED" in data:
        raise KeyFormatError("encrypted PEM private keys are not supported; use the keystore")
    bio = _mem_bio(data)
    try:
        ptr = _PEM_read_bio_PrivateKey(bio, None, _NO_PASSWORD, None)
    finally:
        _BIO_free(bio)
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
            _EVP_PKEY_free(ptr)
            raise KeyFormatError(f"{what}: {len(data) - consumed} trailing bytes after the key")
    return ptr


def load_private_der(data: bytes) -> PKey:
    ptr = _d2i(_d2i_AutoPrivateKey, data, "DER private key")
    return _adopt_sm2(ptr, private=True, what="DER private key")


def load_public_pem(data: bytes) -> PKey:
    bio = _mem_bio(data)
    try:
        ptr = _PEM_read_bio_PUBKEY(bio, None, _NO_PASSWORD, None)
    finally:
        _BIO_free(bio)
    return _adopt_sm2(ptr, private=False, what="PEM public key")


def load_public_der(data: bytes) -> PKey:
    ptr = _d2i(_d2i_PUBKEY, data, "DER public key")
    return _adopt_sm2(ptr, private=False, what="DER public key")


def generate_sm2() -> PKey:
    ctx = _EVP_PKEY_CTX_new_from_name(None, b"SM2", None)
    if not ctx:
        raise _error(OpenSSLError, "EVP_PKEY_CTX_new_from_name(SM2)")
    try:
        if _EVP_PKEY_keygen_init(ctx) != 1:
            raise _error(OpenSSLError, "EVP_PKEY_keygen_init")
        out = c_void_p()
        if _EVP_PKEY_generate(ctx, byref(out)) != 1 or not out.value:
            raise _error(OpenSSLError, "EVP_PKEY_generate(SM2)")
    finally:
        _EVP_PKEY_CTX_free(ctx)
    return PKey(out.value)


def private_to_der(key: PKey) -> bytes:
    """Unencrypted PKCS#8 ``PrivateKeyInfo`` DER."""
    bio = _BIO_new(_BIO_s_mem())
    if not bio:
        raise _error(OpenSSLError, "BIO_new")
    try:
        if _i2d_PKCS8PrivateKey_bio(bio, key.ptr, None, None, 0, None, None) != 1:
            raise _error(OpenSSLError, "i2d_PKCS8PrivateKey_bio")
        data = c_void_p()
        size = _BIO_ctrl(bio, _BIO_CTRL_INFO, 0, byref(data))
        if size <= 0 or not data.value:
            raise _error(OpenSSLError, "BIO_get_mem_data")
        return ctypes.string_at(data.value, size)
    finally:
        _BIO_free(bio)


def public_to_der(key: PKey) -> bytes:
    """``SubjectPublicKeyInfo`` DER."""
    size = _i2d_PUBKEY(key.ptr, None)
    if size <= 0:
        raise _error(OpenSSLError, "i2d_PUBKEY")
    buf = create_string_buffer(size)
    cursor = c_void_p(ctypes.addressof(buf))
    if _i2d_PUBKEY(key.ptr, byref(cursor)) != size:
        raise _error(OpenSSLError, "i2d_PUBKEY")
    return buf.raw


def public_raw(key: PKey) -> bytes:
    """The public point as it is encoded in the key (uncompressed ``04||x||y`` when so stored)."""
    buf = create_string_buffer(_RAW_PUBLIC_SIZE + 8)
    size = c_size_t(0)
    if (
        _EVP_PKEY_get_octet_string_param(key.ptr, b"encoded-pub-key", buf, len(buf), byref(size))
        != 1
    ):
        raise _error(OpenSSLError, "EVP_PKEY_get_octet_string_param(encoded-pub-key)")
    return buf.raw[: size.value]


def max_signature_size(key: PKey) -> int:
    size = _EVP_PKEY_get_size(key.ptr)
    if size <= 0:
        raise _error(OpenSSLError, "EVP_PKEY_get_size")
    return size


# --- the hot paths --------------------------------------------------------------------------
def sign(key: PKey, distid: bytes, message: bytes, max_size: int) -> bytes:
    """GB/T 32918.2 signature over ``message`` (Z_A over ``distid``, SM3); DER ``SEQUENCE{r,s}``.

    Five foreign calls: new MD context, init (which creates the PKEY_CTX the MD context owns),
    set the ID on that PKEY_CTX (Z_A is computed lazily at the first update, so setting it after
    init is what OpenSSL expects), one-shot sign, free.
    """
    mctx = _EVP_MD_CTX_new()
    if not mctx:
        raise _error(OpenSSLError, "EVP_MD_CTX_new")
    try:
        pctx = c_void_p()
        if _EVP_DigestSignInit(mctx, byref(pctx), _SM3_MD, None, key.ptr) != 1:
            raise _error(OpenSSLError, "EVP_DigestSignInit")
        if _EVP_PKEY_CTX_set1_id(pctx, distid, len(distid)) != 1:
            raise _error(OpenSSLError, "EVP_PKEY_CTX_set1_id")
        out = create_string_buffer(max_size)
        size = c_size_t(max_size)
        if _EVP_DigestSign(mctx, out, byref(size), message, len(message)) != 1:
            raise _error(OpenSSLError, "EVP_DigestSign")
        return out.raw[: size.value]
    finally:
        _EVP_MD_CTX_free(mctx)


def verify(key: PKey, distid: bytes, signature: bytes, message: bytes) -> bool:
    """True iff ``signature`` is a valid strict-DER SM2 signature of ``message`` under ``distid``.

    OpenSSL re-encodes the parsed (r, s) and compares it with the input, so non-canonical DER,
    trailing bytes and garbage all come back as False rather than as an error.
    """
    mctx = _EVP_MD_CTX_new()
    if not mctx:
        raise _error(OpenSSLError, "EVP_MD_CTX_new")
    try:
        pctx = c_void_p()
        if _EVP_DigestVerifyInit(mctx, byref(pctx), _SM3_MD, None, key.ptr) != 1:
            raise _error(OpenSSLError, "EVP_DigestVerifyInit")
        if _EVP_PKEY_CTX_set1_id(pctx, distid, len(distid)) != 1:
            raise _error(OpenSSLError, "EVP_PKEY_CTX_set1_id")
        ok = _EVP_DigestVerify(mctx, signature, len(signature), message, len(message)) == 1
        if not ok:
            _ERR_clear_error()  # a bad signature leaves entries we must not let pile up
        return ok
    finally:
        _EVP_MD_CTX_free(mctx)


def _pkey_crypt(key: PKey, data: bytes, *, encrypt: bool) -> bytes:
    """GB/T 32918.4 encryption / decryption, ASN.1 ``SEQUENCE{x, y, C3 hash, C2}`` (C1C3C2)."""
    init = _EVP_PKEY_encrypt_init if encrypt else _EVP_PKEY_decrypt_init
    crypt = _EVP_PKEY_encrypt if encrypt else _EVP_PKEY_decrypt
    name = "EVP_PKEY_encrypt" if encrypt else "EVP_PKEY_decrypt"
    failure: type[CryptoError] = OpenSSLError if encrypt else DecryptionError
    ctx = _EVP_PKEY_CTX_new(key.ptr, None)
    if not ctx:
        raise _error(OpenSSLError, "EVP_PKEY_CTX_new")
    try:
        if init(ctx) != 1:
            raise _error(OpenSSLError, f"{name}_init")
        size = c_size_t(0)
        if crypt(ctx, None, byref(size), data, len(data)) != 1 or size.value == 0:
            raise _error(failure, name)
        out = create_string_buffer(size.value)
        if crypt(ctx, out, byref(size), data, len(data)) != 1:
            raise _error(failure, name)
        return out.raw[: size.value]
    finally:
        _EVP_PKEY_CTX_free(ctx)


def encrypt(key: PKey, plaintext: bytes) -> bytes:
    return _pkey_crypt(key, plaintext, encrypt=True)


def decrypt(key: PKey, ciphertext: bytes) -> bytes:
    return _pkey_crypt(key, ciphertext, encrypt=False)
