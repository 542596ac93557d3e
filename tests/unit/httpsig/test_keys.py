"""The key directory's entries: the validity window rule, and the in-memory KeyTable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import KeyTable, RegisteredKey, RequestSigner, RequestVerifier, default_keyid

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
KEY = SM2PrivateKey.generate().public_key()


def entry(valid_until: datetime | None = None) -> RegisteredKey:
    return RegisteredKey(
        keyid=default_keyid(KEY),
        member_id="member-a",
        roles=frozenset({"broker"}),
        public_key=KEY,
        valid_from=T0,
        valid_until=valid_until,
    )


def test_the_window_includes_its_start_and_excludes_its_end() -> None:
    second = timedelta(seconds=1)
    bounded = entry(valid_until=T0 + timedelta(hours=1))
    assert not bounded.valid_at(T0 - second)
    assert bounded.valid_at(T0)
    assert bounded.valid_at(T0 + timedelta(hours=1) - second)
    assert not bounded.valid_at(T0 + timedelta(hours=1))
    assert entry().valid_at(T0 + timedelta(days=3650))


def test_default_keyid_is_the_labelled_sm3_fingerprint() -> None:
    assert default_keyid(KEY) == "sm3:" + KEY.fingerprint().hex()


def test_key_table_registers_once_and_only_shortens_windows() -> None:
    table = KeyTable([entry()])
    with pytest.raises(ValueError, match=r"^keyid 'sm3:[0-9a-f]{64}' is already registered$"):
        table.add(entry())
    assert table.lookup("sm3:unknown", T0) is None
    table.end(default_keyid(KEY), T0 + timedelta(hours=2))
    table.end(default_keyid(KEY), T0 + timedelta(hours=3))  # a later end does not extend it
    found = table.lookup(default_keyid(KEY), T0)
    assert found is not None and found.valid_until == T0 + timedelta(hours=2)
    with pytest.raises(KeyError, match="sm3:unknown"):
        table.end("sm3:unknown", T0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"digest": "md5"}, r"^digest is one of \['sha-256', 'sm3'\], not 'md5'$"),
        ({"expires_after_s": 0}, r"^expires_after_s must be positive$"),
    ],
)
def test_signer_options_are_checked(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RequestSigner(key=SM2PrivateKey.generate(), **options)  # type: ignore[arg-type]


def test_verifier_windows_are_checked() -> None:
    with pytest.raises(
        ValueError, match=r"^max_age_s must be positive and max_skew_s not negative$"
    ):
        RequestVerifier(keys=KeyTable(), nonces=None, max_age_s=0, max_skew_s=1)  # type: ignore[arg-type]
