"""The small part of multiformats the store needs: varints, multibase, multihash, CIDs.

Hand-written on purpose (each piece is a few lines, and the ``multiformats`` packages on PyPI pull
in far more than we use):

* unsigned varint (LEB128, at most 9 bytes, minimal encoding required, as the multiformats
  spec says);
* multibase ``b`` (RFC 4648 base32, lower case, no padding): encoded by hand for CID-sized
  inputs (see :func:`b32encode`), decoded via :func:`base64.b32decode`;
* multibase ``z`` / bare CIDv0 (base58btc, bitcoin alphabet), a ~20 line codec;
* multihash sha2-256 only (code 0x12, 32-byte digest): anything else is rejected, because it is
  the only hash Kubo's ``ipfs add`` uses by default and the only one the store verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from ledger.store.errors import InvalidCid

# Multicodec codes (https://github.com/multiformats/multicodec/blob/master/table.csv).
RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
SHA2_256_LENGTH = 32

CODEC_NAMES: dict[int, str] = {RAW: "raw", DAG_PB: "dag-pb"}

_MAX_VARINT_BYTES = 9  # multiformats unsigned-varint: at most 63 bits


# --------------------------------------------------------------------------------------------
# varint


def encode_varint(value: int) -> bytes:
    """Unsigned LEB128 varint (also protobuf's varint)."""
    if value < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode a minimal unsigned varint at ``buf[pos:]``; return ``(value, next_pos)``.

    Raises :class:`ValueError` on truncation, over-long or non-minimal encodings.
    """
    value = 0
    shift = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise ValueError("non-minimal varint")
            return value, pos + i + 1
        shift += 7
    raise ValueError("varint longer than 9 bytes")


# --------------------------------------------------------------------------------------------
# multibase

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}
_B32_CHARS = "abcdefghijklmnopqrstuvwxyz234567"
_B32_ALPHABET = frozenset(_B32_CHARS)
_B32_PAIRS = [a + b for a in _B32_CHARS for b in _B32_CHARS]  # 10 bits -> 2 characters
_B32_FAST_MAX = 64  # bytes; every CID is 34-38 bytes


def b32encode(data: bytes) -> str:
    """RFC 4648 base32, lower case, unpadded (multibase ``b`` without the prefix).

    Hand-written for short inputs because :func:`base64.b32encode` is pure Python (CPython
    3.11/3.12), pads, and upper-cases, and this runs for every block the store writes: the
    input as one big integer, shifted left so its bit length is a multiple of 10, is cut into
    10-bit groups read from a 1024-entry table of character pairs (about twice as fast for a
    36-byte CID). A trailing character made only of padding bits is dropped.
    """
    size = len(data)
    if size > _B32_FAST_MAX:  # big ints make this quadratic; the standard codec is linear
        return base64.b32encode(data).decode("ascii").rstrip("=").lower()
    bits = size * 8
    pad = -bits % 10
    value = int.from_bytes(data, "big") << pad
    pairs = _B32_PAIRS
    text = "".join([pairs[(value >> shift) & 0x3FF] for shift in range(bits + pad - 10, -1, -10)])
    return text[: (bits + 4) // 5]


def b32decode(text: str) -> bytes:
    if not text or not set(text) <= _B32_ALPHABET:
        raise ValueError("not lower-case unpadded base32")
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        data = base64.b32decode(padded)
    except binascii.Error as exc:
        raise ValueError(f"bad base32: {exc}") from None
    if b32encode(data) != text:  # non-canonical length or trailing bits
        raise ValueError("non-canonical base32")
    return data


def b58encode(data: bytes) -> str:
    """base58btc (bitcoin alphabet), leading zero bytes as '1'."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, rem = divmod(num, 58)
        out.append(_B58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    if not text:
        raise ValueError("empty base58 string")
    num = 0
    for char in text:
        try:
            num = num * 58 + _B58_INDEX[char]
        except KeyError:
            raise ValueError(f"invalid base58 character {char!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\0" * zeros + body


# --------------------------------------------------------------------------------------------
# CID


_V1_PREFIXES = {
    codec: bytes((1, codec, SHA2_256, SHA2_256_LENGTH)) for codec in (RAW, DAG_PB)
}  # one-byte varints: <version 1><codec><sha2-256><32>


def v1_prefix(codec: int) -> bytes:
    """What precedes the sha2-256 digest in a binary CIDv1 of ``codec``."""
    prefix = _V1_PREFIXES.get(codec)
    if prefix is None:
        prefix = encode_varint(1) + encode_varint(codec) + bytes((SHA2_256, SHA2_256_LENGTH))
    return prefix


def v1_text(codec: int, digest: bytes) -> str:
    """``str(Cid(1, codec, digest))`` without building the :class:`Cid` (the store's hot path)."""
    return "b" + b32encode(v1_prefix(codec) + digest)


@dataclass(frozen=True, slots=True)
class Cid:
    """A content identifier whose multihash is sha2-256 (the only kind the store handles).

    ``str(cid)`` is the canonical text: base58btc ``Qm...`` for CIDv0, multibase base32
    ``b...`` (lower case) for CIDv1 - what Kubo prints for ``ipfs add`` / ``--cid-version=1``.
    """

    version: int
    codec: int
    digest: bytes

    def __post_init__(self) -> None:
        if self.version not in (0, 1):
            raise InvalidCid(f"unsupported CID version {self.version}")
        if self.version == 0 and self.codec != DAG_PB:
            raise InvalidCid("a CIDv0 is always dag-pb")
        if len(self.digest) != SHA2_256_LENGTH:
            raise InvalidCid(f"sha2-256 digest must be 32 bytes, got {len(self.digest)}")

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def for_block(cls, codec: int, block: bytes | memoryview) -> Cid:
        """The CIDv1 of ``block`` under ``codec`` (sha2-256)."""
        return cls(1, codec, hashlib.sha256(block).digest())

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> Cid:
        """Parse a binary CID (as found in dag-pb links); raise :class:`InvalidCid`."""
        data = bytes(data)
        if len(data) == 34 and data[0] == SHA2_256 and data[1] == SHA2_256_LENGTH:
            return cls(0, DAG_PB, data[2:])  # CIDv0: the bare multihash
        try:
            version, pos = decode_varint(data)
            if version != 1:
                raise InvalidCid(f"unsupported CID version {version}")
            codec, pos = decode_varint(data, pos)
            hash_code, pos = decode_varint(data, pos)
            length, pos = decode_varint(data, pos)
        except ValueError as exc:
            raise InvalidCid(f"malformed binary CID: {exc}") from None
        if hash_code != SHA2_256:
            raise InvalidCid(f"unsupported multihash 0x{hash_code:x} (only sha2-256 is supported)")
        if length != SHA2_256_LENGTH or len(data) - pos != SHA2_256_LENGTH:
            raise InvalidCid(
                f"sha2-256 multihash must carry 32 bytes (declared {length}, "
                f"present {len(data) - pos})"
            )
        return cls(1, codec, data[pos:])

    # -- views -------------------------------------------------------------------------------

    @property
    def multihash(self) -> bytes:
        return bytes((SHA2_256, SHA2_256_LENGTH)) + self.digest

    def to_bytes(self) -> bytes:
        """The binary CID (CIDv0: the bare multihash)."""
        if self.version == 0:
            return self.multihash
        return v1_prefix(self.codec) + self.digest

    def to_v1(self) -> Cid:
        return self if self.version == 1 else Cid(1, self.codec, self.digest)

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES.get(self.codec, f"0x{self.codec:x}")

    def verify(self, block: bytes | memoryview) -> bool:
        """Whether ``block`` hashes to this CID's digest."""
        return hashlib.sha256(block).digest() == self.digest

    def __str__(self) -> str:
        if self.version == 0:
            return b58encode(self.multihash)
        return v1_text(self.codec, self.digest)

    def __repr__(self) -> str:
        return f"Cid({str(self)!r})"


def parse_cid(text: str) -> Cid:
    """Parse and validate a CID string; raise :class:`InvalidCid` if it is not one we accept.

    Accepted: CIDv1 in multibase base32 lower case (``b...``, Kubo's CIDv1 default) or
    base58btc (``z...``, js-ipfs's default), and CIDv0 (``Qm...``, base58btc bare multihash).
    The multihash must be sha2-256 with a 32-byte digest.
    """
    if not isinstance(text, str):
        raise InvalidCid(f"a CID must be a string, not {type(text).__name__}")
    shown = text if len(text) <= 80 else text[:77] + "..."
    if not text:
        raise InvalidCid("empty CID")
    if text != text.strip():
        raise InvalidCid(f"CID has surrounding whitespace: {shown!r}")
    if len(text) == 46 and text.startswith("Qm"):
        try:
            raw = b58decode(text)
        except ValueError as exc:
            raise InvalidCid(f"invalid CIDv0 {shown!r}: {exc}") from None
        if len(raw) != 34 or raw[0] != SHA2_256 or raw[1] != SHA2_256_LENGTH:
            raise InvalidCid(f"invalid CIDv0 {shown!r}: not a sha2-256 multihash")
        return Cid(0, DAG_PB, raw[2:])
    prefix, body = text[0], text[1:]
    try:
        if prefix == "b":
            raw = b32decode(body)
        elif prefix == "z":
            raw = b58decode(body)
        else:
            raise InvalidCid(
                f"unsupported CID {shown!r}: expected CIDv1 base32 'b...' "
                "(or base58btc 'z...') or CIDv0 'Qm...'"
            )
    except ValueError as exc:
        raise InvalidCid(f"invalid CID {shown!r}: {exc}") from None
    if raw[:1] != b"\x01":
        raise InvalidCid(f"invalid CID {shown!r}: multibase CIDs must be version 1")
    try:
        cid = Cid.from_bytes(raw)
    except InvalidCid as exc:
        raise InvalidCid(f"invalid CID {shown!r}: {exc}") from None
    return cid
