"""The lifecycle feed: what changed on chain for attestations and consents, in chain order.

Every member's service follows it (:class:`LifecycleFeed`, a cursor over the
IdentityAttestations and ConsentRegistry events): an attestation made, revoked or superseded
(re-verification), a grant recorded, a revocation recorded. A member that relied on an
attestation or grant learns of its end from here and stops reusing it; expiry is no event (it
is a time the attestation states), so :func:`expired_between` lists the attestations a member
relies on whose expiry passed.

Events are read from the block after the last one read up to the latest block; each carries
its block number and log index, so a consumer that stores the cursor resumes where it stopped
(and a re-read of the same blocks yields the same events).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from ledger.chain.attestations import Attestation, IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract

__all__ = ["LifecycleEvent", "LifecycleFeed", "expired_between"]

Kind = Literal[
    "attested", "attestation-revoked", "attestation-superseded", "grant-recorded", "grant-revoked"
]


@dataclass(frozen=True)
class LifecycleEvent:
    """One change: its kind, the attestation and/or grant it concerns, when it took effect
    (UNIX seconds: the event's own time, else its block's), and where it is on chain.
    ``successor`` is the superseding attestation; ``grant-revoked`` is a revocation as
    recorded (whether its signature verifies is the reader's check)."""

    kind: Kind
    block: int
    log_index: int
    at: int
    attestation_id: bytes | None = None
    grant_id: bytes | None = None
    successor: bytes | None = None
    account: str | None = None  # the attester, the grantee, or the relayer of a revocation


#: (contract event, kind) in the order they are read; merged by position on chain after.
_ATTESTATION_EVENTS: tuple[tuple[str, Kind], ...] = (
    ("Attested", "attested"),
    ("AttestationRevoked", "attestation-revoked"),
    ("AttestationSuperseded", "attestation-superseded"),
)
_CONSENT_EVENTS: tuple[tuple[str, Kind], ...] = (
    ("GrantRecorded", "grant-recorded"),
    ("RevocationRecorded", "grant-revoked"),
)


class LifecycleFeed:
    """A cursor over both contracts' events (not thread-safe: one follower per feed)."""

    def __init__(
        self,
        *,
        attestations: IdentityAttestationsContract,
        consent: ConsentRegistryContract,
        from_block: int = 0,
    ) -> None:
        self._attestations = attestations
        self._consent = consent
        self.next_block = from_block
        self._block_times: dict[int, int] = {}

    def poll(self) -> list[LifecycleEvent]:
        """The events from :attr:`next_block` to the latest block, in chain order; the cursor
        then moves past them. :class:`~ledger.chain.errors.NodeError` leaves it where it was."""
        client = self._attestations.client
        latest = int(client.json_rpc("eth_blockNumber"), 16)
        if self.next_block > latest:
            return []
        found: list[LifecycleEvent] = []
        window = {"from_block": self.next_block, "to_block": latest}
        for name, kind in _ATTESTATION_EVENTS:
            found += [self._event(kind, log) for log in self._attestations.logs(name, **window)]
        for name, kind in _CONSENT_EVENTS:
            found += [self._event(kind, log) for log in self._consent.logs(name, **window)]
        found.sort(key=lambda e: (e.block, e.log_index))
        self.next_block = latest + 1
        return found

    def _event(self, kind: Kind, log: object) -> LifecycleEvent:
        args = log["args"]  # type: ignore[index]
        block, index = int(log["blockNumber"]), int(log["logIndex"])  # type: ignore[index]
        at = int(args["at"]) if "at" in args else self._block_time(block)
        base = LifecycleEvent(kind=kind, block=block, log_index=index, at=at)
        if kind in ("attested", "attestation-revoked"):
            return replace(
                base, attestation_id=bytes(args["attestationId"]), account=args["attester"]
            )
        if kind == "attestation-superseded":
            return replace(
                base, attestation_id=bytes(args["oldId"]), successor=bytes(args["newId"])
            )
        if kind == "grant-recorded":
            return replace(
                base,
                grant_id=bytes(args["grantId"]),
                attestation_id=bytes(args["attestationId"]),
                account=args["grantee"],
            )
        return replace(base, grant_id=bytes(args["grantId"]), account=args["relayer"])

    def _block_time(self, block: int) -> int:
        if block not in self._block_times:
            client = self._attestations.client
            header = client.json_rpc("eth_getBlockByNumber", hex(block), False)
            self._block_times[block] = int(header["timestamp"], 16)
        return self._block_times[block]


def expired_between(attestations: Iterable[Attestation], start: int, end: int) -> list[bytes]:
    """The IDs of ``attestations`` whose expiry falls in ``[start, end)``: the ends no event
    announces."""
    return [a.attestation_id for a in attestations if start <= a.expires_at < end]
