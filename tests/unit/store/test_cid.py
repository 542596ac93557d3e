"""CID computation (Kubo `ipfs add --cid-version=1`) and CID parsing, without a node."""

from __future__ import annotations

import base64
import hashlib
import itertools
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import LedgerError
from ledger.store import Cid, InvalidCid, StoreError, cid_of, cid_of_file, cid_of_stream, parse_cid
from ledger.store._dagpb import PBLink, decode_node, encode_node
from ledger.store._multiformats import (
    DAG_PB,
    RAW,
    b32decode,
    b58decode,
    b58encode,
    decode_varint,
    encode_varint,
)
from ledger.store._unixfs import FileDagBuilder, encode_file_data
from tests.unit.store._data import (
    CHUNK,
    EMPTY_CID,
    HELLO_CIDV0,
    HELLO_CIDV1,
    HELLO_CIDV1_BASE58,
    KNOWN_CIDS,
    MAX_LINKS,
    payload,
)

# The root block js-ipfs built for 600000 zero bytes (block/get of its CID): three links to raw
# leaves (two full chunks, the same CID twice, then 75712 bytes), each `0a 24 <cid> 12 00 18
# <tsize>`, THEN the UnixFS data `08 02 18 <filesize> 20 <blocksize> x3` (blocksizes not packed).
ZEROS_600000_ROOT = bytes.fromhex(
    "122c0a24015512208a39d2abd3999ab73c34db2476849cddf303ce389b35826850f9a700589b4a90120018808010"
    "122c0a24015512208a39d2abd3999ab73c34db2476849cddf303ce389b35826850f9a700589b4a90120018808010"
    "122c0a24015512207b2f04e83023d52cfd751171662cad5bcc30c73ca9a0c5b5ec2f438a6af7f747120018c0cf04"
    "0a12080218c0cf24208080102080801020c0cf04"
)
ZEROS_600000_CID = "bafybeib7pcuusxw7atqqc4apxvkezssdjbqkkhymjpo5x7bsj5sytn2ph4"


# -------------------------------------------------------------------------------------------
# known CIDs (values a real node gave; re-checked live in tests/integration/store)


def test_empty_file_is_the_empty_raw_block() -> None:
    assert cid_of(b"") == EMPTY_CID
    assert cid_of_stream([]) == EMPTY_CID
    assert cid_of_stream([b"", b""]) == EMPTY_CID


def test_hello() -> None:
    assert cid_of(b"hello") == HELLO_CIDV1


@pytest.mark.parametrize("size", sorted(KNOWN_CIDS), ids=lambda s: f"{s}B")
def test_known_cids(size: int) -> None:
    assert cid_of(payload(size)) == KNOWN_CIDS[size]


def test_one_chunk_file_is_its_raw_leaf_and_more_is_dag_pb() -> None:
    assert parse_cid(cid_of(payload(CHUNK))).codec == RAW
    assert parse_cid(cid_of(payload(CHUNK + 1))).codec == DAG_PB


def test_root_block_bytes_match_the_node() -> None:
    blocks: dict[str, bytes] = {}
    builder = FileDagBuilder(lambda cid, block: blocks.__setitem__(str(cid), bytes(block)))
    builder.write(bytes(600000))
    root = builder.finish()
    assert str(root) == ZEROS_600000_CID
    assert blocks[str(root)] == ZEROS_600000_ROOT
    node = decode_node(ZEROS_600000_ROOT)
    assert [link.name for link in node.links] == ["", "", ""]
    assert [link.tsize for link in node.links] == [CHUNK, CHUNK, 600000 - 2 * CHUNK]
    assert node.data == encode_file_data(600000, [CHUNK, CHUNK, 600000 - 2 * CHUNK])


def test_links_are_encoded_before_data() -> None:
    link = PBLink(Cid.for_block(RAW, b"x").to_bytes(), "", 1)
    block = encode_node([link], b"\x08\x02")
    assert block[0] == 0x12  # field 2 (Links) first
    assert block[-4:] == b"\x0a\x02\x08\x02"  # field 1 (Data) last
    assert decode_node(block).links == (link,)


# -------------------------------------------------------------------------------------------
# streaming


