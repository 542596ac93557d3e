"""Document keys wrapped per reader: ledger-kw/1 (SM2-encrypted KEK per epoch, SM4-GCM per key)."""

from __future__ import annotations

import struct

import pytest

from ledger._keywrap import MAGIC, KeyWrapError, KeyWrapper, unwrap
from ledger.crypto import sm4
from ledger.crypto.sm2 import SM2PrivateKey

READER, OTHER = SM2PrivateKey.generate(), SM2PrivateKey.generate()
BINDING = b"agr_0101\x00bafk...\x00fingerprint"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def encrypted_kek(wrapped: bytes) -> bytes:
    (size,) = struct.unpack_from(">H", wrapped, len(MAGIC))
    return wrapped[len(MAGIC) + 2 : len(MAGIC) + 2 + size]


def test_round_trip_and_layout() -> None:
    key = sm4.generate_key()
    wrapped = KeyWrapper().wrap(key, reader=READER.public_key(), binding=BINDING)
    assert wrapped.startswith(MAGIC)
    kek = READER.decrypt(encrypted_kek(wrapped))  # E is a plain GB/T 32918.4 ciphertext
    assert len(kek) == sm4.KEY_SIZE
    assert len(wrapped) == len(MAGIC) + 2 + len(encrypted_kek(wrapped)) + 12 + 16 + 16
    assert unwrap(wrapped, reader=READER, binding=BINDING) == key


def test_one_sm2_encryption_per_reader_per_epoch() -> None:
    wrapper = KeyWrapper()
    first = wrapper.wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    second = wrapper.wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    other = wrapper.wrap(sm4.generate_key(), reader=OTHER.public_key(), binding=BINDING)
    assert encrypted_kek(first) == encrypted_kek(second)
    assert encrypted_kek(other) != encrypted_kek(first)
    assert first[-44:] != second[-44:]  # fresh nonce and document key each time


def test_epoch_ends_after_max_uses() -> None:
    wrapper = KeyWrapper(max_uses=2)
    wraps = [
        wrapper.wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
        for _ in range(3)
    ]
    assert encrypted_kek(wraps[0]) == encrypted_kek(wraps[1]) != encrypted_kek(wraps[2])


def test_epoch_ends_after_max_age() -> None:
    clock = Clock()
    wrapper = KeyWrapper(max_age_s=60, clock=clock)
    first = wrapper.wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    clock.now += 59.9
    same = wrapper.wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    clock.now += 0.1
    later = wrapper.wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    assert encrypted_kek(first) == encrypted_kek(same) != encrypted_kek(later)


def test_least_recently_used_reader_leaves_a_full_cache() -> None:
    wrapper = KeyWrapper(max_readers=1)
    first = wrapper.wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    wrapper.wrap(sm4.generate_key(), reader=OTHER.public_key(), binding=BINDING)
    again = wrapper.wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    assert encrypted_kek(first) != encrypted_kek(again)
    assert unwrap(first, reader=READER, binding=BINDING) != unwrap(
        again, reader=READER, binding=BINDING
    )


@pytest.mark.parametrize("kwargs", [{"max_uses": 0}, {"max_age_s": 0}, {"max_readers": 0}])
def test_limits_must_be_positive(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"^max_uses, max_age_s and max_readers must be positive$"):
        KeyWrapper(**kwargs)  # type: ignore[arg-type]


def test_bound_to_its_document_and_reader() -> None:
    wrapped = KeyWrapper().wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    with pytest.raises(KeyWrapError, match="does not open"):
        unwrap(wrapped, reader=READER, binding=BINDING + b"x")
    with pytest.raises(KeyWrapError, match="does not open"):
        unwrap(wrapped, reader=OTHER, binding=BINDING)


def test_every_single_byte_change_is_refused() -> None:
    wrapped = KeyWrapper().wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    for index in range(len(wrapped)):
        mutated = bytearray(wrapped)
        mutated[index] ^= 0x01
        with pytest.raises(
            KeyWrapError,
            match=r"^(the wrapped document key does not open|wrapped document key has the wrong)",
        ):
            unwrap(bytes(mutated), reader=READER, binding=BINDING)


@pytest.mark.parametrize("cut", [1, 16, 44, 60])
def test_truncated_is_refused(cut: int) -> None:
    wrapped = KeyWrapper().wrap(sm4.generate_key(), reader=READER.public_key(), binding=BINDING)
    with pytest.raises(KeyWrapError, match=r"^wrapped document key has the wrong length$"):
        unwrap(wrapped[:-cut], reader=READER, binding=BINDING)
    with pytest.raises(
        KeyWrapError, match=r"^the wrapped document key does not open with this key: "
    ):
        unwrap(MAGIC + b"\x00", reader=READER, binding=BINDING)


def test_bare_sm2_ciphertexts_from_before_still_open() -> None:
    key = sm4.generate_key()
    assert unwrap(READER.public_key().encrypt(key), reader=READER, binding=BINDING) == key
