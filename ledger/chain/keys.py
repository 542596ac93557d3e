"""The KeyRegistry contract from Python: members' SM2 keys per purpose, with validity windows.

The chain cannot compute SM3, so the registry keeps the fingerprint a member states beside the
key. Every entry read here is checked: its fingerprint must be SM3 of its public key, which must
be a point of the SM2 curve, else :class:`InvalidKeyEntry` (nothing may rely on it). Keys
registered from here always carry the right fingerprint (computed from the key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.address import to_checksum_address

from ledger.chain._binding import (
    ContractBinding,
    deployment_scoped_id,
    id_of,
    name_ids,
    name_of,
)
from ledger.chain.client import SentTransaction
from ledger.chain.errors import (
    ContractRefused,
    InvalidArgument,
    InvalidKeyEntry,
    NotPermitted,
    StateConflict,
    UnknownRecord,
)
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey

CONTRACT_NAME = "KeyRegistry"

#: What a key is for; on chain each is keccak256 of its name.
PURPOSES = ("request-signing", "proof-sealing", "disclosure-receiving")
PURPOSE_IDS = name_ids(PURPOSES)
#: ``notAfter`` of a key without an end.
OPEN_ENDED = 2**64 - 1

REFUSALS: dict[str, type[ContractRefused]] = {
    "KeyRegistry__NotMember": NotPermitted,
    "KeyRegistry__NotKeyOwner": NotPermitted,
    "KeyRegistry__KeyAlreadyRegistered": StateConflict,
    "KeyRegistry__KeyOfAnotherMember": StateConflict,
    "KeyRegistry__UnknownKey": UnknownRecord,
    "KeyRegistry__AlreadyRevoked": StateConflict,
    "KeyRegistry__InvalidRotation": StateConflict,
    "KeyRegistry__UnknownPurpose": InvalidArgument,
    "KeyRegistry__InvalidPublicKey": InvalidArgument,
    "KeyRegistry__InvalidFingerprint": InvalidArgument,
    "KeyRegistry__InvalidWindow": InvalidArgument,
    "KeyRegistry__StartsInPast": InvalidArgument,
    "KeyRegistry__InvalidRevocationTime": InvalidArgument,
}


def purpose_id(name: str) -> bytes:
    """The on-chain ID of purpose ``name``; :class:`ValueError` for an unknown one."""
    return id_of(PURPOSE_IDS, name, "purpose")


@dataclass(frozen=True)
class KeyEntry:
    """A registered key, checked (fingerprint = SM3 of the key). Times are UNIX seconds;
    ``not_after`` None means open-ended, ``revoked_at`` None not revoked."""

    key_id: bytes
    member: str
    purpose: str
    fingerprint: bytes
    public_key: SM2PublicKey
    not_before: int
    not_after: int | None
    revoked_at: int | None
    registered_at: int

    @property
    def ends_at(self) -> int | None:
        """When the key stops being valid: its window's end or its revocation, the earlier."""
        return window_end(self.not_after, self.revoked_at)

    def valid_at(self, at: int) -> bool:
        """The registry's rule, offline: ``not_before <= at < ends_at``."""
        return in_window(self.not_before, self.ends_at, at)


def window_end(not_after: int | None, revoked_at: int | None) -> int | None:
    """When a key stops being valid: its window's end or its revocation, the earlier (None:
    never)."""
    ends = [t for t in (not_after, revoked_at) if t is not None]
    return min(ends) if ends else None


def in_window(not_before: int, ends: int | None, at: float) -> bool:
    """The registry's rule (``_validAt``), the one home of it off chain: a key signs validly at
    ``at`` (UNIX seconds) when ``not_before <= at < ends``."""
    return not_before <= at and (ends is None or at < ends)


@dataclass(frozen=True)
class InitialKey:
    """A founding member's key, registered when the registry is deployed."""

    member: str
    purpose: str
    public_key: SM2PublicKey
    not_before: int = 0
    not_after: int | None = None

    def as_abi(self) -> tuple[Any, ...]:
        return (
            to_checksum_address(self.member),
            purpose_id(self.purpose),
            self.public_key.to_raw(),
            self.public_key.fingerprint(),
            self.not_before,
            self.not_after or 0,
        )


@dataclass(frozen=True)
class Registered:
    key_id: bytes
    sent: SentTransaction


def key_id_of(
    *, chain_id: int, contract: str, member: str, purpose: str, fingerprint: bytes
) -> bytes:
    """The registry's key ID, computed offline (same as ``keyIdOf`` on chain)."""
    return deployment_scoped_id(
        chain_id=chain_id,
        contract=contract,
        types=["address", "bytes32", "bytes32"],
        values=[to_checksum_address(member), purpose_id(purpose), fingerprint],
    )


