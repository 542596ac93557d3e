"""Our CIDs and blocks against a real IPFS node (js-ipfs serving the Kubo RPC API)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger.store import Cid, EmbeddedStore, cid_of, cid_of_file, cid_of_stream, parse_cid
from tests._fixtures.ipfs import IpfsNode, IpfsNodeError
from tests.unit.store._data import BIG_SIZE, CHUNK, KNOWN_CIDS, MAX_LINKS, SIZES, payload


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_cid_matches_the_node(ipfs_node: IpfsNode, size: int) -> None:
    data = payload(size)
    node_cid = ipfs_node.add(data)
    assert cid_of(data) == node_cid
    assert KNOWN_CIDS[size] == node_cid  # the constants the unit tests pin


@pytest.mark.slow
def test_cid_matches_the_node_for_a_depth_2_file(ipfs_node: IpfsNode, tmp_path: Path) -> None:
    """> 45 MiB: more than 174 chunks, so the root links to level-1 nodes (depth 2)."""
    assert BIG_SIZE > MAX_LINKS * CHUNK
    path = tmp_path / "big.bin"
    path.write_bytes(payload(BIG_SIZE))
    node_cid = ipfs_node.add_file(path)
    assert cid_of_file(path) == node_cid
    assert KNOWN_CIDS[BIG_SIZE] == node_cid
    root = ipfs_node.block_get(node_cid)
    assert parse_cid(node_cid).verify(root)
    # depth 2: the root's two links are dag-pb nodes, not raw leaves
    refs = ipfs_node.refs(node_cid)
    assert len(refs) == 185 + 2
    assert [parse_cid(r).codec_name for r in (refs[0], refs[175])] == ["dag-pb", "dag-pb"]


def test_random_content_matches_the_node(ipfs_node: IpfsNode) -> None:
    """Not the pinned payloads: fresh random bytes, several shapes."""
    for size in (7, CHUNK * 3 + 1):
        data = os.urandom(size)
        assert cid_of_stream([data[:100], data[100:]]) == ipfs_node.add(data)


@pytest.mark.parametrize("size", [1000, 2 * CHUNK + 7, MAX_LINKS * CHUNK + 1])
def test_embedded_get_equals_node_cat(ipfs_node: IpfsNode, tmp_path: Path, size: int) -> None:
    data = payload(size, seed=42)
    store = EmbeddedStore(root=tmp_path / "store")
    cid = store.put(data)
    assert ipfs_node.add(data) == cid
    assert store.get(cid) == ipfs_node.cat(cid) == data


def test_embedded_blocks_equal_the_nodes_blocks_in_order(
    ipfs_node: IpfsNode, tmp_path: Path
) -> None:
    data = payload((MAX_LINKS + 1) * CHUNK + 5, seed=9)
    store = EmbeddedStore(root=tmp_path / "store")
    cid = store.put(data)
    assert ipfs_node.add(data) == cid
    ours = [(str(Cid.from_bytes(raw)), block) for raw, block in store.blocks(cid)]
    assert [c for c, _ in ours] == [cid, *ipfs_node.refs(cid)]
    for block_cid, block in ours:
        if parse_cid(block_cid).codec_name == "dag-pb":
            assert ipfs_node.block_get(block_cid) == block


def test_node_pins_what_it_adds(ipfs_node: IpfsNode) -> None:
    cid = ipfs_node.add(b"pinned evidence")
    assert cid in ipfs_node.pins()


def test_cat_of_a_missing_cid_fails_fast(ipfs_node: IpfsNode) -> None:
    with pytest.raises(IpfsNodeError, match=r"^cat -> HTTP 500: .*request timed out"):
        ipfs_node.cat(cid_of(b"nobody ever added this"), timeout=1)
