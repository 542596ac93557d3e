"""UnixFS files: the ONE streaming DAG builder (used by CID computation and the embedded store)
and the DAG readers (file bytes, block walk).

The builder reproduces Kubo's ``ipfs add --cid-version=1`` (checked against a real node):

* fixed-size chunker, 262144 bytes (``size-262144``); an empty file is one empty chunk;
* raw leaves (CIDv1, codec raw 0x55); a file of one chunk IS that raw block (no wrapper node);
* balanced layout, at most 174 links per node: the leftmost subtree is filled completely before
  the next one starts, and the tree grows a level whenever the current root is full;
* internal nodes are dag-pb (0x70) with UnixFS ``Data{Type=File, filesize, blocksizes[]}`` and
  links ``{Hash, Name="", Tsize}`` where Tsize is the cumulative size of the child's sub-DAG
  (the child's block plus everything below it);
* sha2-256 everywhere.

Streaming: :class:`FileDagBuilder` keeps at most one partial chunk plus, per tree level, the
pending links of the node being filled (<= 174 small records each). Blocks are handed to the
sink as soon as they exist, children always before their parent, so a store that writes what
it receives never holds a parent whose children are missing.

The balanced layout built bottom-up this way is exactly go-unixfs' ``balanced.Layout`` /
js-ipfs' ``balanced`` reducer: leaves are grouped 174 at a time into level-1 nodes, those 174
at a time into level-2 nodes, and so on until one node is left; a trailing group with a single
member still gets its own parent (only a one-chunk *file* collapses to its leaf).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from ledger.store._dagpb import PBLink, decode_node, encode_node
from ledger.store._multiformats import (
    DAG_PB,
    RAW,
    Cid,
    decode_varint,
    encode_varint,
    v1_text,
)
from ledger.store.errors import ContentCorrupt, ContentNotFound, InvalidCid, StoreError

CHUNK_SIZE = 262144  # Kubo's default chunker: size-262144
MAX_LINKS = 174  # Kubo's default helpers.DefaultLinksPerBlock

# UnixFS Data.DataType
T_RAW = 0
T_DIRECTORY = 1
T_FILE = 2
T_METADATA = 3
T_SYMLINK = 4
T_HAMT_SHARD = 5
_TYPE_NAMES = {
    T_RAW: "raw",
    T_DIRECTORY: "directory",
    T_FILE: "file",
    T_METADATA: "metadata",
    T_SYMLINK: "symlink",
    T_HAMT_SHARD: "HAMT shard",
}

BlockSink = Callable[[Cid, bytes | memoryview], None]
"""Receives every block as it is built. A memoryview is only valid during the call."""


# --------------------------------------------------------------------------------------------
# UnixFS Data protobuf (proto2; Kubo writes fields in number order, blocksizes NOT packed)


def encode_file_data(filesize: int, blocksizes: Iterable[int]) -> bytes:
    """UnixFS ``Data{Type=File, filesize, blocksizes...}`` of an internal file node."""
    out = bytearray(b"\x08" + encode_varint(T_FILE))  # field 1 Type
    out += b"\x18" + encode_varint(filesize)  # field 3 filesize
    for size in blocksizes:
        out += b"\x20" + encode_varint(size)  # field 4 blocksizes, one key per value
    return bytes(out)


@dataclass(frozen=True, slots=True)
class UnixFsData:
    type: int
    data: bytes
    filesize: int | None
    blocksizes: tuple[int, ...]


def decode_unixfs_data(buf: bytes) -> UnixFsData:
    """Decode UnixFS ``Data``; unknown/other fields are skipped. Raises :class:`ValueError`."""
    view = memoryview(buf)
    pos = 0
    type_: int | None = None
    data = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    while pos < len(view):
        key, pos = decode_varint(view, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = decode_varint(view, pos)
            if field == 1:
                type_ = value
            elif field == 3:
                filesize = value
            elif field == 4:
                blocksizes.append(value)
        elif wire == 2:
            length, pos = decode_varint(view, pos)
            end = pos + length
            if end > len(view):
                raise ValueError("UnixFS field runs past the end")
            if field == 2:
                data = bytes(view[pos:end])
            elif field == 4:  # tolerate a packed encoding on read
                inner = view[pos:end]
                ipos = 0
                while ipos < len(inner):
                    value, ipos = decode_varint(inner, ipos)
                    blocksizes.append(value)
            pos = end
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(view):
            raise ValueError("UnixFS field runs past the end")
    if type_ is None:
        raise ValueError("UnixFS Data without Type")
    return UnixFsData(type_, data, filesize, tuple(blocksizes))


# --------------------------------------------------------------------------------------------
# builder


@dataclass(frozen=True, slots=True)
class _Link:
    cid: bytes  # binary CID of the child
    tsize: int  # cumulative size of the child's sub-DAG (all its blocks' bytes)
    filesize: int  # file bytes under the child


class FileDagBuilder:
    """Streaming builder of a Kubo-compatible UnixFS file DAG (see the module docstring).

    Feed bytes of any size with :meth:`write`, then call :meth:`finish` once for the root CID.
    """

    def __init__(
        self,
        sink: BlockSink | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
        max_links: int = MAX_LINKS,
    ) -> None:
        if chunk_size < 1 or max_links < 2:
            raise ValueError("chunk_size must be >= 1 and max_links >= 2")
        self._sink = sink
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._pending = bytearray()  # the partial chunk, < chunk_size bytes
        self._levels: list[list[_Link]] = [[]]  # levels[i]: links of the level-(i+1) node
        self._leaves = 0
        self._size = 0
        self._root: Cid | None = None

    @property
    def size(self) -> int:
        """File bytes written so far."""
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._root is not None:
            raise RuntimeError("write() after finish()")
        view = memoryview(data).cast("B")
        self._size += len(view)
        size = self._chunk_size
        if self._pending:
            take = size - len(self._pending)
            self._pending += view[:take]
            view = view[take:]
            if len(self._pending) < size:
                return
            self._add_leaf(bytes(self._pending))
            self._pending.clear()
        while len(view) >= size:  # whole chunks straight from the caller's buffer, no copy
            self._add_leaf(view[:size])
            view = view[size:]
        self._pending += view

    def finish(self) -> Cid:
        """Flush the last chunk and the pending nodes; return the root CID (idempotent)."""
        if self._root is not None:
            return self._root
        if self._pending or self._leaves == 0:  # an empty file is one empty raw leaf
            self._add_leaf(bytes(self._pending))
            self._pending.clear()
        levels = self._levels
        top = max(i for i, links in enumerate(levels) if links)
        for i in range(top):
            if levels[i]:
                levels[i + 1].append(self._add_node(levels[i]))
                levels[i].clear()
        links = levels[top]
        if len(links) == 1:
            # The root is the only link of the top level: a full node, or the single leaf of a
            # one-chunk file (Kubo then returns the raw block itself).
            root = Cid.from_bytes(links[0].cid)
        else:
            root = Cid.from_bytes(self._add_node(links).cid)
        self._root = root
        self._levels = [[]]
        return root

    # -- internals ---------------------------------------------------------------------------

    def _add_leaf(self, chunk: bytes | memoryview) -> None:
        cid = Cid.for_block(RAW, chunk)
        if self._sink is not None:
            self._sink(cid, chunk)
        self._leaves += 1
        self._push(0, _Link(cid.to_bytes(), len(chunk), len(chunk)))

    def _push(self, level: int, link: _Link) -> None:
        levels = self._levels
        while True:
            if level == len(levels):
                levels.append([])
            links = levels[level]
            links.append(link)
            if len(links) < self._max_links:
                return
            link = self._add_node(links)  # the node is full: seal it, go one level up
            links.clear()
            level += 1

    def _add_node(self, links: list[_Link]) -> _Link:
        filesize = sum(link.filesize for link in links)
        data = encode_file_data(filesize, (link.filesize for link in links))
        block = encode_node([PBLink(link.cid, "", link.tsize) for link in links], data)
        cid = Cid.for_block(DAG_PB, block)
        if self._sink is not None:
            self._sink(cid, block)
        return _Link(cid.to_bytes(), len(block) + sum(link.tsize for link in links), filesize)


Chunks = Iterable[bytes | bytearray | memoryview]


def single_leaf(chunks: Chunks) -> bytes | None:
    """The file's bytes if ``chunks`` is a tuple of exactly one ``bytes`` of at most one chunk,
    else None. Such a file is one raw leaf (CID: raw codec + sha2-256 of the bytes, no wrapper
    node), which :func:`build_file` and the embedded store then make without the builder (most
    documents are small: the builder's per-file set-up would cost more than hashing them).

    Only ``bytes`` qualifies: it cannot change under us, and the sink may keep it as the block.
    """
    if type(chunks) is tuple and len(chunks) == 1:
        data = chunks[0]
        if type(data) is bytes and len(data) <= CHUNK_SIZE:
            return data
    return None


def single_leaf_text(data: bytes) -> str:
    """The CID string (CIDv1 base32) of a file of at most one chunk: its raw leaf's CID."""
    return v1_text(RAW, hashlib.sha256(data).digest())


def build_file(chunks: Chunks, sink: BlockSink | None = None) -> Cid:
    """Build the DAG of the concatenation of ``chunks`` (any sizes); return the root CID."""
    data = single_leaf(chunks)
    if data is not None:  # fast path; the same leaf FileDagBuilder makes (tests compare them)
        cid = Cid.for_block(RAW, data)
        if sink is not None:
            sink(cid, data)
        return cid
    builder = FileDagBuilder(sink)
    for chunk in chunks:
        builder.write(chunk)
    return builder.finish()


def read_chunks(path: str | PathLike[str]) -> Iterator[bytes]:
    """A file's contents, one chunk at a time (OSError propagates)."""
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


# --------------------------------------------------------------------------------------------
# readers

BlockLoader = Callable[[Cid], bytes]
"""Returns the block of a CID, already verified against it (or raises)."""


def _decode_pb(cid: Cid, block: bytes) -> tuple[list[Cid], UnixFsData | None]:
    try:
        node = decode_node(block)
        children = [Cid.from_bytes(link.hash) for link in node.links]
        fsdata = decode_unixfs_data(node.data) if node.data is not None else None
    except (ValueError, InvalidCid) as exc:
        raise ContentCorrupt(f"malformed dag-pb block {cid}: {exc}", cid=str(cid)) from None
    return children, fsdata


def iter_file(load: BlockLoader, cid: Cid) -> Iterator[bytes]:
    """Yield the bytes of the UnixFS file (or raw block) ``cid``, in order, block by block.

    Every structural claim is checked: blocksizes against the bytes each child really yields,
    and filesize against the total.
    """
    block = load(cid)
    if cid.codec == RAW:
        yield block
        return
    if cid.codec != DAG_PB:
        raise StoreError(f"{cid}: unsupported codec {cid.codec_name} (expected raw or dag-pb)")
    children, fsdata = _decode_pb(cid, block)
    if fsdata is None:
        raise ContentCorrupt(f"dag-pb block {cid} has no UnixFS data", cid=str(cid))
    if fsdata.type not in (T_FILE, T_RAW):
        kind = _TYPE_NAMES.get(fsdata.type, str(fsdata.type))
        raise StoreError(f"{cid} is a UnixFS {kind}, not a file")
    if children and len(fsdata.blocksizes) != len(children):
        raise ContentCorrupt(
            f"{cid}: {len(children)} links but {len(fsdata.blocksizes)} blocksizes", cid=str(cid)
        )
    total = len(fsdata.data)
    if fsdata.data:
        yield fsdata.data
    for child, expected in zip(children, fsdata.blocksizes, strict=False):
        got = 0
        for piece in iter_file(load, child):
            got += len(piece)
            yield piece
        if got != expected:
            raise ContentCorrupt(
                f"{cid}: child {child} has {got} bytes, blocksizes says {expected}", cid=str(cid)
            )
        total += got
    if fsdata.filesize is not None and total != fsdata.filesize:
        raise ContentCorrupt(f"{cid}: {total} bytes, filesize says {fsdata.filesize}", cid=str(cid))


def iter_content(load: BlockLoader, root: Cid) -> Iterator[bytes]:
    """:func:`iter_file` as a store reads it: a block missing below ``root`` makes the content
    incomplete (:class:`ContentNotFound` naming the missing block); ``root`` missing, not
    found."""
    try:
        yield from iter_file(load, root)
    except ContentNotFound as exc:
        if exc.cid == str(root):
            raise
        raise ContentNotFound(f"content {root} is incomplete: {exc}", cid=exc.cid) from None


def iter_blocks(load: BlockLoader, cid: Cid) -> Iterator[tuple[Cid, bytes]]:
    """Every block of the DAG under ``cid``, depth-first pre-order (root first, then each link
    in order) - the order a CAR file lists them in."""
    stack = [cid]
    while stack:
        current = stack.pop()
        block = load(current)
        yield current, block
        if current.codec == DAG_PB:
            children, _ = _decode_pb(current, block)
            stack.extend(reversed(children))
        elif current.codec != RAW:
            raise StoreError(f"{current}: unsupported codec {current.codec_name}")
