"""Canonical encodings shared by signatures and proofs.

- JSON is RFC 8785 (JCS) canonical JSON, so the same object always has the same bytes and a
  verifier can reject any other spelling of it.
- Digests are always written with their algorithm: ``sm3:<64 hex>``, ``keccak256:<64 hex>``.
- Binary fields are standard base64 with padding, or ``0x``-prefixed lower-case hex; decoding
  refuses any other spelling, so one value has exactly one text form.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime
from typing import Any

import rfc8785

from ledger.errors import LedgerError


class EncodingError(LedgerError):
    """A value is not in its one canonical text form."""


_MAX_SAFE_INT = 2**53 - 1
_FAST = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> bool:
    """True if the stdlib encoder spells ``value`` exactly as RFC 8785 does: no floats, ints
    within I-JSON's range, ASCII keys (so code-point order is UTF-16 order)."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return False


def dumps(value: Any) -> bytes:
    """RFC 8785 canonical JSON.

    Hot path (signing payloads and leaf entries, thousands a second): values without floats go
    through the stdlib encoder, whose output for them is byte-identical to JCS (same escapes,
    lower-case ``\\u00xx``, sorted ASCII keys); a property test holds the two equal. Anything
    else goes to the ``rfc8785`` package.
    """
    if _plain(value):
        try:
            return _FAST.encode(value).encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: let rfc8785 refuse them its way
            pass
    return rfc8785.dumps(value)


def loads_canonical(data: bytes) -> Any:
    """Parse JSON that must already be in canonical (JCS) form."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: too deep
        raise EncodingError(f"not JSON: {exc}") from exc
    try:
        canonical = dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError, RecursionError) as exc:
        raise EncodingError(f"not canonical JSON: {exc}") from exc
    if canonical != data:
        raise EncodingError("not in canonical JSON (RFC 8785) form")
    return value


_DIGEST = re.compile(r"^(sm3|keccak256):([0-9a-f]{64})$")


def label(algorithm: str, digest: bytes) -> str:
    return f"{algorithm}:{digest.hex()}"


def unlabel(algorithm: str, text: str) -> bytes:
    match = _DIGEST.match(text)
    if not match or match.group(1) != algorithm:
        raise EncodingError(f"expected an {algorithm} digest '{algorithm}:<64 hex>', got {text!r}")
    return bytes.fromhex(match.group(2))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise EncodingError(f"invalid base64: {exc}") from exc
    if b64(data) != text:
        raise EncodingError("base64 is not in canonical form")
    return data


def hex0x(data: bytes) -> str:
    return "0x" + data.hex()


def unhex0x(text: str, *, size: int | None = None) -> bytes:
    if not re.fullmatch(r"0x(?:[0-9a-f]{2})*", text):
        raise EncodingError(f"expected 0x-prefixed lower-case hex, got {text[:20]!r}")
    data = bytes.fromhex(text[2:])
    if size is not None and len(data) != size:
        raise EncodingError(f"expected {size} bytes of hex, got {len(data)}")
    return data


def whole_seconds(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to the second precision of :func:`timestamp` (so a time kept as
    it is written is the time that is signed)."""
    return moment.astimezone(UTC).replace(microsecond=0)


def timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with second precision: ``2026-11-21T12:00:00Z``."""
    if moment.tzinfo is None:
        raise EncodingError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise EncodingError(f"expected a UTC time like 2026-01-31T12:00:00Z: {text!r}") from exc
    if timestamp(moment) != text:
        raise EncodingError(f"timestamp not in canonical form: {text!r}")
    return moment
