"""One behaviour suite, two backends: every ``content_store`` test runs on an EmbeddedStore (tmp
dir) and on a KuboStore talking to the real js-ipfs session node (Kubo RPC API)."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.store import (
    Cid,
    ContentNotFound,
    ContentStore,
    EmbeddedStore,
    InvalidCid,
    KuboStore,
    StoreBackend,
    cid_of,
    parse_cid,
)
from ledger.store._multiformats import b58encode
from tests._fixtures.ipfs import IpfsNode
from tests.unit.store._data import CHUNK, KNOWN_CIDS, MAX_LINKS, payload

# Node-side timeout of the Kubo store under test: how long js-ipfs takes to report a missing CID.
KUBO_TIMEOUT_S = 2.0
KUBO_HAS_TIMEOUT_S = 0.5
SLACK_S = 1.5

ROUND_TRIP_SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, (MAX_LINKS + 1) * CHUNK + 5]

INVALID_CIDS = [
    "",
    "not-a-cid",
    " bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk",  # one character short
    "BAFKREIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKU",  # base32 upper: not accepted
    "QmWfVY9y3xjsixTgbd9AorQxH7VtMpzfx2HaWtsoUYeca0",  # '0' is not base58
    "fdeadbeef",  # multibase hex: unsupported
]


@functools.cache
def _payload(size: int, seed: int = 0) -> bytes:
    return payload(size, seed)


def _fresh(size: int = 1000) -> bytes:
    """Content no test (and no earlier run against this node) ever stored."""
    return os.urandom(size)


@pytest.fixture(params=["embedded", "kubo"])
def content_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    if request.param == "embedded":
        yield EmbeddedStore(root=tmp_path / "store", fsync=False)
        return
    node: IpfsNode = request.getfixturevalue("ipfs_node")
    with KuboStore(
        api_url=node.api_url, timeout_s=KUBO_TIMEOUT_S, has_timeout_s=KUBO_HAS_TIMEOUT_S
    ) as store:
        yield store


def _missing_budget(store: StoreBackend) -> float:
    return (store.timeout_s if isinstance(store, KuboStore) else 0.0) + SLACK_S


# --------------------------------------------------------------------------------------------


def test_is_a_content_store(content_store: StoreBackend) -> None:
    assert isinstance(content_store, ContentStore)
    assert content_store.healthy()


@pytest.mark.parametrize("size", ROUND_TRIP_SIZES, ids=lambda s: f"{s}B")
def test_round_trip(content_store: StoreBackend, size: int) -> None:
    data = _payload(size)
    cid = content_store.put(data)
    assert cid == cid_of(data) == KNOWN_CIDS[size]
    assert content_store.get(cid) == data
    assert b"".join(content_store.get_stream(cid)) == data
    assert content_store.has(cid)


def test_put_stream_and_put_file_give_the_same_cid(
    content_store: StoreBackend, tmp_path: Path
) -> None:
    data = _fresh(2 * CHUNK + 7)
    cid = cid_of(data)
    pieces = [data[:1], data[1:CHUNK], data[CHUNK : CHUNK + 5], data[CHUNK + 5 :]]
    assert content_store.put_stream(pieces) == cid
    path = tmp_path / "doc.bin"
    path.write_bytes(data)
    assert content_store.put_file(path) == cid
    assert content_store.get(cid) == data


def test_has_before_and_after_put(content_store: StoreBackend) -> None:
    data = _fresh()
    cid = cid_of(data)
    assert content_store.has(cid) is False
    assert content_store.put(data) == cid
    assert content_store.has(cid) is True


def test_other_spellings_of_a_cid(content_store: StoreBackend) -> None:
    """A ``Cid`` object and the base58btc ``z...`` spelling (js-ipfs's default) name the same
    content as the base32 string."""
    data = _fresh(CHUNK + 1)  # a dag-pb root
    cid = parse_cid(content_store.put(data))
    z_spelling = "z" + b58encode(cid.to_bytes())
    assert content_store.has(cid)
    assert content_store.has(z_spelling)
    assert content_store.get(z_spelling) == content_store.get(cid) == data


def test_missing_cid_is_content_not_found_quickly(content_store: StoreBackend) -> None:
    cid = cid_of(_fresh())
    for call in (
        content_store.get,
        content_store.get_stream,
        lambda c: list(content_store.blocks(c)),
    ):
        began = time.monotonic()
        with pytest.raises(ContentNotFound, match=r"^(block|content) \S+ not found") as caught:
            call(cid)
        assert caught.value.cid == cid
        assert time.monotonic() - began < _missing_budget(content_store)


def test_missing_cid_cannot_be_pinned(content_store: StoreBackend) -> None:
    cid = cid_of(_fresh())
    began = time.monotonic()
    with pytest.raises(ContentNotFound, match=r"^cannot pin \S+: content "):
        content_store.pin(cid)
    assert time.monotonic() - began < _missing_budget(content_store)
    assert cid not in content_store.pins()


@pytest.mark.parametrize("bad", INVALID_CIDS)
def test_invalid_cid_string(content_store: StoreBackend, bad: str) -> None:
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        content_store.get(bad)
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        content_store.get_stream(bad)
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        content_store.has(bad)
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        list(content_store.blocks(bad))
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        content_store.pin(bad)
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        content_store.unpin(bad)


def test_a_cid_must_be_a_string(content_store: StoreBackend) -> None:
    with pytest.raises(InvalidCid, match=r"^a CID must be a string, not bytes$"):
        content_store.get(b"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")  # type: ignore[arg-type]


def test_pin_unpin_pins(content_store: StoreBackend) -> None:
    data = _fresh()
    cid = content_store.put(data)
    content_store.pin(cid)
    content_store.pin(cid)  # idempotent
    assert cid in content_store.pins()
    assert content_store.pins() == sorted(content_store.pins())
    assert content_store.unpin(cid) is True
    assert cid not in content_store.pins()
    assert content_store.unpin(cid) is False
    assert content_store.get(cid) == data  # unpinning deletes nothing (no GC ran)


def test_pins_are_cidv1_base32(content_store: StoreBackend) -> None:
    cid = content_store.put(_fresh(CHUNK + 1))
    content_store.pin(cid)
    try:
        assert all(p.startswith("b") for p in content_store.pins())
    finally:
        content_store.unpin(cid)


def test_unpin_of_a_never_pinned_cid(content_store: StoreBackend) -> None:
    assert content_store.unpin(cid_of(_fresh())) is False


def _block_cids(store: StoreBackend, cid: str) -> list[Cid]:
    return [Cid.from_bytes(block_cid) for block_cid, _ in store.blocks(cid)]


@pytest.mark.parametrize("size", [3, CHUNK, 2 * CHUNK + 5], ids=lambda s: f"{s}B")
def test_remove_takes_the_pin_and_every_block(content_store: StoreBackend, size: int) -> None:
    cid = content_store.put(_fresh(size))
    content_store.pin(cid)
    blocks = _block_cids(content_store, cid)
    assert len(blocks) == (1 if size <= CHUNK else 4)
    assert content_store.remove(cid) is True
    assert cid not in content_store.pins()
    assert [b for b in blocks if content_store.has(b)] == []
    started = time.monotonic()
    with pytest.raises(ContentNotFound, match=cid):
        content_store.get(cid)
    assert time.monotonic() - started < _missing_budget(content_store)
    assert content_store.remove(cid) is False  # gone: nothing left to remove


def test_remove_keeps_other_content(content_store: StoreBackend) -> None:
    kept, removed = _fresh(CHUNK + 7), _fresh(CHUNK + 7)
    kept_cid, removed_cid = content_store.put(kept), content_store.put(removed)
    assert content_store.remove(removed_cid) is True
    assert content_store.get(kept_cid) == kept
    assert content_store.has(kept_cid)


def test_remove_of_content_never_stored(content_store: StoreBackend) -> None:
    assert content_store.remove(cid_of(_fresh())) is False


def test_remove_of_an_invalid_cid(content_store: StoreBackend) -> None:
    with pytest.raises(
        InvalidCid, match=r"^unsupported CID 'not-a-cid': expected CIDv1 base32 'b\.\.\.' "
    ):
        content_store.remove("not-a-cid")


# --------------------------------------------------------------------------------------------
# both backends at once


@pytest.fixture
def both(tmp_path: Path, ipfs_node: IpfsNode) -> Iterator[tuple[EmbeddedStore, KuboStore]]:
    with KuboStore(api_url=ipfs_node.api_url, timeout_s=KUBO_TIMEOUT_S) as kubo:
        yield EmbeddedStore(root=tmp_path / "store", fsync=False), kubo


@pytest.mark.parametrize(
    "size", [0, CHUNK + 1, 3 * CHUNK + 5, (MAX_LINKS + 1) * CHUNK + 5], ids=lambda s: f"{s}B"
)
def test_blocks_are_the_same_on_both_backends(
    both: tuple[EmbeddedStore, KuboStore], ipfs_node: IpfsNode, size: int
) -> None:
    embedded, kubo = both
    data = _payload(size, seed=7)
    cid = embedded.put(data)
    assert kubo.put(data) == cid
    ours = list(embedded.blocks(cid))
    theirs = list(kubo.blocks(cid))
    assert ours == theirs
    # CAR order: the root, then `refs -r` (depth-first, links in order)
    assert [str(Cid.from_bytes(c)) for c, _ in theirs] == [cid, *ipfs_node.refs(cid)]
    assert b"".join(block for c, block in ours if Cid.from_bytes(c).codec_name == "raw") == data
