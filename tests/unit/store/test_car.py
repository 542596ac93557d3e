"""CARv1 writer/reader/verifier: round trips, and every kind of damage is a CarError."""

from __future__ import annotations

import contextlib
import functools
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.store import (
    CarError,
    Cid,
    EmbeddedStore,
    InvalidCid,
    StoreError,
    car_bytes,
    car_of,
    cid_of,
    parse_cid,
    read_car,
    verify_car,
    write_car,
)
from ledger.store._dagpb import PBLink, encode_node
from ledger.store._multiformats import DAG_PB, RAW, b58encode, decode_varint, encode_varint
from ledger.store._unixfs import T_DIRECTORY, T_FILE, encode_file_data
from ledger.store.car import decode_header, encode_header
from tests.unit.store._data import CHUNK, EMPTY_CID, HELLO_CIDV0, payload

SIZES = [0, 1, 1000, CHUNK, CHUNK + 1, 3 * CHUNK + 5]


@functools.cache
def _car(size: int) -> tuple[str, bytes, bytes]:
    """(cid, data, car) of payload(size), built in a throw-away embedded store."""
    data = payload(size, seed=3)
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(root=tmp, fsync=False)
        cid = store.put(data)
        return cid, data, car_bytes(store, cid)


@pytest.mark.parametrize("size", SIZES)
def test_car_of_is_the_car_a_store_exports(size: int) -> None:
    """car_of (no store) writes exactly the bytes car_bytes exports from a store."""
    cid, data, car = _car(size)
    assert car_of(data) == car
    assert verify_car(car, cid) == data


def test_proof_code_uses_only_the_stores_public_surface() -> None:
    """ledger/proof imports what it needs from ledger.store, never a private module of it."""
    proof_dir = Path(__file__).parents[3] / "ledger" / "proof"
    sources = {path.name: path.read_text() for path in proof_dir.glob("*.py")}
    assert sources, proof_dir
    for name, source in sources.items():
        assert "ledger.store._" not in source, name
        assert "store import _" not in source, name


def _sections(car: bytes) -> list[tuple[int, int, int]]:
    """(section start, block start, section end) of every block section."""
    out = []
    length, pos = decode_varint(car)
    pos += length
    while pos < len(car):
        start = pos
        length, pos = decode_varint(car, pos)
        cid = Cid.from_bytes(car[pos : pos + 36])
        out.append((start, pos + len(cid.to_bytes()), pos + length))
        pos += length
    return out


def _car_of(root: Cid, blocks: list[tuple[Cid, bytes]]) -> bytes:
    out = io.BytesIO()
    write_car(str(root), ((c.to_bytes(), b) for c, b in blocks), out)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_round_trip(tmp_path: Path, size: int) -> None:
    cid, data, car = _car(size)
    assert cid == cid_of(data)
    store = EmbeddedStore(root=tmp_path / "store", fsync=False)
    store.put(data)
    root, blocks = read_car(car)
    assert root == cid
    assert list(blocks.items()) == list(store.blocks(cid))  # CAR order = store order
    assert verify_car(car, cid) == data


def test_header_is_the_canonical_dag_cbor_shape() -> None:
    cid, _, car = _car(0)
    assert cid == EMPTY_CID
    binary = parse_cid(cid).to_bytes()
    header = b"\xa2eroots\x81\xd8\x2a\x58\x25\x00" + binary + b"gversion\x01"
    assert car[:1] == bytes([len(header)]) == b"\x3a"
    assert car[1 : 1 + len(header)] == header
    assert encode_header(parse_cid(cid)) == header
    assert decode_header(header) == parse_cid(cid)
    # then one section: varint(len(cid) + len(block)) cid block (the empty raw block)
    assert car[1 + len(header) :] == encode_varint(len(binary)) + binary


def test_header_with_keys_in_another_order_is_read() -> None:
    root = parse_cid(EMPTY_CID)
    cid_item = b"\xd8\x2a\x58\x25\x00" + root.to_bytes()
    header = b"\xa2gversion\x01eroots\x81" + cid_item
    assert decode_header(header) == root


def test_verify_accepts_another_spelling_of_the_root() -> None:
    cid, data, car = _car(CHUNK + 1)
    z_spelling = "z" + b58encode(parse_cid(cid).to_bytes())
    assert verify_car(car, z_spelling) == data


