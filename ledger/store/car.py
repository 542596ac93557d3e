"""CARv1 (Content Addressable aRchive, https://ipld.io/specs/transport/car/carv1/): export a
stored file's DAG as one file any IPFS node imports (``ipfs dag import``), and verify one.

Layout::

    varint(len(header)) header                      header: dag-cbor {"roots": [CID], "version": 1}
    varint(len(cid) + len(block)) cid block  ...    one section per block, binary CIDs

The header of a single-root CAR is one fixed dag-cbor shape, encoded (and decoded) by hand here
rather than with a CBOR library: a map of 2 entries whose keys are sorted the dag-cbor way
(length first: ``"roots"`` before ``"version"``), the root as CBOR tag 42 over a byte string of
``0x00`` (the identity multibase prefix) + the binary CID, and the integer 1. The reader accepts
any definite-length dag-cbor header of that shape (so also the ones Kubo / js-ipfs write) and
rejects anything else, including more than one root.

Reading never trusts the archive: :func:`verify_car` hash-checks every block against its CID,
checks the root is the one expected, and rebuilds the file by walking the DAG with the store's
own walker (``_unixfs.iter_file``, the one the stores use), which checks every UnixFS size claim.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol

from ledger.store._multiformats import SHA2_256, Cid, decode_varint, encode_varint, parse_cid
from ledger.store._unixfs import build_file, iter_blocks, iter_file
from ledger.store.errors import CarError, InvalidCid, StoreError

__all__ = ["BlockSource", "car_bytes", "car_of", "read_car", "verify_car", "write_car"]

_CID_TAG = 42  # dag-cbor tag of a CID (the byte string is 0x00 + binary CID)
_MAX_HEADER = 1 << 20  # a single-root header is ~60 bytes; refuse absurd lengths early
_MAX_SECTION = 1 << 26  # 64 MiB: far above any block an IPFS node would create or accept


class BlockSource(Protocol):
    """Anything with ``blocks(cid)`` in CAR order: ``EmbeddedStore``, ``KuboStore``."""

    def blocks(self, cid: str) -> Iterator[tuple[bytes, bytes]]: ...


# --------------------------------------------------------------------------------------------
# header: the one dag-cbor shape {"roots": [CID], "version": 1}


def _cbor_head(major: int, value: int) -> bytes:
    """A CBOR initial byte + argument, in the shortest form (as dag-cbor requires)."""
    if value < 24:
        return bytes([major << 5 | value])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | info]) + value.to_bytes(size, "big")
    raise ValueError("CBOR argument too large")


def _cbor_text(text: str) -> bytes:
    data = text.encode()
    return _cbor_head(3, len(data)) + data


def encode_header(root: Cid) -> bytes:
    """dag-cbor ``{"roots": [root], "version": 1}`` (keys in dag-cbor canonical order)."""
    cid_bytes = b"\x00" + root.to_bytes()
    return (
        _cbor_head(5, 2)  # map(2)
        + _cbor_text("roots")
        + _cbor_head(4, 1)  # array(1)
        + _cbor_head(6, _CID_TAG)  # tag(42)
        + _cbor_head(2, len(cid_bytes))  # bytes(n)
        + cid_bytes
        + _cbor_text("version")
        + _cbor_head(0, 1)  # 1
    )


class _CborReader:
    """Just enough CBOR to read a CAR header: definite lengths, no floats, no nesting beyond it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def head(self) -> tuple[int, int]:
        if self.pos >= len(self.data):
            raise ValueError("truncated CBOR")
        first = self.data[self.pos]
        self.pos += 1
        major, info = first >> 5, first & 0x1F
        if info < 24:
            return major, info
        sizes = {24: 1, 25: 2, 26: 4, 27: 8}
        if info not in sizes:
            raise ValueError("indefinite lengths / reserved values are not dag-cbor")
        end = self.pos + sizes[info]
        if end > len(self.data):
            raise ValueError("truncated CBOR")
        value = int.from_bytes(self.data[self.pos : end], "big")
        self.pos = end
        return major, value

    def take(self, length: int) -> bytes:
        end = self.pos + length
        if end > len(self.data):
            raise ValueError("truncated CBOR")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def text(self) -> str:
        major, length = self.head()
        if major != 3:
            raise ValueError("expected a text string")
        return self.take(length).decode()

    def cid(self) -> Cid:
        major, tag = self.head()
        if major != 6 or tag != _CID_TAG:
            raise ValueError("root is not a CID (tag 42)")
        major, length = self.head()
        raw = self.take(length)
        if major != 2 or raw[:1] != b"\x00":
            raise ValueError("malformed CID in header")
        return Cid.from_bytes(raw[1:])


def decode_header(data: bytes) -> Cid:
    """The single root of a CARv1 header; ValueError/InvalidCid if it is anything else."""
    reader = _CborReader(data)
    major, entries = reader.head()
    if major != 5:
        raise ValueError("header is not a map")
    roots: list[Cid] | None = None
    version: int | None = None
    seen: set[str] = set()
    for _ in range(entries):
        key = reader.text()
        if key in seen:
            raise ValueError(f"duplicate header key {key!r}")
        seen.add(key)
        if key == "roots":
            major, count = reader.head()
            if major != 4:
                raise ValueError("roots is not an array")
            roots = [reader.cid() for _ in range(count)]
        elif key == "version":
            major, version = reader.head()
            if major != 0:
                raise ValueError("version is not an unsigned integer")
        else:
            raise ValueError(f"unexpected header key {key!r}")
    if reader.pos != len(data):
        raise ValueError("trailing bytes after the header")
    if version != 1:
        raise ValueError(f"not a CARv1 (version {version})")
    if roots is None or len(roots) != 1:
        raise ValueError(f"expected exactly one root, got {0 if roots is None else len(roots)}")
    return roots[0]


