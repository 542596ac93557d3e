"""dag-pb (multicodec 0x70) nodes: canonical encoding and strict decoding, by hand.

Schema (https://ipld.io/specs/codecs/dag-pb/spec/)::

    message PBLink { optional bytes Hash = 1; optional string Name = 2; optional uint64 Tsize = 3; }
    message PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }

The canonical byte form - the one whose sha2-256 is the CID Kubo and js-ipfs give - writes the
Links (field 2) BEFORE Data (field 1), and each link's fields in order Hash, Name, Tsize. A
protobuf library serialises fields in field-number order (Data first), so it would produce
different bytes and a different CID: that is why this is hand-written and no protobuf library
is used. Unixfs file links carry ``Name = ""`` explicitly (encoded as ``12 00``), checked against
a real node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.store._multiformats import decode_varint, encode_varint

_WIRE_VARINT = 0
_WIRE_LEN = 2


def _key(field: int, wire: int) -> bytes:
    return encode_varint(field << 3 | wire)


_LINK_HASH = _key(1, _WIRE_LEN)  # 0x0a
_LINK_NAME = _key(2, _WIRE_LEN)  # 0x12
_LINK_TSIZE = _key(3, _WIRE_VARINT)  # 0x18
_NODE_DATA = _key(1, _WIRE_LEN)  # 0x0a
_NODE_LINK = _key(2, _WIRE_LEN)  # 0x12


@dataclass(frozen=True, slots=True)
class PBLink:
    hash: bytes  # binary CID
    name: str | None = ""
    tsize: int | None = None


@dataclass(frozen=True, slots=True)
class PBNode:
    links: tuple[PBLink, ...]
    data: bytes | None


def _length_delimited(key: bytes, payload: bytes) -> bytes:
    return key + encode_varint(len(payload)) + payload


def encode_link(link: PBLink) -> bytes:
    out = _length_delimited(_LINK_HASH, link.hash)
    if link.name is not None:
        out += _length_delimited(_LINK_NAME, link.name.encode("utf-8"))
    if link.tsize is not None:
        out += _LINK_TSIZE + encode_varint(link.tsize)
    return out


def encode_node(links: Sequence[PBLink], data: bytes | None) -> bytes:
    """Canonical dag-pb bytes: every link (field 2) first, then Data (field 1)."""
    parts = [_length_delimited(_NODE_LINK, encode_link(link)) for link in links]
    if data is not None:
        parts.append(_length_delimited(_NODE_DATA, data))
    return b"".join(parts)


# --------------------------------------------------------------------------------------------
# decoding (strict: the fields of the schema only, Links before Data, no duplicates)


def _read_len(buf: memoryview, pos: int) -> tuple[memoryview, int]:
    length, pos = decode_varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise ValueError("length-delimited field runs past the end")
    return buf[pos:end], end


def _decode_link(buf: memoryview) -> PBLink:
    pos = 0
    hash_: bytes | None = None
    name: str | None = None
    tsize: int | None = None
    last = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field <= last:
            raise ValueError("PBLink fields out of order or repeated")
        last = field
        if field == 1 and wire == _WIRE_LEN:
            view, pos = _read_len(buf, pos)
            hash_ = bytes(view)
        elif field == 2 and wire == _WIRE_LEN:
            view, pos = _read_len(buf, pos)
            name = bytes(view).decode("utf-8")
        elif field == 3 and wire == _WIRE_VARINT:
            tsize, pos = decode_varint(buf, pos)
        else:
            raise ValueError(f"unexpected PBLink field {field} (wire type {wire})")
    if hash_ is None:
        raise ValueError("PBLink without Hash")
    return PBLink(hash_, name, tsize)


def decode_node(block: bytes | memoryview) -> PBNode:
    """Decode a dag-pb block; raise :class:`ValueError` if it is not canonical dag-pb."""
    buf = memoryview(block)
    pos = 0
    links: list[PBLink] = []
    data: bytes | None = None
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire != _WIRE_LEN or field not in (1, 2):
            raise ValueError(f"unexpected PBNode field {field} (wire type {wire})")
        view, pos = _read_len(buf, pos)
        if field == 2:
            if data is not None:
                raise ValueError("PBNode Links after Data")
            links.append(_decode_link(view))
        else:
            if data is not None:
                raise ValueError("PBNode with two Data fields")
            data = bytes(view)
    return PBNode(tuple(links), data)
