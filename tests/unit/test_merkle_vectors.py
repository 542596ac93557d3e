"""ledger.merkle against RFC 6962's reference tree, with the cases of transparency-dev/merkle's
public inclusion-proof test data (github.com/transparency-dev/merkle, testdata/inclusion).

Their vectors are SHA-256 with RFC 6962 prefixes over the eight reference leaves of the
certificate-transparency tests; each tree size and leaf index has a happy path and the same set
of corrupted variants (named after their files: ``wrong-leaf``, ``leafIdx-plus-@1``,
``treeSize-mul-@2``, ``modified-proof[i]-bit-@3``, ``preceding-garbage`` ...). The files
themselves are not copied here: the expected proofs come from RFC 6962 section 2.1.1's
recursive PATH definition written out below (an oracle independent of the level-by-level tree
under test), and the expected roots are the published reference roots (``test_merkle.py``).
Checked by hand against every file of their testdata/inclusion (commit 417fb0c3, 98 files):
all agree with ledger.merkle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from ledger.merkle import HashFunction, InclusionProofInvalid, MerkleTree, verify_inclusion
from tests.unit.test_merkle import CT_LEAVES, CT_ROOTS, WRONG_PROOF

SHA256 = HashFunction("sha256", lambda data: hashlib.sha256(data).digest(), 32)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1: MTH over raw leaves."""
    if len(leaves) == 1:
        return _h(b"\x00" + leaves[0])
    k = 1 << (len(leaves) - 1).bit_length() - 1
    return _h(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1: PATH(m, D[n]), leaf level first."""
    if len(leaves) == 1:
        return []
    k = 1 << (len(leaves) - 1).bit_length() - 1
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


CASES = [(size, index) for size in range(1, 9) for index in range(size)]


@pytest.mark.parametrize(("size", "index"), CASES)
def test_happy_path_matches_rfc6962(size: int, index: int) -> None:
    leaves = CT_LEAVES[:size]
    tree = MerkleTree([_h(b"\x00" + leaf) for leaf in leaves], hash_fn=SHA256)
    assert tree.root.hex() == CT_ROOTS[size - 1] == _mth(leaves).hex()
    path = tree.inclusion_proof(index)
    assert path == _path(index, leaves)
    verify_inclusion(
        leaf_hash_value=_h(b"\x00" + leaves[index]),
        index=index,
        tree_size=size,
        path=path,
        root=tree.root,
        hash_fn=SHA256,
    )


@dataclass(frozen=True)
class Proof:
    leaf_hash_value: bytes
    index: int
    tree_size: int
    path: tuple[bytes, ...]
    root: bytes

    def verify(self) -> None:
        verify_inclusion(**{**vars(self), "path": list(self.path)}, hash_fn=SHA256)


def _good(size: int, index: int) -> Proof:
    leaves = CT_LEAVES[:size]
    return Proof(
        leaf_hash_value=_h(b"\x00" + leaves[index]),
        index=index,
        tree_size=size,
        path=tuple(_path(index, leaves)),
        root=bytes.fromhex(CT_ROOTS[size - 1]),
    )


def _flip(p: Proof, i: int) -> Proof:
    path = tuple(h if j != i else bytes([h[0] ^ 0x08]) + h[1:] for j, h in enumerate(p.path))
    return replace(p, path=path)


#: transparency-dev's corruptions; a length error is also a refusal (``garbage`` is b"").
MUTATIONS: dict[str, Callable[[Proof], Proof]] = {
    "wrong-leaf": lambda p: replace(p, leaf_hash_value=_h(b"WrongLeaf")),
    "leafIdx-plus-@1": lambda p: replace(p, index=p.index + 1),
    "leafIdx-sub-@1": lambda p: replace(p, index=p.index - 1),
    "leafIdx-XOR-@2": lambda p: replace(p, index=p.index ^ 2),
    "treeSize-mul-@2": lambda p: replace(p, tree_size=p.tree_size * 2),
    "treeSize-div-@2": lambda p: replace(p, tree_size=p.tree_size // 2),
    "random-root": lambda p: replace(p, root=_h(b"random root")),
    "empty-root": lambda p: replace(p, root=_h(b"")),
    "preceding-root": lambda p: replace(p, path=(p.root, *p.path)),
    "trailing-root": lambda p: replace(p, path=(*p.path, p.root)),
    "preceding-garbage": lambda p: replace(p, path=(b"", *p.path)),
    "trailing-garbage": lambda p: replace(p, path=(*p.path, b"")),
    "inserted-component": lambda p: replace(p, path=(*p.path, _h(b"extra"))),
    "removed-component": lambda p: replace(p, path=p.path[:-1]),
    "modified-proof[0]-bit-@3": lambda p: _flip(p, 0),
    "modified-proof[1]-bit-@3": lambda p: _flip(p, 1),
    "modified-proof[2]-bit-@3": lambda p: _flip(p, 2),
}
REFUSED = (
    WRONG_PROOF[:-2] + r"|(leaf hash|root|path hash \d+) is 0 bytes, not a 32-byte sha256 hash)$"
)
#: Every corruption that changes the proof (a bit of a path hash the proof lacks does not).
CORRUPTIONS = [
    (size, index, name)
    for size, index in CASES
    for name, mutate in sorted(MUTATIONS.items())
    if mutate(_good(size, index)) != _good(size, index)
]


def test_every_kind_of_corruption_is_tried() -> None:
    assert len(CORRUPTIONS) > 400
    assert {name for _, _, name in CORRUPTIONS} == set(MUTATIONS)


@pytest.mark.parametrize(("size", "index", "mutation"), CORRUPTIONS)
def test_corrupted_proofs_are_refused(size: int, index: int, mutation: str) -> None:
    good = _good(size, index)
    good.verify()
    with pytest.raises(InclusionProofInvalid, match=REFUSED):
        MUTATIONS[mutation](good).verify()


@pytest.mark.parametrize(
    ("leaf", "root"),
    [(b"", b""), (b"", _h(b"\x00")), (_h(b"\x00"), b"")],
    ids=["empty-root-and-leaf", "empty-leaf", "empty-root"],
)
def test_single_entry_with_empty_hashes_is_refused(leaf: bytes, root: bytes) -> None:
    """transparency-dev's testdata/inclusion/single-entry: a tree of one, no path."""
    with pytest.raises(InclusionProofInvalid, match=r"^(leaf hash|root) is 0 bytes, not a 32"):
        verify_inclusion(
            leaf_hash_value=leaf, index=0, tree_size=1, path=[], root=root, hash_fn=SHA256
        )
    verify_inclusion(  # matching-root-and-leaf
        leaf_hash_value=_h(b"\x00"), index=0, tree_size=1, path=[], root=_h(b"\x00"), hash_fn=SHA256
    )
