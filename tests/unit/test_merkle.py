"""RFC 6962 Merkle trees: known answers (SHA-256 test vectors), shape and inclusion proofs."""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.merkle import (
    SM3,
    HashFunction,
    InclusionProofInvalid,
    MerkleError,
    MerkleTree,
    leaf_hash,
    node_hash,
    verify_inclusion,
)

SHA256 = HashFunction("sha256", lambda data: hashlib.sha256(data).digest(), 32)


# The leaves and roots of the RFC 6962 reference tests (certificate-transparency merkle tests).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(1, 9))
def test_rfc6962_reference_roots(size: int) -> None:
    leaves = [leaf_hash(x, hash_fn=SHA256) for x in CT_LEAVES[:size]]
    assert MerkleTree(leaves, hash_fn=SHA256).root.hex() == CT_ROOTS[size - 1]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert MerkleTree([], hash_fn=SHA256).root == hashlib.sha256(b"").digest()
    assert MerkleTree([]).root == SM3.digest(b"")


def _recursive_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << (len(leaves) - 1).bit_length() - 1
    return node_hash(_recursive_root(leaves[:k]), _recursive_root(leaves[k:]))


@given(st.integers(min_value=1, max_value=300))
def test_level_building_matches_the_recursive_definition(size: int) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = MerkleTree(leaves)
    assert tree.root == _recursive_root(leaves)
    for index in range(size):
        path = tree.inclusion_proof(index)
        assert len(path) <= math.ceil(math.log2(size)) if size > 1 else path == []
        verify_inclusion(
            leaf_hash_value=leaves[index], index=index, tree_size=size, path=path, root=tree.root
        )


@given(st.integers(min_value=2, max_value=70), st.data())
def test_wrong_proofs_fail(size: int, data: st.DataObject) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = MerkleTree(leaves)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    path = tree.inclusion_proof(index)
    good = {
        "leaf_hash_value": leaves[index],
        "index": index,
        "tree_size": size,
        "path": path,
        "root": tree.root,
    }
    bad_cases = [
        {"leaf_hash_value": leaf_hash(b"other")},
        {"index": (index + 1) % size},
        {"root": leaf_hash(b"root")},
        {"path": path[:-1]},
        {"path": [*path, leaves[0]]},
        {"tree_size": size * 2 + 1},
    ]
    if path:
        bad_cases.append({"path": [leaf_hash(b"x"), *path[1:]]})
    for change in bad_cases:
        with pytest.raises(InclusionProofInvalid, match=WRONG_PROOF):
            verify_inclusion(**{**good, **change})  # type: ignore[arg-type]


#: Every way a well-formed proof of the wrong tree or leaf fails.
WRONG_PROOF = (
    r"^(inclusion proof (does not lead to the root|is (longer|shorter) than the tree is deep)"
    r"|leaf index -?\d+ is outside a tree of \d+)$"
)


def test_index_outside_tree() -> None:
    tree = MerkleTree([leaf_hash(b"a")])
    with pytest.raises(IndexError, match=r"^leaf 1 is not in a tree of 1$"):
        tree.inclusion_proof(1)
    with pytest.raises(InclusionProofInvalid, match=r"^leaf index 1 is outside a tree of 1$"):
        verify_inclusion(leaf_hash_value=tree.root, index=1, tree_size=1, path=[], root=tree.root)


# --- hashes of the wrong length (they used to be compared, so b"" == b"" passed)


def test_an_empty_leaf_against_an_empty_root_is_refused() -> None:
    """The case that passed before: a tree of one, empty leaf hash, empty root, empty path."""
    with pytest.raises(
        InclusionProofInvalid, match=r"^leaf hash is 0 bytes, not a 32-byte sm3 hash$"
    ):
        verify_inclusion(leaf_hash_value=b"", index=0, tree_size=1, path=[], root=b"")


@pytest.mark.parametrize("length", [0, 1, 20, 31, 33, 64])
@pytest.mark.parametrize("where", ["leaf", "root", "path"])
def test_every_hash_must_have_the_hash_size(where: str, length: int) -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(5)]
    tree = MerkleTree(leaves)
    path = tree.inclusion_proof(4)
    odd = (b"\xab" * 64)[:length]
    arguments = {"leaf_hash_value": leaves[4], "index": 4, "tree_size": 5, "path": path}
    arguments["root"] = tree.root
    verify_inclusion(**arguments)  # type: ignore[arg-type]
    if where == "leaf":
        arguments["leaf_hash_value"] = odd
        expected = f"^leaf hash is {length} bytes, not a 32-byte sm3 hash$"
    elif where == "root":
        arguments["root"] = odd
        expected = f"^root is {length} bytes, not a 32-byte sm3 hash$"
    else:
        arguments["path"] = [path[0], odd]
        expected = f"^path hash 1 is {length} bytes, not a 32-byte sm3 hash$"
    with pytest.raises(InclusionProofInvalid, match=expected):
        verify_inclusion(**arguments)  # type: ignore[arg-type]


def test_the_size_is_the_hash_functions() -> None:
    """A SHA-256 tree takes 32-byte hashes; a 20-byte function's tree takes 20-byte ones."""
    sha1 = HashFunction("sha1", lambda data: hashlib.sha1(data).digest(), 20)
    leaf = leaf_hash(b"x", hash_fn=sha1)
    verify_inclusion(leaf_hash_value=leaf, index=0, tree_size=1, path=[], root=leaf, hash_fn=sha1)
    with pytest.raises(InclusionProofInvalid, match=r"^root is 32 bytes, not a 20-byte sha1 hash$"):
        verify_inclusion(
            leaf_hash_value=leaf, index=0, tree_size=1, path=[], root=bytes(32), hash_fn=sha1
        )


def test_a_tree_refuses_leaf_hashes_of_the_wrong_length() -> None:
    with pytest.raises(MerkleError, match=r"^leaf hash 1 is 3 bytes, not a 32-byte sm3 hash$"):
        MerkleTree([leaf_hash(b"a"), b"abc"])
