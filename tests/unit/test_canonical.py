from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger import canonical
from ledger.canonical import EncodingError


def test_dumps_is_rfc8785() -> None:
    assert (
        canonical.dumps({"b": 1, "a": [True, None, "é"]}) == b'{"a":[true,null,"\xc3\xa9"],"b":1}'
    )


@pytest.mark.parametrize(
    "text",
    [b'{"a":1, "b":2}', b'{"b":2,"a":1}', b'{"a":"\\u0041"}', b'{"a":1}\n', b'{"a":1.0}'],
)
def test_loads_canonical_refuses_other_spellings(text: bytes) -> None:
    with pytest.raises(EncodingError, match=r"^not in canonical JSON \(RFC 8785\) form$"):
        canonical.loads_canonical(text)


def test_loads_canonical_refuses_duplicate_keys() -> None:
    with pytest.raises(EncodingError, match=r"^not in canonical JSON \(RFC 8785\) form$"):
        canonical.loads_canonical(b'{"a":1,"a":1}')


def test_labelled_digests() -> None:
    digest = bytes(range(32))
    text = canonical.label("sm3", digest)
    assert text == "sm3:" + digest.hex()
    assert canonical.unlabel("sm3", text) == digest
    for bad in ("keccak256:" + digest.hex(), "sm3:" + digest.hex().upper(), "sm3:00", digest.hex()):
        with pytest.raises(EncodingError, match=r"^expected an sm3 digest 'sm3:<64 hex>', got '"):
            canonical.unlabel("sm3", bad)


def test_base64_has_one_form() -> None:
    assert canonical.unb64(canonical.b64(b"A")) == b"A"
    for bad in ("QR==", "QQ", "QQ=", "Q Q==", "QQ==\n", "é"):
        with pytest.raises(
            EncodingError, match=r"^(base64 is not in canonical form|invalid base64: )"
        ):
            canonical.unb64(bad)


def test_hex_has_one_form() -> None:
    assert canonical.unhex0x("0x00ff", size=2) == b"\x00\xff"
    for bad in ("00ff", "0x00FF", "0x0", "0X00"):
        with pytest.raises(EncodingError, match=r"^expected 0x-prefixed lower-case hex, got '0"):
            canonical.unhex0x(bad)
    with pytest.raises(EncodingError, match=r"^expected 2 bytes of hex, got 1$"):
        canonical.unhex0x("0x00", size=2)


def test_timestamps_are_utc_seconds() -> None:
    moment = datetime(2026, 11, 21, 20, 0, 5, 999, tzinfo=timezone(timedelta(hours=8)))
    assert canonical.timestamp(moment) == "2026-11-21T12:00:05Z"
    assert canonical.parse_timestamp("2026-11-21T12:00:05Z") == datetime(
        2026, 11, 21, 12, 0, 5, tzinfo=UTC
    )
    for bad in ("2026-11-21T12:00:05", "2026-11-21 12:00:05Z", "2026-11-21T12:00:05.1Z"):
        with pytest.raises(
            EncodingError, match=r"^expected a UTC time like 2026-01-31T12:00:00Z: '2026-11-21"
        ):
            canonical.parse_timestamp(bad)
    with pytest.raises(EncodingError, match=r"^timestamps must be timezone-aware$"):
        canonical.timestamp(datetime(2026, 1, 1))  # naive


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@given(_JSON_VALUES)
def test_fast_path_is_byte_identical_to_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception as refused:  # ours refuses it the same way
        with pytest.raises(type(refused), match=f"^{re.escape(str(refused))}$"):
            canonical.dumps(value)
        return
    assert canonical.dumps(value) == expected
