"""A consortium's registered keys for the API tests: two broker members (A with two broker keys
and a revoked one, B), an auditor, the regulator, a registered customer, a member without
roles and a member voted out (its key's window ended); the :class:`~ledger.httpsig.KeyTable` a
service verifies callers against, the members file ``ledger serve`` reads
(``LEDGER_MEMBERS_FILE``), and signing auth per caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.client import SigningAuth
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import KeyTable, RegisteredKey, RequestSigner, default_keyid
from ledger.member import write_members_file

#: Where every registered key's window starts.
SINCE = datetime(2026, 1, 1, tzinfo=UTC)


def _key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@dataclass(frozen=True)
class Consortium:
    """One key per caller the tests play (member ID, roles)."""

    broker_a: SM2PrivateKey = field(default_factory=_key)  # member-a, broker
    broker_a2: SM2PrivateKey = field(default_factory=_key)  # member-a, its second broker key
    revoked_a: SM2PrivateKey = field(default_factory=_key)  # member-a, revoked an hour ago
    broker_b: SM2PrivateKey = field(default_factory=_key)  # member-b, broker
    auditor: SM2PrivateKey = field(default_factory=_key)  # audit-firm, auditor
    regulator: SM2PrivateKey = field(default_factory=_key)  # csrc, regulator
    customer: SM2PrivateKey = field(default_factory=_key)  # cust-1, customer
    no_roles: SM2PrivateKey = field(default_factory=_key)  # member-c, no role granted
    removed: SM2PrivateKey = field(default_factory=_key)  # member-d, voted out yesterday

    def entries(self) -> list[RegisteredKey]:
        revoked_at = datetime.now(UTC) - timedelta(hours=1)
        return [
            _entry(self.broker_a, "member-a", "broker"),
            _entry(self.broker_a2, "member-a", "broker"),
            _entry(self.revoked_a, "member-a", "broker", until=revoked_at),
            _entry(self.broker_b, "member-b", "broker"),
            _entry(self.auditor, "audit-firm", "auditor"),
            _entry(self.regulator, "csrc", "regulator"),
            _entry(self.customer, "cust-1", "customer"),
            _entry(self.no_roles, "member-c"),
            _entry(self.removed, "member-d", "broker", until=revoked_at - timedelta(days=1)),
        ]

    def directory(self) -> KeyTable:
        return KeyTable(self.entries())

    def members_file(self, path: Path) -> Path:
        """The same keys as a members file (TOML) for ``LEDGER_MEMBERS_FILE``."""
        return write_members_file(path, self.entries())


def _entry(
    key: SM2PrivateKey, member: str, *roles: str, until: datetime | None = None
) -> RegisteredKey:
    public = key.public_key()
    return RegisteredKey(
        keyid=default_keyid(public),
        member_id=member,
        roles=frozenset(roles),
        public_key=public,
        valid_from=SINCE,
        valid_until=until,
    )


def signing(key: SM2PrivateKey) -> SigningAuth:
    """httpx auth that signs each request with ``key`` (RFC 9421, a fresh nonce each)."""
    return SigningAuth(RequestSigner(key=key))


@pytest.fixture(scope="session")
def consortium() -> Consortium:
    return Consortium()
