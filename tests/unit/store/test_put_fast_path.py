"""The small-document fast paths (one raw leaf, hand-written base32, plain-os block writes) give
exactly what the general machinery gives, and keep the store's write guarantees."""

from __future__ import annotations

import base64
import itertools
import os
from pathlib import Path

import pytest

from ledger.store import EmbeddedStore, cid_of, parse_cid
from ledger.store import embedded as embedded_module
from ledger.store._multiformats import DAG_PB, RAW, Cid, b32encode, v1_text
from ledger.store._unixfs import FileDagBuilder, build_file, single_leaf, single_leaf_text
from tests.unit.store._data import CHUNK, KNOWN_CIDS, payload

SIZES = [0, 1, 1100, CHUNK - 1, CHUNK, CHUNK + 1]


def _builder_cid(data: bytes) -> str:
    builder = FileDagBuilder()
    builder.write(data)
    return str(builder.finish())


def _tmp_files(store: EmbeddedStore) -> list[Path]:
    return list((store.root / "blocks").rglob(".tmp-*"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_single_leaf_cid_is_the_builders(size: int) -> None:
    data = payload(size)  # seed 0: the payloads of KNOWN_CIDS
    expected = _builder_cid(data)
    assert (single_leaf((data,)) is not None) == (size <= CHUNK)
    if size <= CHUNK:
        assert single_leaf_text(data) == expected
    assert str(build_file((data,))) == expected
    assert cid_of(data) == expected
    if size in KNOWN_CIDS:
        assert expected == KNOWN_CIDS[size]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_build_file_fast_path_hands_the_same_blocks_to_the_sink(size: int) -> None:
    data = payload(size, seed=size)
    fast: list[tuple[Cid, bytes]] = []
    general: list[tuple[Cid, bytes]] = []
    build_file((data,), lambda cid, block: fast.append((cid, bytes(block))))
    builder = FileDagBuilder(lambda cid, block: general.append((cid, bytes(block))))
    builder.write(data)
    builder.finish()
    assert fast == general


def test_only_one_immutable_chunk_takes_the_fast_path() -> None:
    assert single_leaf((b"abc",)) == b"abc"
    assert single_leaf((bytearray(b"abc"),)) is None
    assert single_leaf((memoryview(b"abc"),)) is None
    assert single_leaf((b"a", b"bc")) is None
    assert single_leaf([b"abc"]) is None


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_put_matches_the_builder_and_writes_the_block_in_its_shard(
    tmp_path: Path, size: int
) -> None:
    store = EmbeddedStore(root=tmp_path / "s", deferred_sync=True)
    data = payload(size, seed=size)
    cid = store.put(data)
    assert cid == _builder_cid(data)
    assert store.put(bytearray(data)) == cid  # the general path agrees
    assert store.put(memoryview(data)) == cid
    if size <= CHUNK:
        path = tmp_path / "s" / "blocks" / cid[-3:-1] / cid
        assert path.read_bytes() == data
    assert store.get(cid) == data
    assert _tmp_files(store) == []


def test_b32encode_matches_the_standard_codec() -> None:
    for size in itertools.chain(range(80), (100, 1000)):
        data = os.urandom(size)
        assert b32encode(data) == base64.b32encode(data).decode().rstrip("=").lower()


def test_v1_text_is_str_of_the_cid() -> None:
    digest = bytes(range(32))
    for codec in (RAW, DAG_PB, 0x71, 0x300):
        cid = Cid(1, codec, digest)
        assert v1_text(codec, digest) == str(cid)
        assert parse_cid(str(cid)) == cid
        assert Cid.from_bytes(cid.to_bytes()) == cid


def test_a_leftover_temp_name_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EmbeddedStore(root=tmp_path / "s", prepare_shards=True)
    cid = cid_of(b"hello")
    shard = tmp_path / "s" / "blocks" / cid[-3:-1]  # made when the store was opened
    stale = shard / f".tmp-{os.getpid()}-0"
    stale.write_bytes(b"left by a crashed writer")
    monkeypatch.setattr(embedded_module, "_TMP_COUNTER", itertools.count())
    assert store.put(b"hello") == cid
    assert (shard / cid).read_bytes() == b"hello"
    assert stale.read_bytes() == b"left by a crashed writer"  # not ours: untouched


def test_a_failed_rename_leaves_neither_block_nor_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EmbeddedStore(root=tmp_path / "s")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk on fire"):
        store.put(b"hello")
    monkeypatch.undo()
    assert not store.has(cid_of(b"hello"))
    assert _tmp_files(store) == []
    assert store.put(b"hello") == cid_of(b"hello")


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = EmbeddedStore(root=tmp_path / "s")
    real_write = os.write

    def dribble(fd: int, data: bytes | memoryview) -> int:
        return real_write(fd, bytes(data[:7]))

    monkeypatch.setattr(os, "write", dribble)
    data = payload(1100)
    cid = store.put(data)
    monkeypatch.undo()
    assert store.get(cid) == data


def _count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return calls


@pytest.mark.parametrize(
    ("options", "fsyncs"),
    [({}, 2), ({"fsync": False}, 0), ({"deferred_sync": True}, 0)],
    ids=["fsync", "no-fsync", "deferred"],
)
def test_durability_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, bool], fsyncs: int
) -> None:
    store = EmbeddedStore(root=tmp_path / "s", prepare_shards=True, **options)
    calls = _count_fsyncs(monkeypatch)
    store.put(b"a small document")  # file + its shard directory when fsync'ing
    assert len(calls) == fsyncs
    store.put(b"a small document")  # already stored: nothing written, nothing synced
    assert len(calls) == fsyncs
