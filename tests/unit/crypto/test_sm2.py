from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ledger.crypto import (
    DEFAULT_DISTID,
    CryptoError,
    DecryptionError,
    InvalidSignature,
    KeyFormatError,
    SM2PrivateKey,
    SM2PublicKey,
    _libcrypto,
    _openssl,
    sm3,
)
from ledger.errors import LedgerError
from tests.unit.crypto import vectors

# The SM2 curve order n, to build out-of-range signatures.
SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


def test_default_distid() -> None:
    assert DEFAULT_DISTID == b"1234567812345678"


def test_errors_are_ledger_errors() -> None:
    for error in (InvalidSignature, KeyFormatError, DecryptionError):
        assert issubclass(error, CryptoError)
    assert issubclass(CryptoError, LedgerError)


# --- known answers ----------------------------------------------------------------------------
def test_gbt_key_derives_the_published_public_key() -> None:
    private = SM2PrivateKey.from_pem(vectors.GBT_PRIVATE_PEM)
    assert vectors.GBT_PRIVATE_SCALAR in private.to_der()
    assert private.public_key().to_raw() == vectors.GBT_PUBLIC_RAW


def test_gbt_32918_signature_vector_verifies() -> None:
    public = SM2PublicKey.from_raw(vectors.GBT_PUBLIC_RAW)
    signature = encode_dss_signature(
        int.from_bytes(vectors.GBT_SIGNATURE_R, "big"),
        int.from_bytes(vectors.GBT_SIGNATURE_S, "big"),
    )
    public.verify(signature, vectors.GBT_SIGNED_MESSAGE)  # default ID 1234567812345678
    public.verify(signature, vectors.GBT_SIGNED_MESSAGE, distid=b"1234567812345678")
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        public.verify(signature, vectors.GBT_SIGNED_MESSAGE, distid=b"1234567812345679")
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        public.verify(signature, b"message digesT")
    bad_s = encode_dss_signature(
        int.from_bytes(vectors.GBT_SIGNATURE_R, "big"),
        int.from_bytes(vectors.GBT_SIGNATURE_S, "big") ^ 1,
    )
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        public.verify(bad_s, vectors.GBT_SIGNED_MESSAGE)


def test_gbt_32918_encryption_vector_decrypts() -> None:
    private = SM2PrivateKey.from_pem(vectors.GBT_PRIVATE_PEM)
    assert private.decrypt(vectors.GBT_CIPHERTEXT) == vectors.GBT_PLAINTEXT


def test_openssl_evp_test_decrypt_vector() -> None:
    private = SM2PrivateKey.from_pem(vectors.OPENSSL_SM2_KEY1_PEM)
    assert private.decrypt(vectors.OPENSSL_SM2_KEY1_CIPHERTEXT) == (
        vectors.OPENSSL_SM2_KEY1_PLAINTEXT
    )


# --- sign / verify ----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 1, 32, 1000, 100_000])
def test_sign_verify_round_trip(key: SM2PrivateKey, size: int) -> None:
    message = bytes(i % 251 for i in range(size))
    signature = key.sign(message)
    assert signature[0] == 0x30 and 8 <= len(signature) <= 72
    key.public_key().verify(signature, message)


def test_signatures_are_randomized_and_all_verify(key: SM2PrivateKey) -> None:
    signatures = {key.sign(b"m") for _ in range(5)}
    assert len(signatures) == 5
    for signature in signatures:
        key.public_key().verify(signature, b"m")


def test_verify_returns_none(key: SM2PrivateKey) -> None:
    assert key.public_key().verify(key.sign(b"m"), b"m") is None  # type: ignore[func-returns-value]


def test_wrong_message_id_or_key_is_rejected(key: SM2PrivateKey) -> None:
    public = key.public_key()
    signature = key.sign(b"transfer 100", distid=b"ALICE123@YAHOO.COM")
    public.verify(signature, b"transfer 100", distid=b"ALICE123@YAHOO.COM")
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        public.verify(signature, b"transfer 101", distid=b"ALICE123@YAHOO.COM")
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        public.verify(signature, b"transfer 100")  # the default ID
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        public.verify(signature, b"transfer 100", distid=b"ALICE123@YAHOO.CON")
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        SM2PrivateKey.generate().public_key().verify(
            signature, b"transfer 100", distid=b"ALICE123@YAHOO.COM"
        )


def test_id_is_really_hashed_in(key: SM2PrivateKey) -> None:
    """A default-ID signature must not verify with OpenSSL's empty default (set1_id works)."""
    public = key.public_key()
    signature = key.sign(b"m")
    assert _libcrypto.verify(public._key, DEFAULT_DISTID, signature, b"m")
    assert not _libcrypto.verify(public._key, b"x", signature, b"m")


