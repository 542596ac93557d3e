"""Who a ``keyid`` names: the key directory the verifier asks, and who called.

:class:`KeyDirectory` is the one question request verification asks of the consortium: which
SM2 public key does ``keyid`` name, whose is it (member and roles), and in which window is it
valid. The service backs it with the on-chain key registry; :class:`KeyTable` is an in-memory
directory (a fixed consortium, tools, tests).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from ledger import canonical
from ledger.crypto.sm2 import SM2PublicKey

__all__ = ["Caller", "KeyDirectory", "KeyTable", "RegisteredKey", "default_keyid"]

#: Longest ``keyid`` a request may carry (an ``sm3:<64 hex>`` fingerprint is 68).
MAX_KEYID_LENGTH = 256


def default_keyid(public_key: SM2PublicKey) -> str:
    """The keyid a key signs requests with unless told otherwise: ``sm3:<hex>`` of its
    fingerprint (SM3 of the raw public key), as keys are named everywhere in the ledger."""
    return canonical.label("sm3", public_key.fingerprint())


@dataclass(frozen=True)
class RegisteredKey:
    """A key directory entry: the key, its owner and the window in which it signs.

    ``member_id`` is who the key speaks for (a member, or a customer); ``roles`` are the roles
    that owner holds at the time asked about (``broker``, ``auditor``, ``regulator``,
    ``customer``...). The key is valid from ``valid_from`` (inclusive) until ``valid_until``
    (exclusive; ``None``: open-ended): rotation and revocation end the window, and so does the
    removal of its member.
    """

    keyid: str
    member_id: str
    roles: frozenset[str]
    public_key: SM2PublicKey
    valid_from: datetime
    valid_until: datetime | None = None

    def valid_at(self, at: datetime) -> bool:
        """Whether the key may sign at ``at``: the one home of the window rule."""
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)


class KeyDirectory(Protocol):
    """Resolves a signature's ``keyid`` (the on-chain key registry in the service)."""

    def lookup(self, keyid: str, at: datetime) -> RegisteredKey | None:
        """The entry ``keyid`` names, with its owner's roles at ``at``; ``None`` if no key has
        that ID. An entry is returned even outside its window (the verifier refuses it then,
        saying so)."""
        ...


@dataclass(frozen=True)
class Caller:
    """Who signed a request that verified: what authorization decides on."""

    keyid: str
    member_id: str
    roles: frozenset[str]
    public_key: SM2PublicKey
    #: The signature's ``created`` time (whole seconds, UTC).
    created: datetime


class KeyTable:
    """An in-memory :class:`KeyDirectory`; thread-safe. Registration, rotation (a new key
    plus :meth:`end` of the old one) and revocation (:meth:`end`) as the registry does them."""

    def __init__(self, entries: Iterable[RegisteredKey] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, RegisteredKey] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: RegisteredKey) -> None:
        with self._lock:
            if entry.keyid in self._entries:
                raise ValueError(f"keyid {entry.keyid!r} is already registered")
            self._entries[entry.keyid] = entry

    def end(self, keyid: str, at: datetime) -> None:
        """End ``keyid``'s window at ``at`` (revocation or rotation): signatures made before
        stay valid, those after are refused."""
        with self._lock:
            entry = self._entries[keyid]
            if entry.valid_until is None or at < entry.valid_until:
                self._entries[keyid] = replace(entry, valid_until=at)

    def lookup(self, keyid: str, at: datetime) -> RegisteredKey | None:
        with self._lock:
            return self._entries.get(keyid)