class KeyRegistryContract(ContractBinding):
    CONTRACT_NAME = CONTRACT_NAME
    REFUSALS = REFUSALS

    @staticmethod
    def constructor_args(consortium: str, initial_keys: Sequence[InitialKey]) -> tuple[Any, ...]:
        return (to_checksum_address(consortium), [key.as_abi() for key in initial_keys])

    def register(
        self,
        purpose: str,
        public_key: SM2PublicKey,
        *,
        not_before: int = 0,
        not_after: int | None = None,
    ) -> Registered:
        """Register the caller's key (``not_before`` 0: from the block's time on)."""
        fn = self._contract.functions.registerKey(
            purpose_id(purpose),
            public_key.to_raw(),
            public_key.fingerprint(),
            not_before,
            not_after or 0,
        )
        return self._registered(self._transact(fn))

    def rotate(
        self,
        old_key_id: bytes,
        public_key: SM2PublicKey,
        *,
        not_before: int = 0,
        not_after: int | None = None,
    ) -> Registered:
        """Register a new key for the old one's purpose; the old one ends where it starts."""
        fn = self._contract.functions.rotateKey(
            old_key_id, public_key.to_raw(), public_key.fingerprint(), not_before, not_after or 0
        )
        return self._registered(self._transact(fn))

    def revoke(self, key_id: bytes, *, effective_at: int = 0) -> SentTransaction:
        """Revoke the caller's key from ``effective_at`` on (0: the block's time)."""
        return self._transact(self._contract.functions.revokeKey(key_id, effective_at))

    def consortium(self) -> str:
        return to_checksum_address(self._call(self._contract.functions.consortium()))

    def key(self, key_id: bytes) -> KeyEntry:
        return _entry(self._call(self._contract.functions.getKey(key_id)))

    def entry_of(self, member: str, purpose: str, fingerprint: bytes) -> KeyEntry | None:
        """The entry of ``member``'s key with ``fingerprint`` for ``purpose`` (one call: the key
        ID is computed here), whatever its window; None if the registry has no such entry."""
        key_id = key_id_of(
            chain_id=self.client.chain_id,
            contract=self.address,
            member=member,
            purpose=purpose,
            fingerprint=fingerprint,
        )
        try:
            return self.key(key_id)
        except StateConflict as exc:
            if exc.error == "KeyRegistry__UnknownKey":
                return None
            raise

    def key_ids_of(self, member: str, purpose: str) -> list[bytes]:
        fn = self._contract.functions.keyIdsOf(to_checksum_address(member), purpose_id(purpose))
        return [bytes(i) for i in self._call(fn)]

    def keys_of(self, member: str, purpose: str) -> list[KeyEntry]:
        return [self.key(key_id) for key_id in self.key_ids_of(member, purpose)]

    def valid_keys_at(self, member: str, purpose: str, at: int) -> list[KeyEntry]:
        """The member's keys for ``purpose`` valid at ``at`` (one call)."""
        fn = self._contract.functions.validKeysAt(
            to_checksum_address(member), purpose_id(purpose), at
        )
        return [_entry(raw) for raw in self._call(fn)]

    def is_valid_at(self, member: str, purpose: str, fingerprint: bytes, at: int) -> bool:
        fn = self._contract.functions.isValidAt(
            to_checksum_address(member), purpose_id(purpose), fingerprint, at
        )
        return bool(self._call(fn))

    def _registered(self, sent: SentTransaction) -> Registered:
        return Registered(key_id=bytes(self._one_event("KeyRegistered", sent)["keyId"]), sent=sent)


def _entry(raw: Sequence[Any]) -> KeyEntry:
    key_id, member, purpose, fingerprint, public_key = bytes(raw[0]), *raw[1:5]
    shown = "0x" + key_id.hex()
    try:
        key = SM2PublicKey.from_raw(bytes(public_key))
    except CryptoError as exc:
        raise InvalidKeyEntry(f"key {shown} is not an SM2 public key: {exc}") from exc
    if key.fingerprint() != bytes(fingerprint):
        raise InvalidKeyEntry(
            f"key {shown}: the registered fingerprint {bytes(fingerprint).hex()} is not SM3 of"
            f" the key ({key.fingerprint().hex()})"
        )
    not_after, revoked_at = int(raw[6]), int(raw[7])
    return KeyEntry(
        key_id=key_id,
        member=to_checksum_address(member),
        purpose=name_of(PURPOSE_IDS, purpose),
        fingerprint=bytes(fingerprint),
        public_key=key,
        not_before=int(raw[5]),
        not_after=None if not_after == OPEN_ENDED else not_after,
        revoked_at=revoked_at or None,
        registered_at=int(raw[8]),
    )