def test_empty_or_oversized_distid_is_refused(key: SM2PrivateKey) -> None:
    with pytest.raises(ValueError, match=r"^the SM2 distinguishing ID must not be empty$"):
        key.sign(b"m", distid=b"")
    with pytest.raises(ValueError, match=r"^the SM2 distinguishing ID must not be empty$"):
        key.public_key().verify(key.sign(b"m"), b"m", distid=b"")
    with pytest.raises(ValueError, match=r"^the SM2 distinguishing ID is limited to 8190 bytes$"):
        key.sign(b"m", distid=b"x" * 8191)
    signature = key.sign(b"m", distid=b"x" * 8190)
    key.public_key().verify(signature, b"m", distid=b"x" * 8190)


def _malformed(signature: bytes) -> list[bytes]:
    r, s = decode_dss_signature(signature)
    return [
        b"",
        b"\x30",
        b"\x30\x00",
        b"not a signature at all",
        signature[:-1],
        signature + b"\x00",
        b"\x00" + signature,
        encode_dss_signature(s, r),
        encode_dss_signature(r, 0),
        encode_dss_signature(0, s),
        encode_dss_signature(r + SM2_N, s),
        encode_dss_signature(r, s + SM2_N),
        # non-minimal DER: an extra leading zero on r
        b"\x30"
        + bytes([signature[1] + 1])
        + b"\x02"
        + bytes([signature[3] + 1])
        + b"\x00"
        + signature[4:],
        # BER long-form length on the SEQUENCE
        b"\x30\x81" + signature[1:],
    ]


def test_malformed_signatures_raise_invalid_signature(key: SM2PrivateKey) -> None:
    signature = key.sign(b"m")
    for bad in _malformed(signature):
        with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
            key.public_key().verify(bad, b"m")