def test_cidv0_dag() -> None:
    """A CAR of a CIDv0 DAG (js-ipfs's default layout: dag-pb leaf with inline data)."""
    block = encode_node([], b"\x08" + encode_varint(T_FILE) + b"\x12\x05hello\x18\x05")
    root = Cid(0, DAG_PB, Cid.for_block(DAG_PB, block).digest)
    assert str(root) == HELLO_CIDV0
    car = _car_of(root, [(root, block)])
    assert read_car(car)[0] == HELLO_CIDV0
    assert verify_car(car, HELLO_CIDV0) == b"hello"


def test_extra_blocks_outside_the_dag_are_allowed_but_checked() -> None:
    cid, data, car = _car(1000)
    extra = b"unrelated"
    extra_cid = Cid.for_block(RAW, extra)
    more = car + encode_varint(36 + len(extra)) + extra_cid.to_bytes() + extra
    assert verify_car(more, cid) == data
    forged = car + encode_varint(36 + len(extra)) + extra_cid.to_bytes() + b"unrelatex"
    with pytest.raises(CarError, match="does not match its hash"):
        verify_car(forged, cid)


def test_write_car_validates_the_root() -> None:
    with pytest.raises(
        InvalidCid,
        match=r"^unsupported CID 'not-a-cid': expected CIDv1 base32 'b\.\.\.' \(or base58btc ",
    ):
        write_car("not-a-cid", [], io.BytesIO())


# --------------------------------------------------------------------------------------------
# damage


