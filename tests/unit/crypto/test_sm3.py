from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.crypto import SM3Hasher, sm3
from tests.unit.crypto import vectors


def test_gbt_32905_vector_abc() -> None:
    assert sm3(b"abc") == vectors.SM3_ABC


def test_gbt_32905_vector_64_bytes() -> None:
    assert sm3(b"abcd" * 16) == vectors.SM3_ABCD16


def test_empty_message() -> None:
    assert sm3(b"") == vectors.SM3_EMPTY
    assert SM3Hasher().digest() == vectors.SM3_EMPTY


def test_streaming_matches_one_shot_on_the_vector() -> None:
    hasher = SM3Hasher()
    for _ in range(16):
        hasher.update(b"ab").update(b"cd")
    assert hasher.digest() == vectors.SM3_ABCD16
    assert hasher.hexdigest() == vectors.SM3_ABCD16.hex()


def test_digest_does_not_finalize() -> None:
    hasher = SM3Hasher(b"a")
    first = hasher.digest()
    assert hasher.digest() == first == sm3(b"a")
    hasher.update(b"bc")
    assert hasher.digest() == vectors.SM3_ABC


def test_copy_is_independent() -> None:
    hasher = SM3Hasher(b"ab")
    clone = hasher.copy()
    hasher.update(b"c")
    clone.update(b"x")
    assert hasher.digest() == vectors.SM3_ABC
    assert clone.digest() == sm3(b"abx")


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_streaming_any_split(data: bytes, cuts: list[int]) -> None:
    hasher = SM3Hasher()
    start = 0
    for cut in sorted(min(c, len(data)) for c in cuts):
        hasher.update(data[start:cut])
        start = cut
    hasher.update(data[start:])
    assert hasher.digest() == sm3(data)
    assert len(sm3(data)) == 32
