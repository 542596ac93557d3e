"""Where a running service learns who its callers are: :func:`directory_for`.

Until the service reads the on-chain key registry, the directory is a
:class:`~ledger.httpsig.KeyTable` seeded from the members file named by
``LEDGER_MEMBERS_FILE`` (TOML), one ``[[keys]]`` table per registered key::

    [[keys]]
    member = "broker-a"                      # who the key speaks for (a member or a customer)
    roles = ["broker"]                       # broker, auditor, regulator, customer...
    public_key = "04a1b2..."                 # the raw SM2 point, hex (65 bytes; 0x optional)
    keyid = "sm3:..."                        # optional: default sm3:<fingerprint of the key>
    valid_from = 2026-01-01T00:00:00Z        # optional: default the epoch
    valid_until = 2027-01-01T00:00:00Z       # optional: default open-ended

Without the setting the directory is empty: every call but the public ones (health, signing
domain, proof verification) is refused as signed by an unknown key.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey
from ledger.errors import ConfigurationError
from ledger.httpsig import KeyDirectory, KeyTable, RegisteredKey, default_keyid
from ledger.settings import Settings

__all__ = ["directory_for", "read_members_file"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELDS = {"member", "roles", "public_key", "keyid", "valid_from", "valid_until"}


def directory_for(settings: Settings) -> KeyDirectory:
    """The key directory the service verifies callers against (see the module docstring)."""
    if settings.members_file is None:
        return KeyTable()
    return read_members_file(settings.members_file)


def read_members_file(path: Path) -> KeyTable:
    """The keys a members file registers; :class:`ConfigurationError` naming the first
    malformed entry."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"members file {path}: {error}") from error
    unknown = set(document) - {"keys"}
    if unknown or not isinstance(document.get("keys", []), list):
        raise ConfigurationError(f"members file {path}: only [[keys]] tables are read")
    table = KeyTable()
    for index, entry in enumerate(document.get("keys", [])):
        try:
            table.add(_entry(entry))
        except (ValueError, TypeError, CryptoError) as error:
            raise ConfigurationError(f"members file {path}: keys[{index}]: {error}") from error
    return table


def _entry(entry: Any) -> RegisteredKey:
    if not isinstance(entry, dict) or set(entry) - _FIELDS:
        raise ValueError(f"a key has only the fields {sorted(_FIELDS)}")
    member, roles = entry.get("member"), entry.get("roles")
    if not isinstance(member, str) or not member:
        raise ValueError("member is a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        raise ValueError("roles is a list of role names")
    hex_key = entry.get("public_key")
    if not isinstance(hex_key, str):
        raise ValueError("public_key is the SM2 point in hex")
    public_key = SM2PublicKey.from_raw(bytes.fromhex(hex_key.removeprefix("0x")))
    keyid = entry.get("keyid", default_keyid(public_key))
    if not isinstance(keyid, str) or not keyid:
        raise ValueError("keyid is a non-empty string")
    return RegisteredKey(
        keyid=keyid,
        member_id=member,
        roles=frozenset(roles),
        public_key=public_key,
        valid_from=_time(entry.get("valid_from", _EPOCH), "valid_from"),
        valid_until=None
        if "valid_until" not in entry
        else _time(entry["valid_until"], "valid_until"),
    )


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} is a TOML date-time with an offset (2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)