def test_chunking_of_the_input_does_not_matter() -> None:
    data = payload(3 * CHUNK + 11, seed=3)
    expected = cid_of(data)
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    assert cid_of_stream(pieces) == expected
    assert cid_of_stream([data[:5], b"", data[5 : CHUNK + 3], data[CHUNK + 3 :]]) == expected
    assert cid_of_stream([memoryview(data), bytearray()]) == expected


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(0, 3 * CHUNK + 5),
    cuts=st.lists(st.integers(0, 3 * CHUNK + 5), max_size=8),
)
def test_any_split_gives_the_same_cid(size: int, cuts: list[int]) -> None:
    data = payload(size, seed=size)
    bounds = sorted({0, size, *(c for c in cuts if c <= size)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert cid_of_stream(pieces) == cid_of(data)


def test_cid_of_file(tmp_path: Path) -> None:
    size = 2 * CHUNK + 7
    path = tmp_path / "f.bin"
    path.write_bytes(payload(size))
    assert cid_of_file(path) == KNOWN_CIDS[size]
    with pytest.raises(OSError, match=r"No such file or directory"):
        cid_of_file(tmp_path / "missing")


def test_memory_stays_bounded_for_a_large_stream() -> None:
    """64 MiB streamed in chunks: peak allocation must stay around one chunk, not the file."""
    total_chunks = 256

    def chunks() -> Iterator[bytes]:
        for i in range(total_chunks):
            yield hashlib.shake_256(i.to_bytes(4, "big")).digest(CHUNK)

    tracemalloc.start()
    try:
        cid = cid_of_stream(chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cid.startswith("bafybei")
    assert peak < 4 * CHUNK, f"peak {peak} bytes while hashing {total_chunks * CHUNK} bytes"


# -------------------------------------------------------------------------------------------
# layout: the streaming bottom-up builder == go-unixfs' top-down balanced.Layout, at any depth


def _go_balanced_layout(data: bytes, chunk: int, max_links: int) -> str:
    """A transcription of go-unixfs importer/balanced.Layout + fillNodeRec (top-down)."""
    chunks = iter([data[i : i + chunk] for i in range(0, len(data), chunk)] or [b""])
    pending = [next(chunks)]

    def more() -> bool:
        if not pending:
            nxt = next(chunks, None)
            if nxt is None:
                return False
            pending.append(nxt)
        return True

    def leaf() -> tuple[bytes, int, int]:
        block = pending.pop()
        return Cid.for_block(RAW, block).to_bytes(), len(block), len(block)

    def node(children: list[tuple[bytes, int, int]]) -> tuple[bytes, int, int]:
        data_ = encode_file_data(sum(c[2] for c in children), [c[2] for c in children])
        block = encode_node([PBLink(c[0], "", c[1]) for c in children], data_)
        tsize = len(block) + sum(c[1] for c in children)
        return Cid.for_block(DAG_PB, block).to_bytes(), tsize, sum(c[2] for c in children)

    def fill(children: list[tuple[bytes, int, int]], depth: int) -> tuple[bytes, int, int]:
        while len(children) < max_links and more():
            children.append(leaf() if depth == 1 else fill([], depth - 1))
        return node(children)

    root = leaf()
    depth = 1
    while more():
        root = fill([root], depth)
        depth += 1
    return str(Cid.from_bytes(root[0]))


@settings(max_examples=150, deadline=None)
@given(
    chunk=st.integers(1, 4),
    max_links=st.integers(2, 4),
    size=st.integers(0, 400),
)
def test_streaming_builder_matches_go_balanced_layout(
    chunk: int, max_links: int, size: int
) -> None:
    data = payload(size, seed=7)
    builder = FileDagBuilder(chunk_size=chunk, max_links=max_links)
    builder.write(data)
    assert str(builder.finish()) == _go_balanced_layout(data, chunk, max_links)


@pytest.mark.parametrize("leaves", [1, 2, 3, 4, 9, 10, 12, 27, 28, 36, 81, 82, 90])
def test_streaming_builder_matches_go_at_full_tree_boundaries(leaves: int) -> None:
    data = payload(leaves, seed=leaves)  # chunk 1 byte, 3 links: boundaries at powers of 3
    builder = FileDagBuilder(chunk_size=1, max_links=3)
    builder.write(data)
    assert str(builder.finish()) == _go_balanced_layout(data, 1, 3)


def test_default_layout_is_kubos() -> None:
    """The real defaults against the reference, across the 174-link boundary."""
    data = payload(MAX_LINKS * 7 + 1, seed=1)  # 7-byte chunks keep it small
    builder = FileDagBuilder(chunk_size=7)
    builder.write(data)
    assert str(builder.finish()) == _go_balanced_layout(data, 7, MAX_LINKS)


# -------------------------------------------------------------------------------------------
# parse_cid


def test_parse_cidv1_base32() -> None:
    cid = parse_cid(KNOWN_CIDS[CHUNK + 1])
    assert (cid.version, cid.codec) == (1, DAG_PB)
    assert str(cid) == KNOWN_CIDS[CHUNK + 1]
    raw = parse_cid(EMPTY_CID)
    assert (raw.version, raw.codec) == (1, RAW)
    assert raw.digest == hashlib.sha256(b"").digest()
    assert Cid.from_bytes(raw.to_bytes()) == raw


def test_parse_cidv0() -> None:
    cid = parse_cid(HELLO_CIDV0)
    assert (cid.version, cid.codec) == (0, DAG_PB)
    assert str(cid) == HELLO_CIDV0
    assert cid.to_bytes()[:2] == b"\x12\x20"
    # The CIDv0 block js-ipfs made for b"hello": PBNode{Data: UnixFS{File, "hello", size 5}}.
    assert cid.verify(bytes.fromhex("0a0b0802120568656c6c6f1805"))
    v1 = cid.to_v1()
    assert str(v1).startswith("bafybei")
    assert parse_cid(str(v1)) == v1


def test_parse_cidv1_base58btc() -> None:
    assert parse_cid(HELLO_CIDV1_BASE58) == parse_cid(HELLO_CIDV1)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " " + EMPTY_CID,
        EMPTY_CID + "\n",
        EMPTY_CID.upper(),  # multibase 'B' (upper-case base32) is not accepted
        "f01551220" + "00" * 32,  # base16 multibase: unsupported
        EMPTY_CID[:-1],  # truncated
        EMPTY_CID + "a",  # too long
        EMPTY_CID[:10] + "1" + EMPTY_CID[11:],  # '1' is not base32
        EMPTY_CID[:-1] + "v",  # non-canonical trailing bits
        "b" + "aaaa",  # too short to be anything
        "Qm" + "1" * 44,  # base58 but not a sha2-256 multihash
        HELLO_CIDV0[:-1] + "0",  # '0' is not base58
        HELLO_CIDV0[:-1],  # 45 chars: not a CIDv0
        "zQm",
        "hello",
    ],
)
def test_invalid_cid_strings(text: str) -> None:
    with pytest.raises(
        InvalidCid,
        match=r"^(CID has surrounding whitespace|empty CID|invalid CID|unsupported CID)",
    ):
        parse_cid(text)


def _b32cid(raw: bytes) -> str:
    return "b" + base64.b32encode(raw).decode().rstrip("=").lower()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x02\x55\x12\x20" + bytes(32), "version"),
        (b"\x01\x55\x13\x40" + bytes(64), "sha2-512"),
        (b"\x01\x55\x12\x10" + bytes(16), "short digest"),
        (b"\x01\x55\x12\x20" + bytes(31), "truncated digest"),
        (b"\x01\x55\x12\x20" + bytes(33), "trailing byte"),
        (b"\x01\xd5\x00\x12\x20" + bytes(32), "non-minimal varint"),
        (b"\x01\x55", "no multihash"),
    ],
)
def test_invalid_binary_cids(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidCid, match=r"^invalid CID '"):
        parse_cid(_b32cid(raw))
    with pytest.raises(
        InvalidCid,
        match=r"^(malformed binary CID|sha2-256 multihash must carry|unsupported (CID|multihash))",
    ):
        Cid.from_bytes(raw)