def test_every_flipped_bit_of_a_signature_is_rejected(key: SM2PrivateKey) -> None:
    signature = key.sign(b"m")
    for index in range(len(signature) * 8):
        bad = bytearray(signature)
        bad[index // 8] ^= 1 << (index % 8)
        with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
            key.public_key().verify(bytes(bad), b"m")


def test_failures_leave_no_openssl_errors_behind(key: SM2PrivateKey) -> None:
    for bad in _malformed(key.sign(b"m")):
        with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
            key.public_key().verify(bad, b"m")
    with pytest.raises(KeyFormatError, match=r"^DER public key: not a readable key: "):
        SM2PublicKey.from_der(b"\x30\x03\x02\x01\x00")
    with pytest.raises(DecryptionError, match=r"^EVP_PKEY_decrypt: "):
        key.decrypt(b"junk")
    assert _openssl.drain_errors() == ""


def test_accepts_bytearray_and_memoryview(key: SM2PrivateKey) -> None:
    signature = key.sign(bytearray(b"m"))
    key.public_key().verify(memoryview(signature), memoryview(b"m"))
    with pytest.raises(TypeError, match=r"^message must be bytes, not str$"):
        key.sign("text")  # type: ignore[arg-type]


# --- encryption -------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 19, 1000, 100_000])
def test_encrypt_decrypt_round_trip(key: SM2PrivateKey, size: int) -> None:
    plaintext = bytes(i % 256 for i in range(size))
    ciphertext = key.public_key().encrypt(plaintext)
    assert ciphertext != key.public_key().encrypt(plaintext)  # randomized
    assert key.decrypt(ciphertext) == plaintext


def test_tampered_or_foreign_ciphertext_fails(key: SM2PrivateKey) -> None:
    ciphertext = key.public_key().encrypt(b"secret message")
    tampered = bytearray(ciphertext)
    tampered[-1] ^= 1  # inside C2: the C3 hash no longer matches
    with pytest.raises(DecryptionError, match=r"^EVP_PKEY_decrypt: "):
        key.decrypt(bytes(tampered))
    with pytest.raises(DecryptionError, match=r"^EVP_PKEY_decrypt: "):
        SM2PrivateKey.generate().decrypt(ciphertext)
    for junk in (b"", b"\x30\x00", b"junk", ciphertext[:-1]):
        with pytest.raises(DecryptionError, match=r"^EVP_PKEY_decrypt: "):
            key.decrypt(junk)


def test_empty_plaintext_is_refused(key: SM2PrivateKey) -> None:
    with pytest.raises(ValueError, match=r"^SM2 cannot encrypt an empty plaintext$"):
        key.public_key().encrypt(b"")


# --- encodings --------------------------------------------------------------------------------
def test_public_encodings_round_trip(key: SM2PrivateKey) -> None:
    public = key.public_key()
    raw = public.to_raw()
    assert len(raw) == 65 and raw[0] == 4
    assert public.to_der()[-65:] == raw and len(public.to_der()) == 91
    assert public.to_pem().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert SM2PublicKey.from_raw(raw) == public
    assert SM2PublicKey.from_der(public.to_der()) == public
    assert SM2PublicKey.from_pem(public.to_pem()) == public
    assert SM2PublicKey.from_pem(public.to_pem()).to_der() == public.to_der()
    assert public.fingerprint() == sm3(raw) and len(public.fingerprint()) == 32
    assert hash(SM2PublicKey.from_raw(raw)) == hash(public)
    assert len({public, SM2PublicKey.from_raw(raw), SM2PrivateKey.generate().public_key()}) == 2
    assert public != raw


def test_private_encodings_round_trip(key: SM2PrivateKey) -> None:
    pem = key.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    again = SM2PrivateKey.from_pem(pem)
    assert again.public_key() == key.public_key()
    assert again.to_pem() == pem
    assert SM2PrivateKey.from_der(key.to_der()).public_key() == key.public_key()
    # a key that went through PEM still signs for the original public key
    key.public_key().verify(again.sign(b"m"), b"m")


def test_repr_hides_the_secret(key: SM2PrivateKey) -> None:
    text = repr(key)
    assert "SM2PrivateKey" in text
    assert key.to_der()[-97:-65].hex() not in text


def test_accepts_what_openssl_ecparam_genkey_writes() -> None:
    private = SM2PrivateKey.from_pem(vectors.OPENSSL_ECPARAM_GENKEY_PEM)
    expected = SM2PublicKey.from_pem(vectors.OPENSSL_ECPARAM_GENKEY_PUBLIC_PEM)
    assert private.public_key() == expected


def test_accepts_sec1_sm2_private_key() -> None:
    private = SM2PrivateKey.from_pem(vectors.OPENSSL_SEC1_PEM)
    assert private.public_key().to_der() == vectors.OPENSSL_SEC1_PUBLIC_DER


def test_compressed_public_key_is_canonicalised() -> None:
    public = SM2PublicKey.from_der(vectors.OPENSSL_COMPRESSED_PUBLIC_DER)
    assert public.to_der() == vectors.OPENSSL_SEC1_PUBLIC_DER
    assert public == SM2PublicKey.from_der(vectors.OPENSSL_SEC1_PUBLIC_DER)


@pytest.mark.parametrize("length", [0, 1, 33, 64, 66, 130])
def test_from_raw_rejects_wrong_lengths(length: int) -> None:
    with pytest.raises(
        KeyFormatError, match=r"^a raw SM2 public key is 65 bytes starting with 04, got "
    ):
        SM2PublicKey.from_raw(b"\x04" + b"\x01" * (length - 1) if length else b"")


def test_from_raw_rejects_points_off_the_curve_and_bad_prefixes(key: SM2PrivateKey) -> None:
    raw = key.public_key().to_raw()
    off_curve = raw[:-1] + bytes([raw[-1] ^ 1])
    for bad in (off_curve, b"\x04" + b"\x00" * 64, b"\x05" + raw[1:], b"\x02" + raw[1:]):
        with pytest.raises(
            KeyFormatError,
            match=r"^(raw public key: not a readable key: .*point is not on curve"
            r"|a raw SM2 public key is 65 bytes)",
        ):
            SM2PublicKey.from_raw(bad)
    with pytest.raises(
        KeyFormatError, match=r"^a raw SM2 public key is 65 bytes starting with 04, got 33 bytes$"
    ):
        SM2PublicKey.from_raw(raw[:33].replace(b"\x04", b"\x02", 1))


def _foreign_keys() -> list[tuple[bytes, bytes]]:
    """(private PKCS#8 PEM, public SPKI DER) for keys that are not SM2."""
    out = []
    for private in (ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 1024)):
        out.append(
            (
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
                private.public_key().public_bytes(
                    serialization.Encoding.DER,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                ),
            )
        )
    return out


def test_non_sm2_keys_are_rejected() -> None:
    for private_pem, public_der in _foreign_keys():
        with pytest.raises(KeyFormatError, match="not an SM2 key"):
            SM2PrivateKey.from_pem(private_pem)
        with pytest.raises(KeyFormatError, match="not an SM2 key"):
            SM2PublicKey.from_der(public_der)
        public_pem = (
            b"-----BEGIN PUBLIC KEY-----\n" + _b64(public_der) + b"-----END PUBLIC KEY-----"
        )
        with pytest.raises(KeyFormatError, match=r"^PEM public key: not an SM2 key$"):
            SM2PublicKey.from_pem(public_pem)


def _b64(data: bytes) -> bytes:
    import base64

    return base64.encodebytes(data)


