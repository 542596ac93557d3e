"""The ``keys`` part of ``ledger-proof/2``: the KeyRegistry entries of the keys that made the
proof's signatures, as the issuer read them when it sealed; their offline checks and their
confirmation on chain (the module docstring of :mod:`ledger.proof` lists both).

Times are UNIX seconds, exactly as the registry holds them; ``not_after`` is absent for an
open-ended key, ``revoked_at`` for a key not revoked (as of sealing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from pydantic import StrictStr

from ledger import canonical
from ledger.chain.client import ChainClient
from ledger.chain.deployments import holds_this_build
from ledger.chain.errors import InvalidKeyEntry, StateConflict
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.chain.keys import CONTRACT_NAME as KEY_REGISTRY
from ledger.chain.keys import (
    KeyEntry,
    KeyRegistryContract,
    in_window,
    key_id_of,
    window_end,
)
from ledger.proof import _common as c

#: Which signature an entry is for, and the purpose its key must be registered for. The broker
#: signs agreements with the key it signs its requests with.
SIGNERS = {"seal": "proof-sealing", "broker": "request-signing"}
#: How a signer is named in messages.
_WHO = {"seal": "seal key", "broker": "broker's key"}


# --- the schema


class _RegistryPart(c.Model):
    chain_id: c.ChainId
    contract: c.Address


class _EntryPart(c.Model):
    key_id: c.Keccak
    member: c.Address
    purpose: Literal["request-signing", "proof-sealing"]
    fingerprint: c.Sm3
    not_before: c.Count
    not_after: c.Count | None = None
    revoked_at: c.Count | None = None
    registered_at: c.Count


class KeysPart(c.Model):
    registry: _RegistryPart
    sealed_at: StrictStr
    seal: _EntryPart
    broker: _EntryPart | None = None


# --- what the issuer knows, what a verified proof claims


@dataclass(frozen=True)
class ProofKeys:
    """The issuer's registry and entries, read when it seals at ``sealed_at``: ``seal`` the
    entry of its sealing key, ``broker`` that of the key the broker signed with (None if that
    key is not registered)."""

    chain_id: int
    registry: str
    sealed_at: datetime
    seal: KeyEntry
    broker: KeyEntry | None = None


@dataclass(frozen=True)
class ClaimedKey:
    """One entry of a verified proof: the registry's fields as the issuer read them, and when
    the key signed (``used_at``: the seal's ``sealed_at``, the broker's ``signed_at``)."""

    signer: str
    key_id: bytes
    member: str
    purpose: str
    fingerprint: bytes
    not_before: int
    not_after: int | None
    revoked_at: int | None
    registered_at: int
    used_at: datetime

    @property
    def who(self) -> str:
        return _WHO[self.signer]


@dataclass(frozen=True)
class KeyClaims:
    """The ``keys`` part of a verified proof."""

    chain_id: int
    registry: str
    sealed_at: datetime
    entries: tuple[ClaimedKey, ...]


def keys_json(keys: ProofKeys) -> dict[str, Any]:
    part: dict[str, Any] = {
        "registry": {"chain_id": keys.chain_id, "contract": keys.registry},
        "sealed_at": canonical.timestamp(keys.sealed_at),
        "seal": _entry_json(keys.seal),
    }
    if keys.broker is not None:
        part["broker"] = _entry_json(keys.broker)
    return part


def _entry_json(entry: KeyEntry) -> dict[str, Any]:
    for name in ("not_before", "not_after", "revoked_at", "registered_at"):
        value = getattr(entry, name)
        if value is not None and value > c.MAX_COUNT:
            raise c.ProofInvalid(
                f"the {entry.purpose} key's {name} ({value}) is beyond what a proof file holds"
                f" (integers up to {c.MAX_COUNT})"
            )
    part: dict[str, Any] = {
        "key_id": canonical.label("keccak256", entry.key_id),
        "member": entry.member,
        "purpose": entry.purpose,
        "fingerprint": canonical.label("sm3", entry.fingerprint),
        "not_before": entry.not_before,
        "registered_at": entry.registered_at,
    }
    if entry.not_after is not None:
        part["not_after"] = entry.not_after
    if entry.revoked_at is not None:
        part["revoked_at"] = entry.revoked_at
    return part


# --- offline


def check_keys(
    part: KeysPart,
    *,
    proof: c.VerifiedProof,
    signatures: Sequence[c.SignaturePart],
) -> KeyClaims:
    """Checks 10 to 13 (numbered in :mod:`ledger.proof`) of a v2 proof whose body verified."""
    # 10. the registry is on the chain of the anchor; the seal is not older than the version
    registry = c.checksummed(part.registry.contract)
    if part.registry.chain_id != proof.chain_id:
        raise c.ProofInvalid(
            f"the key registry is on chain {part.registry.chain_id}, the anchor on chain"
            f" {proof.chain_id}"
        )
    sealed_at = canonical.parse_timestamp(part.sealed_at)
    assert proof.accepted_at is not None  # every batch proof has it
    if sealed_at < proof.accepted_at:
        raise c.ProofInvalid(
            f"sealed at {part.sealed_at}, before the version was accepted"
            f" ({canonical.timestamp(proof.accepted_at)})"
        )
    # 12. the seal's entry: the issuer's key, for proof sealing, of the member that anchored,
    #     valid when it sealed
    entries = [
        claim("seal", part.seal, registry, proof.chain_id, proof.issuer_fingerprint, sealed_at)
    ]
    if part.seal.member != proof.writer:
        raise c.ProofInvalid(
            f"the seal key is registered to {part.seal.member}, the batch was anchored by"
            f" {proof.writer}"
        )
    # 13. the broker's entry, when present: the key the broker signed with, for request
    #     signing, valid when it signed
    if part.broker is not None:
        broker = next(s for s in signatures if s.role == "broker")  # check 4: exactly once
        entries.append(
            claim(
                "broker",
                part.broker,
                registry,
                proof.chain_id,
                canonical.unlabel("sm3", broker.key_fingerprint),
                canonical.parse_timestamp(broker.signed_at),
            )
        )
    return KeyClaims(
        chain_id=proof.chain_id, registry=registry, sealed_at=sealed_at, entries=tuple(entries)
    )


def claim(
    signer: str,
    entry: _EntryPart,
    registry: str,
    chain_id: int,
    fingerprint: bytes,
    used_at: datetime,
) -> ClaimedKey:
    who = _WHO[signer]
    claimed = ClaimedKey(
        signer=signer,
        key_id=canonical.unlabel("keccak256", entry.key_id),
        member=c.checksummed(entry.member),
        purpose=entry.purpose,
        fingerprint=canonical.unlabel("sm3", entry.fingerprint),
        not_before=entry.not_before,
        not_after=entry.not_after,
        revoked_at=entry.revoked_at,
        registered_at=entry.registered_at,
        used_at=used_at,
    )
    # 11. the key ID is the registry's ID of this member, purpose and fingerprint
    expected_id = key_id_of(
        chain_id=chain_id,
        contract=registry,
        member=claimed.member,
        purpose=claimed.purpose,
        fingerprint=claimed.fingerprint,
    )
    if claimed.key_id != expected_id:
        raise c.ProofInvalid(
            f"the {who} entry's key ID is not the registry's ID of its member, purpose and key"
        )
    if claimed.fingerprint != fingerprint:
        raise c.ProofInvalid(
            f"the {who} entry is for key {entry.fingerprint}, the signature was made with key"
            f" {canonical.label('sm3', fingerprint)}"
        )
    if claimed.purpose != SIGNERS[signer]:
        raise c.ProofInvalid(
            f"the {who} is registered for {claimed.purpose!r}, not {SIGNERS[signer]!r}"
        )
    _check_window(claimed, not_after=claimed.not_after, revoked_at=claimed.revoked_at)
    return claimed


def _check_window(key: ClaimedKey, *, not_after: int | None, revoked_at: int | None) -> None:
    """The key was valid when it signed, by the window given (the proof's or the chain's)."""
    at = key.used_at.timestamp()
    ends = window_end(not_after, revoked_at)
    if in_window(key.not_before, ends, at):
        return
    used = canonical.timestamp(key.used_at)
    if at < key.not_before:
        reason = f"its window starts at {_time(key.not_before)}"
    elif revoked_at is not None and revoked_at == ends:
        reason = f"it was revoked effective {_time(revoked_at)}"
    else:
        reason = f"its window ended at {_time(ends)}"
    raise c.ProofInvalid(f"the {key.who} was not valid when it signed ({used}): {reason}")


def _time(seconds: int | None) -> str:
    assert seconds is not None
    try:
        return canonical.timestamp(datetime.fromtimestamp(seconds, UTC))
    except (OverflowError, ValueError, OSError):  # beyond year 9999: the number as it is
        return str(seconds)


# --- on chain


Step = tuple[tuple[object, ...], Callable[[ChainClient], None]]


def confirmation_steps(claims: KeyClaims, contract: str) -> list[Step]:
    """Checks 18 to 20 (after the batch's own) as independent steps, each with the claims its
    verdict depends on: the registry and its link to the ledger ``contract`` once, then each
    entry (with its signing time)."""
    registry = ("registry", claims.chain_id, claims.registry, contract)
    steps: list[Step] = [(registry, partial(_confirm_registry, claims.registry, contract))]
    for key in claims.entries:
        step = ("key", claims.chain_id, claims.registry, key)
        steps.append((step, partial(confirm_entry, claims.registry, key)))
    return steps


def _confirm_registry(address: str, contract: str, client: ChainClient) -> None:
    # 18. the registry is this build's KeyRegistry (a contract of the issuer's own making could
    #     answer anything)
    if not holds_this_build(client, KEY_REGISTRY, address):
        raise c.ProofInvalid(f"no {KEY_REGISTRY} of this build at {address}")
    # 19. it is the registry of the consortium the EvidenceLedger asks before each write
    registry = KeyRegistryContract(client=client, address=address)
    ledger = EvidenceLedgerContract(client=client, address=contract)
    if registry.consortium() != ledger.consortium():
        raise c.ProofInvalid(
            f"the key registry {address} belongs to another consortium than the"
            f" EvidenceLedger {contract}"
        )


def confirm_entry(address: str, key: ClaimedKey, client: ChainClient) -> None:
    # 20. the entry is on chain as the proof states it; its window may only have shrunk (a
    #     rotation ends it, a revocation can be added), and still holds the signing time
    shown = canonical.label("keccak256", key.key_id)
    try:
        found = KeyRegistryContract(client=client, address=address).key(key.key_id)
    except StateConflict as exc:
        raise c.ProofInvalid(f"the {key.who} {shown} is not in the registry: {exc}") from exc
    except InvalidKeyEntry as exc:
        raise c.ProofInvalid(f"the {key.who} entry on chain is invalid: {exc}") from exc
    stated = (key.member, key.purpose, key.fingerprint, key.not_before, key.registered_at)
    on_chain = (
        found.member,
        found.purpose,
        found.fingerprint,
        found.not_before,
        found.registered_at,
    )
    if on_chain != stated:
        raise c.ProofInvalid(f"the {key.who} {shown} on chain differs from the proof's entry")
    if key.not_after is not None and (found.not_after is None or found.not_after > key.not_after):
        raise c.ProofInvalid(f"the {key.who} {shown} on chain has a later end than the proof's")
    if key.revoked_at is not None and found.revoked_at != key.revoked_at:
        raise c.ProofInvalid(f"the {key.who} {shown} on chain has another revocation")
    _check_window(key, not_after=found.not_after, revoked_at=found.revoked_at)
