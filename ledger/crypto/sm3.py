"""SM3 (GB/T 32905) hashing, via ``cryptography``."""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives import hashes

__all__ = ["DIGEST_SIZE", "SM3Hasher", "sm3"]

DIGEST_SIZE: Final = 32


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data``."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


class SM3Hasher:
    """Streaming SM3: ``update()`` any number of times; ``digest()`` may be called repeatedly
    (it does not finalize the running state, so more ``update()`` calls may follow)."""

    __slots__ = ("_hash",)

    digest_size: Final = DIGEST_SIZE

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashes.Hash(hashes.SM3())
        if data:
            self._hash.update(data)

    def update(self, data: bytes) -> SM3Hasher:
        self._hash.update(data)
        return self

    def digest(self) -> bytes:
        return self._hash.copy().finalize()

    def hexdigest(self) -> str:
        return self.digest().hex()

    def copy(self) -> SM3Hasher:
        clone = SM3Hasher.__new__(SM3Hasher)
        clone._hash = self._hash.copy()
        return clone