def test_malformed_key_inputs(key: SM2PrivateKey) -> None:
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    for bad in (
        b"",
        b"garbage",
        key.public_key().to_pem(),
        key.to_der(),
        encrypted,
        key.to_pem().replace(b"M", b"N", 3),
    ):
        with pytest.raises(
            KeyFormatError,
            match=r"^(PEM private key: not a readable|encrypted PEM private keys|not a PEM)",
        ):
            SM2PrivateKey.from_pem(bad)
    for bad in (b"", b"garbage", key.to_der()[:-1], key.to_der() + b"\x00", key.to_pem()):
        with pytest.raises(KeyFormatError, match=r"^DER private key: "):
            SM2PrivateKey.from_der(bad)
    der = key.public_key().to_der()
    for bad in (b"", b"\x30\x00", der[:-1], der + b"\x00", key.to_der()):
        with pytest.raises(KeyFormatError, match=r"^DER public key: "):
            SM2PublicKey.from_der(bad)
    for bad in (b"", b"garbage", key.to_pem(), der):
        with pytest.raises(KeyFormatError, match=r"^PEM public key: not a readable key: "):
            SM2PublicKey.from_pem(bad)


def test_scalar_out_of_range_is_rejected() -> None:
    # PKCS#8 { ecPublicKey, SM2, ECPrivateKey { 1, d } } without the optional public key.
    prefix = bytes.fromhex("3041020100301306072a8648ce3d020106082a811ccf5501822d042730250201010420")
    # d = n - 1 is outside SM2's [1, n - 2]; 0 and n are never valid.
    for scalar in (0, SM2_N - 1, SM2_N):
        with pytest.raises(KeyFormatError, match=r"^DER private key: key fails validation: "):
            SM2PrivateKey.from_der(prefix + scalar.to_bytes(32, "big"))
    SM2PrivateKey.from_der(prefix + (SM2_N - 2).to_bytes(32, "big"))
    assert SM2PrivateKey.from_der(prefix + vectors.GBT_PRIVATE_SCALAR).public_key().to_raw() == (
        vectors.GBT_PUBLIC_RAW
    )


# --- threads and resources --------------------------------------------------------------------
def test_concurrent_use_from_many_threads(key: SM2PrivateKey) -> None:
    public = key.public_key()
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for round_ in range(40):
                message = f"{index}:{round_}".encode()
                signature = key.sign(message)
                public.verify(signature, message)
                with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
                    public.verify(signature, message + b"!")
                assert key.decrypt(public.encrypt(message)) == message
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def _rss_kib() -> int:
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * 4


def test_no_memory_leak_across_many_operations(key: SM2PrivateKey) -> None:
    pem = key.to_pem()
    public = key.public_key()
    signature = key.sign(b"m")

    def churn(rounds: int) -> None:
        for _ in range(rounds):
            SM2PrivateKey.from_pem(pem)
            SM2PublicKey.from_der(public.to_der())
            key.sign(b"m" * 100)
            public.verify(signature, b"m")
            with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
                public.verify(signature[:-1], b"m")
            with pytest.raises(KeyFormatError, match=r"^DER public key: not a readable key: "):
                SM2PublicKey.from_der(b"\x30\x00")
        gc.collect()

    churn(200)  # warm up allocator arenas and OpenSSL's method caches
    before = _rss_kib()
    churn(600)
    grown = _rss_kib() - before
    # Leaking one EVP_MD_CTX (with its PKEY_CTX) per call would be > 600 * 500 bytes.
    assert grown < 200, f"RSS grew by {grown} KiB"


def test_from_raw_shares_one_parsed_key_and_never_caches_a_refusal(key: SM2PrivateKey) -> None:
    raw = key.public_key().to_raw()
    assert SM2PublicKey.from_raw(raw) is SM2PublicKey.from_raw(bytearray(raw))
    off_curve = raw[:-1] + bytes([raw[-1] ^ 1])
    for _ in range(2):
        with pytest.raises(KeyFormatError, match=r"^raw public key: not a readable key: "):
            SM2PublicKey.from_raw(off_curve)


def test_a_key_from_its_raw_point_is_the_key_from_its_der(key: SM2PrivateKey) -> None:
    # from_raw builds the key from parameters, from_der decodes it: one key either way.
    public = key.public_key()
    from_der = SM2PublicKey.from_der(public.to_der())
    from_raw = SM2PublicKey.from_raw(public.to_raw())
    assert from_raw.to_der() == from_der.to_der() == public.to_der()
    signature = key.sign(b"m")
    from_raw.verify(signature, b"m")
    assert key.decrypt(from_raw.encrypt(b"secret")) == b"secret"


def test_from_raw_refuses_coordinates_outside_the_field(key: SM2PrivateKey) -> None:
    # x = p (the field prime) is not a field element; the quick check is complete for SM2
    # (cofactor 1) only if it refuses this too.
    p = bytes.fromhex("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF")
    raw = key.public_key().to_raw()
    for bad in (b"\x04" + p + raw[33:], b"\x04" + raw[1:33] + p):
        with pytest.raises(KeyFormatError, match=r"^raw public key: not a readable key: "):
            SM2PublicKey.from_raw(bad)