# --------------------------------------------------------------------------------------------
# writing


def write_car(root_cid: str, blocks: Iterable[tuple[bytes, bytes]], out: BinaryIO) -> None:
    """Write a CARv1 with the single root ``root_cid`` and ``blocks`` (``(binary CID, bytes)``,
    written as given: pass them root first, depth-first, as ``store.blocks()`` yields them)."""
    header = encode_header(parse_cid(root_cid))
    out.write(encode_varint(len(header)))
    out.write(header)
    for cid_bytes, block in blocks:
        out.write(encode_varint(len(cid_bytes) + len(block)))
        out.write(cid_bytes)
        out.write(block)


def car_bytes(store: BlockSource, cid: str) -> bytes:
    """The CARv1 of the DAG of ``cid`` in ``store`` (blocks hash-verified as they are read)."""
    buffer = io.BytesIO()
    write_car(cid, store.blocks(cid), buffer)
    return buffer.getvalue()


def car_of(data: bytes) -> bytes:
    """The CARv1 of ``data`` stored as ``ipfs add --cid-version=1`` stores it: the bytes
    :func:`car_bytes` exports from either store once ``data`` is stored (header, then the DAG's
    blocks depth-first, root first), made in memory without a store. A proof checks a CAR it
    carries against this (one canonical CAR per file)."""
    blocks: dict[bytes, bytes] = {}

    def keep(block_cid: Cid, block: bytes | memoryview) -> None:
        blocks[block_cid.to_bytes()] = bytes(block)

    root = build_file((data,), keep)
    walk = iter_blocks(lambda block_cid: blocks[block_cid.to_bytes()], root)
    buffer = io.BytesIO()
    write_car(str(root), ((block_cid.to_bytes(), block) for block_cid, block in walk), buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# reading


def _cid_length(data: bytes, pos: int) -> int:
    """Length of the binary CID at ``data[pos:]`` (CIDv0: a bare sha2-256 multihash)."""
    if data[pos : pos + 2] == bytes((SHA2_256, 32)):
        return 34
    start = pos
    version, pos = decode_varint(data, pos)
    if version != 1:
        raise ValueError(f"unsupported CID version {version}")
    _codec, pos = decode_varint(data, pos)
    _hash, pos = decode_varint(data, pos)
    digest_length, pos = decode_varint(data, pos)
    return pos + digest_length - start


def _read_car(data: bytes) -> tuple[Cid, list[tuple[Cid, bytes]]]:
    data = bytes(data)
    try:
        header_length, pos = decode_varint(data)
        if header_length == 0 or header_length > _MAX_HEADER:
            raise ValueError(f"implausible header length {header_length}")
        if pos + header_length > len(data):
            raise ValueError("truncated header")
        root = decode_header(data[pos : pos + header_length])
        pos += header_length
        sections: list[tuple[Cid, bytes]] = []
        while pos < len(data):
            offset = pos
            length, pos = decode_varint(data, pos)
            end = pos + length
            if length == 0 or length > _MAX_SECTION:
                raise ValueError(f"implausible section length {length} at offset {offset}")
            if end > len(data):
                raise ValueError(f"truncated block section at offset {offset}")
            cid_end = pos + _cid_length(data, pos)
            if cid_end > end:
                raise ValueError(f"CID runs past its section at offset {offset}")
            sections.append((Cid.from_bytes(data[pos:cid_end]), data[cid_end:end]))
            pos = end
    except (ValueError, InvalidCid) as exc:
        raise CarError(f"malformed CAR: {exc}") from None
    return root, sections


def read_car(data: bytes) -> tuple[str, dict[bytes, bytes]]:
    """Parse a single-root CARv1: ``(root CID string, {binary CID: block})``.

    Structure only (malformed / truncated / several roots / unsupported CIDs: :class:`CarError`);
    blocks are NOT hash-checked here, :func:`verify_car` does that. The same CID twice with
    different bytes is a :class:`CarError` (at least one of them is a forgery).
    """
    root, sections = _read_car(data)
    blocks: dict[bytes, bytes] = {}
    for cid, block in sections:
        key = cid.to_bytes()
        if blocks.setdefault(key, block) != block:
            raise CarError(f"CAR holds two different blocks for {cid}")
    return str(root), blocks


def verify_car(data: bytes, expected_root: str) -> bytes:
    """Check a CAR and return the file it carries.

    * its single root must be ``expected_root`` (CIDv0/CIDv1 spellings of one CID are equal);
    * every block must hash to its CID (blocks outside the DAG too);
    * the DAG under the root must be complete and a well-formed UnixFS file (or raw block),
      every size claim true; its bytes are returned.

    Anything else: :class:`CarError`. ``expected_root`` malformed: InvalidCid.
    """
    expected = parse_cid(expected_root)
    root, sections = _read_car(data)
    if root.to_v1() != expected.to_v1():
        raise CarError(f"CAR root is {root}, expected {expected}")
    by_key: dict[tuple[int, bytes], bytes] = {}
    for cid, block in sections:
        if not cid.verify(block):
            raise CarError(f"CAR block {cid} does not match its hash")
        by_key[(cid.codec, cid.digest)] = block  # verified: duplicates are identical

    def load(cid: Cid) -> bytes:
        try:
            return by_key[(cid.codec, cid.digest)]
        except KeyError:
            raise CarError(f"CAR lacks block {cid} of the DAG of {root}") from None

    try:
        return b"".join(iter_file(load, root))
    except CarError:
        raise
    except StoreError as exc:  # ContentCorrupt (bad dag-pb / UnixFS sizes), not a file, ...
        raise CarError(f"CAR DAG of {root} is not a valid file: {exc}") from None
