"""Merkle trees of agreement batches, RFC 6962 / RFC 9162 shape with domain-separated hashing.

``leaf hash = H(0x00 || leaf)``, ``node hash = H(0x01 || left || right)``; the tree of n leaves
splits at the largest power of two below n (built here level by level, carrying a lone last
node up unchanged, which yields the same tree). H is SM3 (the product's hash) unless a
:class:`HashFunction` is passed: tests hold this module against SHA-256 public test vectors.
Audit paths are RFC 9162 inclusion proofs: at most ceil(log2 n) hashes. Every leaf hash, root
and path hash must be exactly H's size: a hash of another length is refused, never compared.

Written here rather than taken from a library: the maintained RFC 6962 implementations are
tied to SHA-256 (Certificate Transparency); we need SM3, and the whole algorithm is 60 lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.crypto.sm3 import sm3
from ledger.errors import LedgerError

_LEAF = b"\x00"
_NODE = b"\x01"


@dataclass(frozen=True)
class HashFunction:
    """The tree's hash: its name, the function, and the size of every hash it makes."""

    name: str
    digest: Callable[[bytes], bytes]
    size: int


#: The product's tree hash.
SM3 = HashFunction("sm3", sm3, 32)


class MerkleError(LedgerError):
    """A Merkle tree or proof is malformed (root of this module's errors)."""


class InclusionProofInvalid(MerkleError):
    """An inclusion proof does not lead from its leaf to the root, or one of its hashes is not
    a hash of the tree's function (wrong length)."""


def _check_size(what: str, value: bytes, hash_fn: HashFunction, error: type[MerkleError]) -> None:
    if len(value) != hash_fn.size:
        raise error(f"{what} is {len(value)} bytes, not a {hash_fn.size}-byte {hash_fn.name} hash")


def leaf_hash(leaf: bytes, *, hash_fn: HashFunction = SM3) -> bytes:
    return hash_fn.digest(_LEAF + leaf)


def node_hash(left: bytes, right: bytes, *, hash_fn: HashFunction = SM3) -> bytes:
    return hash_fn.digest(_NODE + left + right)


class MerkleTree:
    """A tree over leaf *hashes* (call :func:`leaf_hash` on the entries first)."""

    def __init__(self, leaf_hashes: Sequence[bytes], *, hash_fn: HashFunction = SM3) -> None:
        self._hash = hash_fn
        for index, value in enumerate(leaf_hashes):
            _check_size(f"leaf hash {index}", value, hash_fn, MerkleError)
        self._levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            level = [
                node_hash(below[i], below[i + 1], hash_fn=hash_fn)
                for i in range(0, len(below) - 1, 2)
            ]
            if len(below) % 2:
                level.append(below[-1])  # a lone last node moves up unchanged
            self._levels.append(level)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        if self.size == 0:
            return self._hash.digest(b"")  # RFC 6962: the hash of the empty string
        return self._levels[-1][0]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index``, bottom-up."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is not in a tree of {self.size}")
        path = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def verify_inclusion(
    *,
    leaf_hash_value: bytes,
    index: int,
    tree_size: int,
    path: Sequence[bytes],
    root: bytes,
    hash_fn: HashFunction = SM3,
) -> None:
    """RFC 9162 section 2.1.3.2. Raise InclusionProofInvalid unless the path leads to ``root``."""
    _check_size("leaf hash", leaf_hash_value, hash_fn, InclusionProofInvalid)
    _check_size("root", root, hash_fn, InclusionProofInvalid)
    for position, node in enumerate(path):
        _check_size(f"path hash {position}", node, hash_fn, InclusionProofInvalid)
    if not 0 <= index < tree_size:
        raise InclusionProofInvalid(f"leaf index {index} is outside a tree of {tree_size}")
    fn, sn, r = index, tree_size - 1, leaf_hash_value
    for p in path:
        if sn == 0:
            raise InclusionProofInvalid("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r, hash_fn=hash_fn)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p, hash_fn=hash_fn)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InclusionProofInvalid("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise InclusionProofInvalid("inclusion proof does not lead to the root")
