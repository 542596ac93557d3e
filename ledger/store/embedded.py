"""The embedded content-addressed store (the default backend): blocks as files on disk.

Layout under ``root``::

    blocks/<xy>/<cid>    one file per block, named by its CIDv1 base32 string; <xy> is the
                         next-to-last two characters of that name (as Kubo's flatfs
                         ``next-to-last/2``: the first characters, 'bafk'/'bafy', never vary)
    blocks/.shards       marker: all 1,024 shard directories exist (created when the service's
                         store is first opened, so that writing a block never has to mkdir)
    pins/<cid>           one empty file per pinned root

Files are stored exactly as ``ipfs add --cid-version=1`` would (raw leaves, 262144-byte chunks,
balanced DAG of <= 174 links) by the same builder that computes CIDs, so a CID from this store
is the CID Kubo gives, and its blocks can be exported (``blocks()``, e.g. into a CAR file) and
imported into any IPFS node.

Guarantees:

* writes are atomic: each block goes to a temp file in its shard directory, is fsync'd, and is
  renamed over its final name (``os.replace``), so a crash never leaves a half block;
* blocks are written children first, parents after, the root last: a root that exists names a
  DAG that was completely written (``has`` relies on this);
* every block read is hashed and compared with its CID (``ContentCorrupt`` on mismatch).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import tempfile
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from ledger.store._multiformats import Cid, parse_cid
from ledger.store._unixfs import (
    Chunks,
    build_file,
    iter_blocks,
    iter_content,
    read_chunks,
    single_leaf,
    single_leaf_text,
)
from ledger.store.errors import ContentCorrupt, ContentNotFound, InvalidCid

CidLike = str | Cid

_TMP_COUNTER = itertools.count()
_TMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
)  # what tempfile.mkstemp uses


#: The shard of a block is two characters of its CIDv1 base32 name (RFC 4648, lower case).
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_SHARDS = tuple(first + second for first in _BASE32 for second in _BASE32)
#: Written in ``blocks/`` once every shard directory exists (after they are made durable).
_SHARDS_MARKER = ".shards"
_MARKER_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _as_cid(cid: CidLike) -> Cid:
    if isinstance(cid, Cid):
        return cid
    if isinstance(cid, str):
        return parse_cid(cid)
    raise InvalidCid(f"a CID must be a string, not {type(cid).__name__}")


class EmbeddedStore:
    """Content-addressed block store in a directory; implements ``ContentStore``."""

    def __init__(
        self,
        *,
        root: Path | str,
        fsync: bool = True,
        deferred_sync: bool = False,
        prepare_shards: bool = False,
    ) -> None:
        """Durability: by default each block is fsync'd before ``put`` returns.

        ``deferred_sync=True``: blocks are written and renamed into place without fsync, and
        :meth:`sync` makes everything written so far durable in one ``syncfs`` (one journal
        commit for many documents). The caller must call :meth:`sync` before it acknowledges
        anything that refers to those blocks (the service's group commit does). ``fsync=False``
        never syncs (caches and tests only).

        ``prepare_shards=True`` (the service's store): all 1,024 shard directories are made
        when the store is first opened, so writing a block never has to ``mkdir``; otherwise
        each is made on its first block (cheaper for a short-lived store, such as one a proof
        or a test builds a CAR in).
        """
        self.root = Path(root)
        self._blocks_dir = self.root / "blocks"
        self._pins_dir = self.root / "pins"
        self._fsync = fsync and not deferred_sync
        self._deferred = deferred_sync
        self._blocks_dir.mkdir(parents=True, exist_ok=True)
        self._pins_dir.mkdir(parents=True, exist_ok=True)
        self._blocks_str = os.fspath(self._blocks_dir)
        # shard name -> its directory, known to exist
        self._shard_dirs: dict[str, str] = self._prepare_shards() if prepare_shards else {}

    def __repr__(self) -> str:
        return f"EmbeddedStore(root={str(self.root)!r})"

    # -- writing -----------------------------------------------------------------------------

    def put(self, data: bytes | bytearray | memoryview) -> str:
        """Store ``data`` as a UnixFS file; return its root CID (CIDv1 base32)."""
        leaf = single_leaf((data,))
        if leaf is not None:  # hot path: one raw leaf, its CID string made once, no Cid object
            name = single_leaf_text(leaf)
            self._store_block(name, leaf)
            return name
        return self.put_stream((data,))

    def put_stream(self, chunks: Chunks) -> str:
        """Store the concatenation of ``chunks`` (any sizes), streaming; return the root CID."""
        return str(build_file(chunks, self._write_block))

    def put_file(self, path: str | PathLike[str]) -> str:
        """Store a file's contents, read one chunk at a time; return the root CID."""
        return str(build_file(read_chunks(path), self._write_block))

    def _block_path(self, cid: Cid) -> str:
        name = str(cid.to_v1())
        return os.path.join(self._blocks_str, name[-3:-1], name)

    def _write_block(self, cid: Cid, block: bytes | memoryview) -> None:
        self._store_block(str(cid.to_v1()), block)

    def _prepare_shards(self) -> dict[str, str]:
        """Every shard directory, created now if the marker does not say they all exist: a
        ``mkdir`` while documents are being written costs far more (it waits on the file
        system's journal behind their fsyncs) than 1,024 of them at once, here.

        Best effort: if a directory cannot be made (say, a read-only store), none is assumed to
        exist and each is made on first use, as :meth:`_shard_dir` does for a shard that
        vanished.
        """
        blocks = self._blocks_str
        directories = {shard: f"{blocks}/{shard}" for shard in _SHARDS}
        marker = os.path.join(self._blocks_str, _SHARDS_MARKER)
        if os.path.exists(marker):
            return directories
        try:
            for directory in directories.values():
                with contextlib.suppress(FileExistsError):
                    os.mkdir(directory)
            if self._fsync:
                _fsync_directory(self._blocks_str)  # their entries, before the marker
            fd = os.open(marker, _MARKER_FLAGS, 0o644)
            try:
                os.write(fd, b"%d shard directories, next-to-last/2\n" % len(_SHARDS))
            finally:
                os.close(fd)
        except OSError:
            return {}
        return directories

    def _shard_dir(self, shard: str) -> str:
        """The directory of shard ``shard`` (made already, when the store was opened)."""
        directory = self._shard_dirs.get(shard)
        if directory is None:
            directory = self._make_shard_dir(shard)
        return directory

    def _make_shard_dir(self, shard: str) -> str:
        """Create shard ``shard``'s directory (if it is missing) and remember it."""
        directory = os.path.join(self._blocks_str, shard)
        try:
            os.mkdir(directory)
        except FileExistsError:
            pass
        except FileNotFoundError:  # blocks/ itself is gone
            os.makedirs(directory, exist_ok=True)
        else:
            if self._fsync:
                _fsync_directory(self._blocks_str)
        self._shard_dirs[shard] = directory
        return directory

    def _store_block(self, name: str, block: bytes | memoryview) -> None:
        """Write ``block`` as ``blocks/<shard>/<name>`` (``name``: its CIDv1 string), atomically.

        Plain ``os`` calls on ``str`` paths rather than ``pathlib``/``tempfile``: this runs for
        every document, and for a small one their Python-level overhead cost several times the
        system calls themselves.
        """
        shard_name = name[-3:-1]
        shard = self._shard_dir(shard_name)
        path = f"{shard}/{name}"
        # os.access answers "absent" without raising (the usual case, cheaper than catching
        # stat's FileNotFoundError); a present block is kept if its size is right.
        if os.access(path, os.F_OK):
            try:
                if os.stat(path).st_size == len(block):
                    return  # already stored (content-addressed: same name, same bytes)
            except FileNotFoundError:
                pass
        # The temp name only has to be unique among live writers: pid + a process-wide counter
        # (next() on itertools.count is atomic), and O_EXCL turns any clash - say with a
        # leftover of a crashed process that had the same pid - into a retry with a new name.
        # Mode 0o600, as tempfile.mkstemp made them.
        remade = False
        while True:
            tmp = f"{shard}/.tmp-{os.getpid()}-{next(_TMP_COUNTER)}"
            try:
                fd = os.open(tmp, _TMP_FLAGS, 0o600)
            except FileExistsError:
                continue
            except FileNotFoundError:
                if remade:
                    raise
                # the shard directory vanished (removed by hand?): make it again, once
                self._make_shard_dir(shard_name)
                remade = True
                continue
            break
        try:
            try:
                written = os.write(fd, block)
                if written < len(block):  # short writes are legal; finish the block
                    view = memoryview(block)
                    while written < len(view):
                        written += os.write(fd, view[written:])
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if self._fsync:
            _fsync_directory(shard)

    def sync(self) -> None:
        """Make every block written so far durable (a no-op unless ``deferred_sync``)."""
        if self._deferred:
            _syncfs(self._blocks_dir)

    # -- reading -----------------------------------------------------------------------------

    def _load(self, cid: Cid) -> bytes:
        try:
            with open(self._block_path(cid), "rb") as handle:
                block = handle.read()
        except FileNotFoundError:
            raise ContentNotFound(f"block {cid} not found", cid=str(cid)) from None
        if not cid.verify(block):
            raise ContentCorrupt(f"block {cid} does not match its hash", cid=str(cid))
        return block

    def get(self, cid: CidLike) -> bytes:
        """The file bytes of ``cid``; every block is hash-verified on the way."""
        return b"".join(self.get_stream(cid))

    def get_stream(self, cid: CidLike) -> Iterator[bytes]:
        """The file bytes of ``cid`` block by block (lazy: errors surface while iterating)."""
        root = _as_cid(cid)
        if not os.path.exists(self._block_path(root)):
            raise ContentNotFound(f"content {root} not found", cid=str(root))
        return iter_content(self._load, root)

    def has(self, cid: CidLike) -> bool:
        """Whether the root block of ``cid`` is stored (hence, by write order, its whole DAG).

        Cheap: nothing is read or verified; ``get`` does that.
        """
        return os.path.exists(self._block_path(_as_cid(cid)))

    def blocks(self, cid: CidLike) -> Iterator[tuple[bytes, bytes]]:
        """``(binary CID, block bytes)`` of every block of the DAG, depth-first pre-order (root
        first, then each link in order: CAR order). Blocks are hash-verified."""
        root = _as_cid(cid)
        for block_cid, block in iter_blocks(self._load, root):
            yield block_cid.to_bytes(), block

    def healthy(self) -> bool:
        """Whether the store can take writes: a probe file can be created (and is removed) in
        its blocks directory. Never raises."""
        try:
            with tempfile.NamedTemporaryFile(prefix=".health-", dir=self._blocks_dir):
                return True
        except OSError:
            return False

    # -- pins --------------------------------------------------------------------------------

    def pin(self, cid: CidLike) -> None:
        """Mark ``cid`` as pinned (kept by any future garbage collection). Idempotent."""
        root = _as_cid(cid)
        if not self.has(root):
            raise ContentNotFound(f"cannot pin {root}: content not found", cid=str(root))
        (self._pins_dir / str(root.to_v1())).touch()

    def unpin(self, cid: CidLike) -> bool:
        """Remove the pin of ``cid``; return whether it was pinned."""
        try:
            (self._pins_dir / str(_as_cid(cid).to_v1())).unlink()
        except FileNotFoundError:
            return False
        return True

    def pins(self) -> list[str]:
        """Pinned root CIDs (CIDv1 base32), sorted."""
        return sorted(p.name for p in self._pins_dir.iterdir() if not p.name.startswith("."))

    # -- removing ----------------------------------------------------------------------------

    def remove(self, cid: CidLike) -> bool:
        """Remove the file ``cid``: its pin and every block of its DAG; return whether it was
        stored. The root block goes first, so a partly removed DAG is never reported as present
        (``has``). Blocks are not reference-counted: remove only content whose blocks no other
        stored file shares (the service removes only a ciphertext it has just written under a
        fresh key)."""
        root = _as_cid(cid)
        self.unpin(root)
        if not self.has(root):
            return False
        paths = [self._block_path(block_cid) for block_cid, _ in iter_blocks(self._load, root)]
        for path in paths:  # root first (pre-order)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if self._fsync:
            for directory in {os.path.dirname(path) for path in paths}:
                _fsync_directory(directory)
        return True


def _fsync_directory(directory: str) -> None:
    """Make the entries of ``directory`` (new names, renames) durable."""
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _syncfs(directory: Path) -> None:
    """``syncfs(2)`` on the file system holding ``directory``: data and metadata (renames
    included) of every file written there so far. Hand-written over ctypes because Python's
    ``os`` has ``sync()`` (every file system) but no ``syncfs``; elsewhere than Linux, sync()."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        if _LIBC is None or _LIBC.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syncfs.argtypes = [ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()
