"""The embedded store makes its 1,024 shard directories when it is opened (a marker file then
says they exist), so writing a block never has to mkdir; a shard that vanished is made again."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.store import EmbeddedStore, cid_of
from ledger.store import embedded as embedded_module

BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
ALL_SHARDS = {first + second for first in BASE32 for second in BASE32}


def _shards(root: Path) -> set[str]:
    return {p.name for p in (root / "blocks").iterdir() if p.is_dir()}


def _marker(root: Path) -> Path:
    return root / "blocks" / ".shards"


def _watch(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """Record the first argument of every ``os.<name>`` call (as a string)."""
    calls: list[str] = []
    real: Callable[..., object] = getattr(os, name)

    def watched(path: object, *args: object, **kwargs: object) -> object:
        calls.append(os.fspath(path) if isinstance(path, str | os.PathLike) else str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, name, watched)
    return calls


def test_every_shard_a_cid_can_name_is_made() -> None:
    assert set(embedded_module._SHARDS) == ALL_SHARDS
    for data in (b"", b"hello", os.urandom(100)):
        assert cid_of(data)[-3:-1] in ALL_SHARDS


@pytest.mark.parametrize(
    "options",
    [{}, {"fsync": False}, {"deferred_sync": True}],
    ids=["fsync", "no-fsync", "deferred"],
)
def test_a_new_store_has_every_shard_and_puts_never_mkdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, bool]
) -> None:
    root = tmp_path / "s"
    fsyncs = _watch(monkeypatch, "fsync")
    store = EmbeddedStore(root=root, prepare_shards=True, **options)
    assert _shards(root) == ALL_SHARDS
    assert _marker(root).is_file()
    assert len(fsyncs) == (1 if options == {} else 0)  # blocks/ once, before the marker
    mkdirs = _watch(monkeypatch, "mkdir")
    cids = [store.put(os.urandom(200)) for _ in range(300)]  # ~250 distinct shards
    store.sync()
    assert mkdirs == []
    assert all(store.get(cid) for cid in cids)
    assert (root / "blocks" / cids[0][-3:-1] / cids[0]).is_file()


def test_reopening_checks_only_the_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "s"
    EmbeddedStore(root=root, prepare_shards=True)
    mkdirs = _watch(monkeypatch, "mkdir")
    store = EmbeddedStore(root=root, prepare_shards=True)
    assert [path for path in mkdirs if path.startswith(str(root / "blocks") + "/")] == []
    store.put(b"hello")
    assert [path for path in mkdirs if path.startswith(str(root / "blocks") + "/")] == []


def test_a_store_without_the_marker_gets_its_missing_shards(tmp_path: Path) -> None:
    """A store written before shards were made up front: some shards, blocks in them."""
    root = tmp_path / "s"
    store = EmbeddedStore(root=root, prepare_shards=True)
    cid = store.put(b"kept")
    _marker(root).unlink()
    for shard in ALL_SHARDS - {cid[-3:-1]}:
        (root / "blocks" / shard).rmdir()
    reopened = EmbeddedStore(root=root, prepare_shards=True)
    assert _shards(root) == ALL_SHARDS
    assert _marker(root).is_file()
    assert reopened.get(cid) == b"kept"


def test_a_vanished_shard_is_made_again(tmp_path: Path) -> None:
    root = tmp_path / "s"
    store = EmbeddedStore(root=root, prepare_shards=True)
    cid = cid_of(b"hello")
    (root / "blocks" / cid[-3:-1]).rmdir()
    assert store.put(b"hello") == cid
    assert store.get(cid) == b"hello"
    assert not list((root / "blocks" / cid[-3:-1]).glob(".tmp-*"))


def test_a_vanished_blocks_directory_is_made_again(tmp_path: Path) -> None:
    root = tmp_path / "s"
    store = EmbeddedStore(root=root, prepare_shards=True)
    for shard in ALL_SHARDS:
        (root / "blocks" / shard).rmdir()
    _marker(root).unlink()
    (root / "blocks").rmdir()
    assert store.put(b"hello") == cid_of(b"hello")
    assert store.get(cid_of(b"hello")) == b"hello"


def test_shards_that_cannot_be_made_at_open_are_made_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making the shards is best effort (a read-only store still opens for reading)."""
    root = tmp_path / "s"
    real_mkdir = os.mkdir

    def refuse_shards(path: str, *args: object, **kwargs: object) -> None:
        if os.path.dirname(os.fspath(path)) == str(root / "blocks"):
            raise PermissionError(13, "read-only", path)
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", refuse_shards)
    store = EmbeddedStore(root=root, prepare_shards=True)
    monkeypatch.undo()
    assert _shards(root) == set()
    assert not _marker(root).exists()
    cid = store.put(b"hello")
    assert _shards(root) == {cid[-3:-1]}
    assert store.get(cid) == b"hello"
    EmbeddedStore(root=root, prepare_shards=True)  # the next open completes them
    assert _shards(root) == ALL_SHARDS and _marker(root).is_file()


def test_the_marker_is_not_a_block_or_a_pin(tmp_path: Path) -> None:
    store = EmbeddedStore(root=tmp_path / "s", prepare_shards=True)
    cid = store.put(b"hello")
    store.pin(cid)
    assert store.pins() == [cid]
    assert [p.name for p in (tmp_path / "s" / "blocks").glob("*/*")] == [cid]


def test_a_store_that_does_not_prepare_makes_each_shard_on_its_first_block(
    tmp_path: Path,
) -> None:
    store = EmbeddedStore(root=tmp_path / "s")
    assert not [p for p in (tmp_path / "s" / "blocks").iterdir()]
    cid = store.put(b"one block")
    assert [p.name for p in (tmp_path / "s" / "blocks").iterdir()] == [cid[-3:-1]]
    assert store.get(cid) == b"one block"
