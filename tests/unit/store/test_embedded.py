"""The embedded content-addressed store: round trips, verification, atomicity, pins."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from ledger.store import (
    Cid,
    ContentCorrupt,
    ContentNotFound,
    ContentStore,
    EmbeddedStore,
    InvalidCid,
    StoreError,
    cid_of,
    parse_cid,
)
from ledger.store._dagpb import decode_node
from ledger.store._multiformats import DAG_PB, RAW
from tests.unit.store._data import CHUNK, EMPTY_CID, HELLO_CIDV0, KNOWN_CIDS, MAX_LINKS, payload

ROUND_TRIP_SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, MAX_LINKS * CHUNK, MAX_LINKS * CHUNK + 1]


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(root=tmp_path / "store")


def _block_files(store: EmbeddedStore) -> list[Path]:
    """The files in the shard directories (not ``blocks/.shards``)."""
    return sorted(p for p in (store.root / "blocks").glob("*/*") if p.is_file())


def _block_path(store: EmbeddedStore, cid: str) -> Path:
    [path] = [p for p in _block_files(store) if p.name == cid]
    return path


@pytest.mark.parametrize("size", ROUND_TRIP_SIZES, ids=lambda s: f"{s}B")
def test_round_trip(store: EmbeddedStore, size: int) -> None:
    data = payload(size, seed=size)
    cid = store.put(data)
    assert cid == cid_of(data)
    assert store.has(cid)
    assert store.get(cid) == data
    assert b"".join(store.get_stream(cid)) == data


@pytest.mark.parametrize("size", [0, CHUNK + 1, MAX_LINKS * CHUNK + 1])
def test_put_returns_the_kubo_cid(store: EmbeddedStore, size: int) -> None:
    assert store.put(payload(size)) == KNOWN_CIDS[size]


def test_put_stream_and_put_file(store: EmbeddedStore, tmp_path: Path) -> None:
    data = payload(2 * CHUNK + 7)
    pieces = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    assert store.put_stream(pieces) == KNOWN_CIDS[len(data)]
    path = tmp_path / "doc.bin"
    path.write_bytes(data)
    assert store.put_file(path) == KNOWN_CIDS[len(data)]
    assert store.get(KNOWN_CIDS[len(data)]) == data


def test_every_block_is_stored_once_and_named_by_its_hash(store: EmbeddedStore) -> None:
    data = payload((MAX_LINKS + 1) * CHUNK + 5)
    cid = store.put(data)
    store.put(data)  # idempotent
    files = _block_files(store)
    # 176 leaves + 2 level-1 nodes + the root
    assert len(files) == 176 + 2 + 1
    for path in files:
        block_cid = parse_cid(path.name)
        assert block_cid.verify(path.read_bytes())
        assert path.parent.name == path.name[-3:-1]
    assert {path.name for path in files} >= {cid}


def test_blocks_in_dag_order(store: EmbeddedStore) -> None:
    data = payload((MAX_LINKS + 1) * CHUNK + 5)
    cid = store.put(data)
    blocks = list(store.blocks(cid))
    assert len(blocks) == 179
    cids = [Cid.from_bytes(raw) for raw, _ in blocks]
    assert str(cids[0]) == cid
    assert all(c.verify(block) for c, (_, block) in zip(cids, blocks, strict=True))
    # pre-order: root, first level-1 node, its 174 leaves, second level-1 node, its 2 leaves
    assert [c.codec for c in cids[:2]] == [DAG_PB, DAG_PB]
    assert [c.codec for c in cids[2:176]] == [RAW] * 174
    assert cids[176].codec == DAG_PB
    assert [c.codec for c in cids[177:]] == [RAW, RAW]
    root_links = [link.hash for link in decode_node(blocks[0][1]).links]
    assert root_links == [blocks[1][0], blocks[176][0]]
    assert (
        b"".join(block for c, (_, block) in zip(cids, blocks, strict=True) if c.codec == RAW)
        == data
    )


def test_blocks_of_a_single_raw_block(store: EmbeddedStore) -> None:
    cid = store.put(b"abc")
    assert list(store.blocks(cid)) == [(parse_cid(cid).to_bytes(), b"abc")]


def test_empty_file(store: EmbeddedStore) -> None:
    assert store.put(b"") == EMPTY_CID
    assert store.get(EMPTY_CID) == b""
    assert _block_path(store, EMPTY_CID).read_bytes() == b""


# -------------------------------------------------------------------------------------------
# verification


def _flip_byte(path: Path, offset: int = 0) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(raw))


def test_flipped_byte_in_a_leaf_is_corrupt(store: EmbeddedStore) -> None:
    data = payload(2 * CHUNK + 7)
    cid = store.put(data)
    leaf = cid_of(data[CHUNK : 2 * CHUNK])
    _flip_byte(_block_path(store, leaf), 1000)
    with pytest.raises(ContentCorrupt, match=r"^block \S+ does not match its hash$") as info:
        store.get(cid)
    assert info.value.cid == leaf
    with pytest.raises(ContentCorrupt, match=r"^block \S+ does not match its hash$"):
        list(store.blocks(cid))


def test_flipped_byte_in_the_root_is_corrupt(store: EmbeddedStore) -> None:
    cid = store.put(payload(CHUNK + 1))
    _flip_byte(_block_path(store, cid), 5)
    with pytest.raises(ContentCorrupt, match=r"^block \S+ does not match its hash$"):
        store.get(cid)


def test_flipped_byte_in_a_single_raw_block_is_corrupt(store: EmbeddedStore) -> None:
    cid = store.put(b"a signed contract")
    _flip_byte(_block_path(store, cid))
    with pytest.raises(ContentCorrupt, match=r"^block \S+ does not match its hash$"):
        store.get(cid)


def test_missing_content(store: EmbeddedStore) -> None:
    absent = cid_of(b"never stored")
    assert not store.has(absent)
    with pytest.raises(ContentNotFound, match=r"^content \S+ not found$") as info:
        store.get(absent)
    assert info.value.cid == absent
    with pytest.raises(ContentNotFound, match=r"^block \S+ not found$"):
        list(store.blocks(absent))


def test_missing_leaf_is_not_found(store: EmbeddedStore) -> None:
    data = payload(2 * CHUNK + 7)
    cid = store.put(data)
    leaf = cid_of(data[:CHUNK])
    _block_path(store, leaf).unlink()
    with pytest.raises(
        ContentNotFound, match=r"^content \S+ is incomplete: block \S+ not found$"
    ) as info:
        store.get(cid)
    assert info.value.cid == leaf
    assert "incomplete" in str(info.value)


@pytest.mark.parametrize("bad", ["", "nope", "Qm123", EMPTY_CID.upper(), EMPTY_CID[:-2]])
def test_invalid_cid(store: EmbeddedStore, bad: str) -> None:
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        store.get(bad)
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        store.has(bad)
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        store.pin(bad)


def test_reads_a_cidv0_dag(store: EmbeddedStore) -> None:
    """A CIDv0 DAG (dag-pb leaf with inline data, as `ipfs add` without --cid-version=1 makes)."""
    block = bytes.fromhex("0a0b0802120568656c6c6f1805")  # js-ipfs' block for b"hello"
    cid = parse_cid(HELLO_CIDV0)
    store._write_block(cid, block)  # import a foreign block
    assert store.has(HELLO_CIDV0)
    assert store.get(HELLO_CIDV0) == b"hello"
    assert store.get(str(cid.to_v1())) == b"hello"


def test_directory_is_not_a_file(store: EmbeddedStore) -> None:
    block = bytes.fromhex("0a020801")  # PBNode{Data: UnixFS{Type=Directory}}
    cid = Cid.for_block(DAG_PB, block)
    store._write_block(cid, block)
    with pytest.raises(StoreError, match="directory"):
        store.get(str(cid))


def test_lying_blocksizes_are_corrupt(store: EmbeddedStore) -> None:
    """A validly-hashed node whose metadata disagrees with its children is rejected."""
    from ledger.store._dagpb import PBLink, encode_node
    from ledger.store._unixfs import encode_file_data

    leaf = store.put(b"12345")
    link = PBLink(parse_cid(leaf).to_bytes(), "", 5)
    block = encode_node([link, link], encode_file_data(11, [5, 6]))
    cid = Cid.for_block(DAG_PB, block)
    store._write_block(cid, block)
    with pytest.raises(ContentCorrupt, match=r"^\S+: child \S+ has 5 bytes, blocksizes says 6$"):
        store.get(str(cid))


# -------------------------------------------------------------------------------------------
# atomicity


def test_no_temp_files_are_left(store: EmbeddedStore) -> None:
    store.put(payload(3 * CHUNK))
    leftovers = [p for p in (store.root / "blocks").rglob(".tmp-*")]
    assert leftovers == []


def test_a_crash_while_writing_leaves_no_half_block(
    store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = payload(3 * CHUNK + 1)
    calls = 0
    real_replace = os.replace

    def crash_on_third(src: str, dst: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk on fire")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_third)
    with pytest.raises(OSError, match="disk on fire"):
        store.put(data)
    monkeypatch.undo()
    files = _block_files(store)
    assert len(files) == 2  # the two blocks renamed before the crash, complete
    for path in files:
        assert parse_cid(path.name).verify(path.read_bytes())
    assert not [p for p in (store.root / "blocks").rglob(".tmp-*")]
    root = cid_of(data)
    assert not store.has(root)  # the root is written last
    assert store.put(data) == root  # and a retry completes it
    assert store.get(root) == data


def test_put_repairs_a_truncated_block(store: EmbeddedStore) -> None:
    data = payload(1000)
    cid = store.put(data)
    path = _block_path(store, cid)
    path.write_bytes(data[:10])
    with pytest.raises(ContentCorrupt, match=r"^block \S+ does not match its hash$"):
        store.get(cid)
    store.put(data)
    assert store.get(cid) == data


# -------------------------------------------------------------------------------------------
# pins, protocol, persistence


def test_pins(store: EmbeddedStore) -> None:
    a = store.put(b"a")
    b = store.put(b"b")
    assert store.pins() == []
    store.pin(a)
    store.pin(b)
    store.pin(a)
    assert store.pins() == sorted([a, b])
    assert store.unpin(a) is True
    assert store.unpin(a) is False
    assert store.pins() == [b]
    with pytest.raises(ContentNotFound, match=r"^cannot pin \S+: content not found$"):
        store.pin(cid_of(b"not here"))


def test_is_a_content_store(store: EmbeddedStore) -> None:
    backend: ContentStore = store  # checked statically by mypy, too
    assert isinstance(backend, ContentStore)
    assert backend.get(backend.put(b"x")) == b"x"


def test_survives_reopening(tmp_path: Path) -> None:
    data = payload(CHUNK + 1)
    cid = EmbeddedStore(root=tmp_path / "s").put(data)
    assert EmbeddedStore(root=tmp_path / "s").get(cid) == data


def test_no_fsync_mode(tmp_path: Path) -> None:
    store = EmbeddedStore(root=tmp_path / "s", fsync=False)
    data = payload(CHUNK + 1)
    assert store.get(store.put(data)) == data


def test_block_file_content_is_the_block(store: EmbeddedStore) -> None:
    cid = store.put(b"hello")
    assert hashlib.sha256(_block_path(store, cid).read_bytes()).digest() == parse_cid(cid).digest
