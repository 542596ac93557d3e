"""The system OpenSSL 3 ``libcrypto.so.3`` as ctypes sees it: the library loaded (3.0 or newer),
the C functions :mod:`ledger.crypto._libcrypto` calls, each with its ``argtypes``/``restype``
declared, the SM3 digest, and the thread's error queue drained into typed errors.

Names are the C names (``EVP_MD_CTX_new``, ...); see :mod:`ledger.crypto._libcrypto` for why
this binding is hand-written. Nothing here is public API.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from ctypes import (
    CFUNCTYPE,
    POINTER,
    c_char_p,
    c_int,
    c_long,
    c_size_t,
    c_uint,
    c_ulong,
    c_void_p,
    create_string_buffer,
)
from typing import Any, cast

from ledger.crypto.errors import CryptoError, OpenSSLError

_MIN_VERSION = 0x30000000  # OpenSSL 3.0.0: provider-based SM2 with EVP_PKEY_CTX_set1_id
BIO_CTRL_INFO = 3  # BIO_get_mem_data(b, pp) is the macro BIO_ctrl(b, BIO_CTRL_INFO, 0, pp)


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
    return cast(Callable[..., Any], function)


PEM_PASSWORD_CB = CFUNCTYPE(c_int, c_void_p, c_int, c_int, c_void_p)


def _refuse_password(_buf: int | None, _size: int, _rwflag: int, _userdata: int | None) -> int:
    # Encrypted PEM keys are refused instead of letting OpenSSL prompt on the terminal.
    return -1


NO_PASSWORD = PEM_PASSWORD_CB(_refuse_password)  # module-level: must outlive every call

# --- errors ---------------------------------------------------------------------------------
ERR_get_error = _fn("ERR_get_error", c_ulong)
ERR_error_string_n = _fn("ERR_error_string_n", None, c_ulong, c_char_p, c_size_t)
ERR_clear_error = _fn("ERR_clear_error", None)

# --- BIO ------------------------------------------------------------------------------------
BIO_s_mem = _fn("BIO_s_mem", c_void_p)
BIO_new = _fn("BIO_new", c_void_p, c_void_p)
BIO_new_mem_buf = _fn("BIO_new_mem_buf", c_void_p, c_char_p, c_int)
BIO_free = _fn("BIO_free", c_int, c_void_p)
BIO_ctrl = _fn("BIO_ctrl", c_long, c_void_p, c_int, c_long, c_void_p)

# --- key (de)serialization ------------------------------------------------------------------
PEM_read_bio_PrivateKey = _fn(
    "PEM_read_bio_PrivateKey", c_void_p, c_void_p, c_void_p, PEM_PASSWORD_CB, c_void_p
)
PEM_read_bio_PUBKEY = _fn(
    "PEM_read_bio_PUBKEY", c_void_p, c_void_p, c_void_p, PEM_PASSWORD_CB, c_void_p
)
d2i_AutoPrivateKey = _fn("d2i_AutoPrivateKey", c_void_p, c_void_p, POINTER(c_char_p), c_long)
d2i_PUBKEY = _fn("d2i_PUBKEY", c_void_p, c_void_p, POINTER(c_char_p), c_long)
i2d_PUBKEY = _fn("i2d_PUBKEY", c_int, c_void_p, POINTER(c_void_p))
i2d_PKCS8PrivateKey_bio = _fn(
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
EVP_PKEY_free = _fn("EVP_PKEY_free", None, c_void_p)
EVP_PKEY_is_a = _fn("EVP_PKEY_is_a", c_int, c_void_p, c_char_p)
EVP_PKEY_get_size = _fn("EVP_PKEY_get_size", c_int, c_void_p)
# int EVP_PKEY_get_*_string_param(pkey, key_name, buf, max_buf_sz, *out_len)
_GET_STRING_PARAM = (c_int, c_void_p, c_char_p, c_char_p, c_size_t, POINTER(c_size_t))
EVP_PKEY_get_utf8_string_param = _fn("EVP_PKEY_get_utf8_string_param", *_GET_STRING_PARAM)
EVP_PKEY_get_octet_string_param = _fn("EVP_PKEY_get_octet_string_param", *_GET_STRING_PARAM)
EVP_PKEY_CTX_new = _fn("EVP_PKEY_CTX_new", c_void_p, c_void_p, c_void_p)
EVP_PKEY_CTX_new_from_name = _fn(
    "EVP_PKEY_CTX_new_from_name", c_void_p, c_void_p, c_char_p, c_char_p
)
EVP_PKEY_CTX_free = _fn("EVP_PKEY_CTX_free", None, c_void_p)
EVP_PKEY_keygen_init = _fn("EVP_PKEY_keygen_init", c_int, c_void_p)
EVP_PKEY_generate = _fn("EVP_PKEY_generate", c_int, c_void_p, POINTER(c_void_p))
EVP_PKEY_check = _fn("EVP_PKEY_check", c_int, c_void_p)
EVP_PKEY_public_check_quick = _fn("EVP_PKEY_public_check_quick", c_int, c_void_p)


class OSSL_PARAM(ctypes.Structure):
    """``OSSL_PARAM`` (openssl/core.h): one named, typed parameter; an array ends with a
    zeroed entry."""

    _fields_ = [
        ("key", c_char_p),
        ("data_type", c_uint),
        ("data", c_void_p),
        ("data_size", c_size_t),
        ("return_size", c_size_t),
    ]


OSSL_PARAM_UTF8_STRING = 4
OSSL_PARAM_OCTET_STRING = 5
EVP_PKEY_PUBLIC_KEY = 0x86  # EVP_PKEY_KEY_PARAMETERS | OSSL_KEYMGMT_SELECT_PUBLIC_KEY
EVP_PKEY_fromdata_init = _fn("EVP_PKEY_fromdata_init", c_int, c_void_p)
EVP_PKEY_fromdata = _fn(
    "EVP_PKEY_fromdata", c_int, c_void_p, POINTER(c_void_p), c_int, POINTER(OSSL_PARAM)
)
EVP_PKEY_encrypt_init = _fn("EVP_PKEY_encrypt_init", c_int, c_void_p)
EVP_PKEY_encrypt = _fn(
    "EVP_PKEY_encrypt", c_int, c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t
)
EVP_PKEY_decrypt_init = _fn("EVP_PKEY_decrypt_init", c_int, c_void_p)
EVP_PKEY_decrypt = _fn(
    "EVP_PKEY_decrypt", c_int, c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t
)

# --- signatures -----------------------------------------------------------------------------
EVP_sm3 = _fn("EVP_sm3", c_void_p)
EVP_MD_CTX_new = _fn("EVP_MD_CTX_new", c_void_p)
EVP_MD_CTX_free = _fn("EVP_MD_CTX_free", None, c_void_p)
EVP_DigestSignInit = _fn(
    "EVP_DigestSignInit", c_int, c_void_p, POINTER(c_void_p), c_void_p, c_void_p, c_void_p
)
EVP_DigestVerifyInit = _fn(
    "EVP_DigestVerifyInit", c_int, c_void_p, POINTER(c_void_p), c_void_p, c_void_p, c_void_p
)
EVP_PKEY_CTX_set1_id = _fn("EVP_PKEY_CTX_set1_id", c_int, c_void_p, c_char_p, c_int)
EVP_DigestSign = _fn(
    "EVP_DigestSign", c_int, c_void_p, c_char_p, POINTER(c_size_t), c_char_p, c_size_t
)
EVP_DigestVerify = _fn("EVP_DigestVerify", c_int, c_void_p, c_char_p, c_size_t, c_char_p, c_size_t)

SM3_MD: int = EVP_sm3()  # a static const EVP_MD *: fetched once, never freed
if not SM3_MD:
    raise OpenSSLError("this libcrypto has no SM3 digest")


# --- error plumbing -------------------------------------------------------------------------
def drain_errors() -> str:
    """Empty this thread's OpenSSL error queue and return it as one line."""
    messages: list[str] = []
    buf = create_string_buffer(256)
    for _ in range(64):  # the queue holds at most 16 entries; bound the loop anyway
        code = ERR_get_error()
        if not code:
            break
        ERR_error_string_n(code, buf, len(buf))
        messages.append(buf.value.decode("ascii", "replace"))
    ERR_clear_error()
    return "; ".join(messages)


def error(kind: type[CryptoError], what: str) -> CryptoError:
    detail = drain_errors()
    return kind(f"{what}: {detail}" if detail else what)