def test_invalid_cid_is_a_ledger_error() -> None:
    with pytest.raises(
        LedgerError,
        match=r"^unsupported CID 'nope': expected CIDv1 base32 'b\.\.\.' \(or base58btc ",
    ):
        parse_cid("nope")
    assert issubclass(InvalidCid, StoreError)


def test_non_string_is_invalid() -> None:
    with pytest.raises(InvalidCid, match=r"^a CID must be a string, not bytes$"):
        parse_cid(b"bafk" * 10)  # type: ignore[arg-type]


def test_cid_constructor_validates() -> None:
    with pytest.raises(InvalidCid, match=r"^sha2-256 digest must be 32 bytes, got 5$"):
        Cid(1, RAW, b"short")
    with pytest.raises(InvalidCid, match=r"^a CIDv0 is always dag-pb$"):
        Cid(0, RAW, bytes(32))
    with pytest.raises(InvalidCid, match=r"^unsupported CID version 2$"):
        Cid(2, RAW, bytes(32))


# -------------------------------------------------------------------------------------------
# primitives


@given(st.integers(0, 2**63 - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded + b"\xff") == (value, len(encoded))


@pytest.mark.parametrize("raw", [b"", b"\x80", b"\x81\x00", b"\xff" * 9 + b"\x01"])
def test_bad_varints(raw: bytes) -> None:
    with pytest.raises(
        ValueError, match=r"^(non-minimal varint|truncated varint|varint longer than 9 bytes)"
    ):
        decode_varint(raw)


@given(st.binary(max_size=64))
def test_base58_round_trip(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data if data else b58encode(data) == ""


def test_base58_known_vector() -> None:
    assert b58encode(b"hello world") == "StV1DL6CwTryKyV"
    assert b58encode(b"\0\0\x01") == "112"


@given(st.binary(min_size=1, max_size=64))
def test_base32_round_trip(data: bytes) -> None:
    text = base64.b32encode(data).decode().rstrip("=").lower()
    assert b32decode(text) == data
