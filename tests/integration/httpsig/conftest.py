"""Keys of the request-signing tests (the database and openssl fixtures are the shared ones)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.httpsig import KeyTable, RegisteredKey, default_keyid

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def registered(
    key: SM2PrivateKey | SM2PublicKey,
    member_id: str,
    *roles: str,
    valid_from: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    valid_until: datetime | None = None,
) -> RegisteredKey:
    public = key.public_key() if isinstance(key, SM2PrivateKey) else key
    return RegisteredKey(
        keyid=default_keyid(public),
        member_id=member_id,
        roles=frozenset(roles),
        public_key=public,
        valid_from=valid_from,
        valid_until=valid_until,
    )


@pytest.fixture
def broker_key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@pytest.fixture
def keys(broker_key: SM2PrivateKey) -> KeyTable:
    return KeyTable([registered(broker_key, "member-a", "broker")])
