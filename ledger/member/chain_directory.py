"""The key directory on chain: who signs a request, as the Consortium and KeyRegistry say.

:class:`ChainKeyDirectory` answers :class:`~ledger.httpsig.KeyDirectory` from an index of every
current member's ``request-signing`` keys (keyid ``sm3:<fingerprint>``, the key's window as the
registry holds it: its start, and the earlier of its end and its revocation). The index is read
again by the first lookup after it is ``refresh_s`` old, so a change on chain (a key rotated or
revoked, a member admitted or voted out) reaches request checks within ``refresh_s``, and
unknown keyids never cause more than that one read. A member voted out keeps its keys in the
index with no roles and windows that end at its removal (the removing block's time, from the
consortium's ``MemberRemoved`` events, read from where the last read stopped): from the next
read its requests are refused as signed by a key no longer valid, saying since when.

If the node cannot be read, the last index stays in use (and is read again ``refresh_s``
later); before any index was read, the lookup raises the :class:`~ledger.chain.errors.NodeError`
(a 503, not an "unknown key"). An entry the registry holds wrongly (a fingerprint that is not
SM3 of its key) is left out and logged; it does not blind the index to the others.

Reading the index costs one call for the member list and two per key; with at most 64 members
(the contract's bound) and a few keys each that is a few hundred milliseconds on a local node,
paid by one request per ``refresh_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ledger.chain.consortium import ConsortiumContract
from ledger.chain.errors import InvalidKeyEntry, NodeError
from ledger.chain.keys import KeyRegistryContract
from ledger.httpsig import RegisteredKey, default_keyid

__all__ = ["REQUEST_SIGNING", "ChainKeyDirectory"]

_log = logging.getLogger(__name__)

#: The registry purpose of the keys members sign requests with.
REQUEST_SIGNING = "request-signing"


class ChainKeyDirectory:
    """A :class:`~ledger.httpsig.KeyDirectory` over the on-chain consortium; thread-safe."""

    def __init__(
        self,
        *,
        consortium: ConsortiumContract,
        registry: KeyRegistryContract,
        refresh_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consortium = consortium
        self._registry = registry
        self._refresh_s = refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        self._index: dict[str, RegisteredKey] = {}
        self._read_at: float | None = None
        self._removed: dict[str, int] = {}  # former member -> removal time
        self._next_block = 0

    def lookup(self, keyid: str, at: datetime) -> RegisteredKey | None:
        with self._lock:
            now = self._clock()
            stale = self._read_at is None or now - self._read_at >= self._refresh_s
            if stale:
                self._read_or_keep(now)
            return self._index.get(keyid)

    def refresh(self) -> None:
        """Read the index now (after a governance change this process made, for instance)."""
        with self._lock:
            self._read(self._clock())

    def _read_or_keep(self, now: float) -> None:
        try:
            self._read(now)
        except NodeError as exc:
            if self._read_at is None:
                raise
            self._read_at = now
            _log.warning("key directory: chain unreadable (%s); keeping the last index", exc)

    def _read(self, now: float) -> None:
        removed, last = self._consortium.removals(from_block=self._next_block)
        self._removed.update(removed)
        self._next_block = last + 1
        members = self._consortium.members()
        index: dict[str, RegisteredKey] = {}
        current = {member.account for member in members}
        for member in members:
            self._index_keys(index, member.account, frozenset(member.roles), None)
        for account, removed_at in self._removed.items():
            if account not in current:  # voted out (and not admitted again)
                self._index_keys(index, account, frozenset(), removed_at)
        self._index = index
        self._read_at = now

    def _index_keys(
        self,
        index: dict[str, RegisteredKey],
        account: str,
        roles: frozenset[str],
        removed_at: int | None,
    ) -> None:
        for key_id in self._registry.key_ids_of(account, REQUEST_SIGNING):
            try:
                key = self._registry.key(key_id)
            except InvalidKeyEntry as exc:
                _log.warning("key directory: %s; left out", exc)
                continue
            keyid = default_keyid(key.public_key)
            ends = [t for t in (key.ends_at, removed_at) if t is not None]
            index[keyid] = RegisteredKey(
                keyid=keyid,
                member_id=account,
                roles=roles,
                public_key=key.public_key,
                valid_from=datetime.fromtimestamp(key.not_before, UTC),
                valid_until=datetime.fromtimestamp(min(ends), UTC) if ends else None,
            )
