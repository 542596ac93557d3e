from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ledger.crypto import DecryptionError, sm4
from tests.unit.crypto import vectors


def test_gbt_32907_block_vector() -> None:
    encryptor = Cipher(algorithms.SM4(vectors.SM4_KEY), modes.ECB()).encryptor()
    assert encryptor.update(vectors.SM4_PLAINTEXT) + encryptor.finalize() == vectors.SM4_CIPHERTEXT
    decryptor = Cipher(algorithms.SM4(vectors.SM4_KEY), modes.ECB()).decryptor()
    assert decryptor.update(vectors.SM4_CIPHERTEXT) + decryptor.finalize() == vectors.SM4_PLAINTEXT


def test_rfc8998_gcm_known_answer_encrypt() -> None:
    out = sm4.encrypt_with_nonce(
        vectors.GCM_KEY, vectors.GCM_IV, vectors.GCM_PLAINTEXT, aad=vectors.GCM_AAD
    )
    assert out == vectors.GCM_CIPHERTEXT + vectors.GCM_TAG


def test_rfc8998_gcm_known_answer_decrypt() -> None:
    blob = vectors.GCM_IV + vectors.GCM_CIPHERTEXT + vectors.GCM_TAG
    assert sm4.decrypt(vectors.GCM_KEY, blob, aad=vectors.GCM_AAD) == vectors.GCM_PLAINTEXT
    with pytest.raises(
        DecryptionError, match=r"^SM4-GCM authentication failed: tampered data or wrong key$"
    ):
        sm4.decrypt(vectors.GCM_KEY, blob)  # the AAD is part of the tag


def test_constants() -> None:
    assert (sm4.KEY_SIZE, sm4.NONCE_SIZE, sm4.TAG_SIZE) == (16, 12, 16)
    key = sm4.generate_key()
    assert len(key) == 16 and key != sm4.generate_key()


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000, 65537])
def test_round_trip(size: int) -> None:
    key = sm4.generate_key()
    plaintext = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    blob = sm4.encrypt(key, plaintext, aad=b"header")
    assert len(blob) == sm4.NONCE_SIZE + size + sm4.TAG_SIZE
    assert sm4.decrypt(key, blob, aad=b"header") == plaintext


def test_fresh_nonce_every_time() -> None:
    key = sm4.generate_key()
    blobs = {sm4.encrypt(key, b"same") for _ in range(50)}
    assert len(blobs) == 50
    assert len({b[: sm4.NONCE_SIZE] for b in blobs}) == 50


def test_every_flipped_bit_is_rejected() -> None:
    key = sm4.generate_key()
    blob = sm4.encrypt(key, b"pay 100 CNY", aad=b"aad")
    for index in range(len(blob) * 8):
        tampered = bytearray(blob)
        tampered[index // 8] ^= 1 << (index % 8)
        with pytest.raises(
            DecryptionError, match=r"^SM4-GCM authentication failed: tampered data or wrong key$"
        ):
            sm4.decrypt(key, bytes(tampered), aad=b"aad")


def test_wrong_key_wrong_aad_truncation() -> None:
    key = sm4.generate_key()
    blob = sm4.encrypt(key, b"secret", aad=b"a")
    with pytest.raises(
        DecryptionError, match=r"^SM4-GCM authentication failed: tampered data or wrong key$"
    ):
        sm4.decrypt(sm4.generate_key(), blob, aad=b"a")
    with pytest.raises(
        DecryptionError, match=r"^SM4-GCM authentication failed: tampered data or wrong key$"
    ):
        sm4.decrypt(key, blob, aad=b"b")
    for cut in (0, 1, sm4.NONCE_SIZE, sm4.NONCE_SIZE + sm4.TAG_SIZE - 1, len(blob) - 1):
        with pytest.raises(
            DecryptionError, match=r"^(SM4-GCM authentication failed|SM4-GCM blob is too short)"
        ):
            sm4.decrypt(key, blob[:cut], aad=b"a")
    with pytest.raises(
        DecryptionError, match=r"^SM4-GCM authentication failed: tampered data or wrong key$"
    ):
        sm4.decrypt(key, blob + b"\x00", aad=b"a")


def test_bad_key_size() -> None:
    with pytest.raises(ValueError, match=r"^an SM4 key is 16 bytes$"):
        sm4.encrypt(b"short", b"x")
    with pytest.raises(ValueError, match=r"^an SM4 key is 16 bytes$"):
        sm4.decrypt(b"\x00" * 32, b"\x00" * 40)