@pytest.mark.parametrize("size", [1, CHUNK + 1, 3 * CHUNK + 5], ids=lambda s: f"{s}B")
def test_tampered_block(size: int) -> None:
    cid, _, car = _car(size)
    for _, block_start, end in _sections(car):
        for offset in (block_start, (block_start + end) // 2, end - 1):
            tampered = bytearray(car)
            tampered[offset] ^= 0x01
            with pytest.raises(CarError, match="does not match its hash"):
                verify_car(bytes(tampered), cid)


def test_wrong_root() -> None:
    cid, _, car = _car(CHUNK + 1)
    other, _, other_car = _car(1)
    with pytest.raises(CarError, match="root"):
        verify_car(car, other)
    with pytest.raises(CarError, match="root"):
        verify_car(other_car, cid)
    with pytest.raises(
        InvalidCid,
        match=r"^unsupported CID 'not-a-cid': expected CIDv1 base32 'b\.\.\.' \(or base58btc ",
    ):
        verify_car(car, "not-a-cid")


def test_car_claiming_another_root_than_its_blocks() -> None:
    """The header names a CID the CAR has no block for."""
    _, _, car = _car(CHUNK + 1)
    _, blocks = read_car(car)
    missing = parse_cid(cid_of(b"absent"))
    relabelled = _car_of(missing, [(Cid.from_bytes(c), b) for c, b in blocks.items()])
    with pytest.raises(CarError, match="lacks block"):
        verify_car(relabelled, str(missing))


@pytest.mark.parametrize("size", [1, CHUNK + 1, 3 * CHUNK + 5], ids=lambda s: f"{s}B")
def test_truncated(size: int) -> None:
    cid, _, car = _car(size)
    cuts = {0, 1, 2, 10, 30, 58, 59, 60, 100, len(car) - 1}
    for start, block_start, end in _sections(car):
        cuts |= {start, start + 1, block_start - 1, block_start, block_start + 1, end - 1}
    for cut in sorted(c for c in cuts if 0 <= c < len(car)):
        with pytest.raises(CarError, match=r"^(CAR lacks block |malformed CAR: truncated )"):
            verify_car(car[:cut], cid)


def test_missing_block() -> None:
    cid, _, car = _car(3 * CHUNK + 5)
    root, blocks = read_car(car)
    items = [(Cid.from_bytes(c), b) for c, b in blocks.items()]
    del items[2]
    with pytest.raises(CarError, match="lacks block"):
        verify_car(_car_of(parse_cid(root), items), cid)


def test_conflicting_duplicate_blocks() -> None:
    cid, _, car = _car(1)
    (key, block) = next(iter(read_car(car)[1].items()))
    doubled = car + encode_varint(len(key) + 2) + key + b"xx"
    with pytest.raises(CarError, match="two different blocks"):
        read_car(doubled)
    with pytest.raises(CarError, match=r"^CAR block \S+ does not match its hash$"):
        verify_car(doubled, cid)
    same_twice = car + encode_varint(len(key) + len(block)) + key + block
    assert read_car(same_twice)[0] == cid


def test_dag_that_is_not_a_file() -> None:
    """A well-hashed dag-pb directory node: the CAR is intact but carries no file."""
    leaf = b"x"
    leaf_cid = Cid.for_block(RAW, leaf)
    node = encode_node([PBLink(leaf_cid.to_bytes(), "x", 1)], b"\x08" + encode_varint(T_DIRECTORY))
    root = Cid.for_block(DAG_PB, node)
    with pytest.raises(CarError, match="not a valid file"):
        verify_car(_car_of(root, [(root, node), (leaf_cid, leaf)]), str(root))


def test_dag_that_lies_about_sizes() -> None:
    leaf = b"abc"
    leaf_cid = Cid.for_block(RAW, leaf)
    node = encode_node([PBLink(leaf_cid.to_bytes(), "", 3)], encode_file_data(4, [4]))
    root = Cid.for_block(DAG_PB, node)
    with pytest.raises(CarError, match="not a valid file"):
        verify_car(_car_of(root, [(root, node), (leaf_cid, leaf)]), str(root))


def _header_car(header: bytes) -> bytes:
    return encode_varint(len(header)) + header


@pytest.mark.parametrize(
    "header",
    [
        b"\xa1gversion\x01",  # no roots
        b"\xa2eroots\x80gversion\x01",  # zero roots
        b"\xa2eroots\x82gversion\x01",  # an array of 2 with no CIDs in it
        b"\xa2eroots\x81\xd8\x2a\x58\x25\x00"
        + parse_cid(EMPTY_CID).to_bytes()
        + b"gversion\x02",  # CARv2 header
        b"\xa2eroots\x81\x58\x25\x00" + parse_cid(EMPTY_CID).to_bytes() + b"gversion\x01",
        b"\xa3eroots\x81\xd8\x2a\x58\x25\x00"
        + parse_cid(EMPTY_CID).to_bytes()
        + b"gversion\x01dmore\x01",  # unknown key
        b"\xbf\xff",  # indefinite-length map
        b"\x81\x01",  # not a map
        b"\xa2eroots\x81\xd8\x2a\x58\x25\x00"
        + parse_cid(EMPTY_CID).to_bytes()
        + b"gversion\x01\x00",  # trailing byte
    ],
)
def test_bad_headers(header: bytes) -> None:
    _, _, car = _car(0)
    header_length = car[0]
    body = car[1 + header_length :]
    with pytest.raises(CarError, match=r"^malformed CAR: "):
        read_car(_header_car(header) + body)


def test_two_roots_are_refused() -> None:
    _, _, car = _car(0)
    item = b"\xd8\x2a\x58\x25\x00" + parse_cid(EMPTY_CID).to_bytes()
    header = b"\xa2eroots\x82" + item + item + b"gversion\x01"
    with pytest.raises(CarError, match="exactly one root"):
        read_car(_header_car(header) + car[1 + car[0] :])


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x05abc", b"\x3a" + bytes(58)],
)
def test_garbage(data: bytes) -> None:
    with pytest.raises(CarError, match=r"^malformed CAR: "):
        read_car(data)
    with pytest.raises(CarError, match=r"^malformed CAR: "):
        verify_car(data, EMPTY_CID)


def test_car_error_is_a_store_error() -> None:
    assert issubclass(CarError, StoreError)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([1, 1000, CHUNK + 1, 3 * CHUNK + 5]),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=3
    ),
)
def test_any_damage_is_a_car_error_never_wrong_data(
    size: int, edits: list[tuple[float, int]]
) -> None:
    """Flip bytes anywhere (header, lengths, CIDs, blocks): verify_car returns the true content
    or raises CarError - nothing else, never other bytes."""
    cid, data, car = _car(size)
    damaged = bytearray(car)
    for where, xor in edits:
        damaged[int(where * len(car))] ^= xor
    with contextlib.suppress(CarError):
        assert verify_car(bytes(damaged), cid) == data
