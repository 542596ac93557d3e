"""Where a running service learns who its callers are: :func:`directory_for`.

Members. With ``LEDGER_MEMBERS_FILE`` set, a :class:`~ledger.httpsig.KeyTable` read from that
TOML file (a fixed consortium, tools, tests), one ``[[keys]]`` table per registered key::

    [[keys]]
    member = "broker-a"                      # who the key speaks for (a member or a customer)
    roles = ["broker"]                       # broker, auditor, regulator, customer...
    public_key = "04a1b2..."                 # the raw SM2 point, hex (65 bytes; 0x optional)
    keyid = "sm3:..."                        # optional: default sm3:<fingerprint of the key>
    valid_from = 2026-01-01T00:00:00Z        # optional: default the epoch
    valid_until = 2027-01-01T00:00:00Z       # optional: default open-ended

Without it, the consortium recorded for the service's chain: a
:class:`~ledger.member.chain_directory.ChainKeyDirectory` over its Consortium and KeyRegistry
(members are named by their chain account, roles as the consortium grants them, keys as the
registry holds them). Without either, no member is known.

Customers. A customer is nobody's member and registers nothing: it signs with the SM2 key it
signs its agreements with, under the keyid ``sm2:<the raw public key, hex>``
(:func:`customer_keyid`). Such a key names only itself, with the one role ``customer``, so it
reaches only what the access policy gives that key: the agreements it signed as customer.
"""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

from ledger import canonical
from ledger.chain.errors import DeploymentError, NodeError
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey
from ledger.errors import ConfigurationError
from ledger.httpsig import KeyDirectory, KeyTable, RegisteredKey, default_keyid
from ledger.member.access import Role
from ledger.member.chain_directory import ChainKeyDirectory
from ledger.member.governance import Governance
from ledger.settings import Settings

__all__ = [
    "CUSTOMER_KEYID_PREFIX",
    "CustomerKeys",
    "Directories",
    "customer_keyid",
    "directory_for",
    "read_members_file",
    "write_members_file",
]

_log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIELDS = {"member", "roles", "public_key", "keyid", "valid_from", "valid_until"}
#: How a customer's keyid starts: ``sm2:`` then its raw public key in hex.
CUSTOMER_KEYID_PREFIX = "sm2:"


def directory_for(settings: Settings, *, governance: Governance | None = None) -> KeyDirectory:
    """The key directory the service verifies callers against (see the module docstring):
    members from the members file or from the consortium ``governance`` reads, and
    customers."""
    members: KeyDirectory
    if settings.members_file is not None:
        members = read_members_file(settings.members_file)
    elif governance is None:
        members = KeyTable()
    else:
        members = _OnChain(governance, refresh_s=settings.key_directory_refresh_s)
        try:
            members.resolve()
        except DeploymentError as exc:
            _log.warning("no member can call: %s", exc)
            members = KeyTable()
        except NodeError as exc:
            _log.warning("members are read from the chain once its node answers: %s", exc)
    return Directories(members, CustomerKeys())


class _OnChain:
    """The recorded consortium's :class:`ChainKeyDirectory`, found once the node answers (a
    service started while its node was down reads its callers' keys when it is back)."""

    def __init__(self, governance: Governance, *, refresh_s: float) -> None:
        self._governance = governance
        self._refresh_s = refresh_s
        self._directory: ChainKeyDirectory | None = None
        self._lock = threading.Lock()

    def resolve(self) -> ChainKeyDirectory:
        with self._lock:
            if self._directory is None:
                consortium, registry = self._governance.contracts()
                self._directory = ChainKeyDirectory(
                    consortium=consortium, registry=registry, refresh_s=self._refresh_s
                )
            return self._directory

    def lookup(self, keyid: str, at: datetime) -> RegisteredKey | None:
        return self.resolve().lookup(keyid, at)


def customer_keyid(public_key: SM2PublicKey) -> str:
    """The keyid a customer signs requests with: ``sm2:<raw public key hex>``."""
    return CUSTOMER_KEYID_PREFIX + public_key.to_raw().hex()


class CustomerKeys:
    """The :class:`~ledger.httpsig.KeyDirectory` of customers' self-named keys: a keyid
    ``sm2:<hex>`` that holds an SM2 point names that key, with the role ``customer``, valid
    always; any other keyid names nobody."""

    def lookup(self, keyid: str, at: datetime) -> RegisteredKey | None:
        if not keyid.startswith(CUSTOMER_KEYID_PREFIX):
            return None
        try:
            public_key = SM2PublicKey.from_raw(bytes.fromhex(keyid[len(CUSTOMER_KEYID_PREFIX) :]))
        except (ValueError, CryptoError):
            return None
        if customer_keyid(public_key) != keyid:  # one spelling per key (lower-case hex)
            return None
        return RegisteredKey(
            keyid=keyid,
            member_id=default_keyid(public_key),
            roles=frozenset({Role.CUSTOMER.value}),
            public_key=public_key,
            valid_from=_EPOCH,
        )


class Directories:
    """Several key directories asked in order: the first that knows a keyid answers."""

    def __init__(self, *directories: KeyDirectory) -> None:
        self.directories = directories

    def lookup(self, keyid: str, at: datetime) -> RegisteredKey | None:
        for directory in self.directories:
            entry = directory.lookup(keyid, at)
            if entry is not None:
                return entry
        return None


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


def write_members_file(path: Path, entries: Iterable[RegisteredKey]) -> Path:
    """Write ``entries`` as a members file :func:`read_members_file` reads back equal (times
    to the second)."""
    keys = []
    for entry in entries:
        table: dict[str, Any] = {
            "member": entry.member_id,
            "roles": sorted(entry.roles),
            "public_key": entry.public_key.to_raw().hex(),
            "keyid": entry.keyid,
            "valid_from": canonical.whole_seconds(entry.valid_from.astimezone(UTC)),
        }
        if entry.valid_until is not None:
            table["valid_until"] = canonical.whole_seconds(entry.valid_until.astimezone(UTC))
        keys.append(table)
    path.write_text(tomli_w.dumps({"keys": keys}), encoding="utf-8")
    return path


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
