"""The lifecycle of what this member relied on: attestations and grants that end reach its
reliances, which are then listed for re-verification.

:class:`LifecycleFollower` reads the chain's lifecycle feed
(:class:`~ledger.attestation.feed.LifecycleFeed`) from where it stopped (the cursor is in the
database) and turns what ended into :class:`~ledger.db.LifecycleEnd` s:

* an attestation revoked by its attester, or superseded (re-verified), ends at the event's time;
* a grant ends when a revocation is recorded **whose signature verifies** under the key the
  attestation binds (anyone may relay a bogus one; the earliest that verifies counts, as for
  every service: :func:`~ledger.chain.consent.effective_revocation`); only grants to this
  member are looked at;
* expiry is no event: reliances whose attestation's expiry the chain's time has reached are
  marked by time.

Each poll is applied in one transaction (:meth:`ledger.db.Database.apply_lifecycle`): the ends,
the reliances they mark (``needs-reverification`` with the reason and time), and the cursor. In
the service the follower runs in a thread of its own (:meth:`start`, :meth:`stop`), every
``poll_s`` (``LEDGER_LIFECYCLE_POLL_S``). It never deploys anything: until the consent
contracts are recorded for the chain it has nothing to follow and waits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.attestation.feed import LifecycleEvent, LifecycleFeed
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract, effective_revocation
from ledger.chain.errors import DeploymentError
from ledger.db import Database, LifecycleEnd, RelianceReason
from ledger.errors import LedgerError

__all__ = ["FEED", "FollowerState", "LifecycleFollower"]

_log = logging.getLogger(__name__)

#: The feed's name in ``feed_cursors``.
FEED = "lifecycle"

#: Finds the recorded consent contracts (:class:`DeploymentError` while there are none).
FindContracts = Callable[[], tuple[IdentityAttestationsContract, ConsentRegistryContract]]

_ATTESTATION_ENDS = {
    "attestation-revoked": RelianceReason.ATTESTATION_REVOKED,
    "attestation-superseded": RelianceReason.ATTESTATION_SUPERSEDED,
}


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class FollowerState:
    running: bool
    next_block: int | None  # where the feed resumes (None: it never read)
    marked: int  # reliances this process marked
    last_error: str | None


class LifecycleFollower:
    """Follows the lifecycle feed for member ``member`` (its chain account)."""

    def __init__(
        self,
        *,
        database: Database,
        find_contracts: FindContracts,
        member: str,
        poll_s: float,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = database
        self._find = find_contracts
        self._member = member.lower()
        self._poll_s = poll_s
        self._now = now
        self._contracts: tuple[IdentityAttestationsContract, ConsentRegistryContract] | None = None
        self._polling = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lifecycle", daemon=True)
        self._marked = 0
        self._last_error: str | None = None

    # -- one poll ----------------------------------------------------------------------------

    def poll(self) -> int:
        """Read the feed from the stored cursor to the latest block and apply what ended; how
        many reliances were marked (0 while the consent contracts are not recorded)."""
        with self._polling:
            contracts = self._found()
            if contracts is None:
                return 0
            attestations, registry = contracts
            start = self._db.feed_cursor(FEED) or 0
            feed = LifecycleFeed(attestations=attestations, consent=registry, from_block=start)
            events = feed.poll()
            ends = [end for e in events if (end := self._end(e, attestations, registry))]
            client = attestations.client
            last = max(feed.next_block - 1, 0)
            block = client.json_rpc("eth_getBlockByNumber", hex(last), False)
            chain_now = _utc(int(block["timestamp"], 16)) if block else self._now()
            marked = self._db.apply_lifecycle(
                FEED,
                ends=ends,
                expired_by=chain_now,
                next_block=feed.next_block,
                now=self._now(),
            )
            self._marked += marked
            return marked

    def _found(self) -> tuple[IdentityAttestationsContract, ConsentRegistryContract] | None:
        if self._contracts is None:
            try:
                self._contracts = self._find()
            except DeploymentError:
                return None
        return self._contracts

    def _end(
        self,
        event: LifecycleEvent,
        attestations: IdentityAttestationsContract,
        registry: ConsentRegistryContract,
    ) -> LifecycleEnd | None:
        reason = _ATTESTATION_ENDS.get(event.kind)
        if reason is not None and event.attestation_id is not None:
            return LifecycleEnd(
                kind="attestation",
                record_id=event.attestation_id,
                reason=reason,
                ended_at=_utc(event.at),
                block=event.block,
            )
        if event.kind != "grant-revoked" or event.grant_id is None:
            return None
        grant = registry.grant(event.grant_id)
        if grant.grant.grantee.lower() != self._member:
            return None  # another member's grant: none of this member's reliances
        key = attestations.attestation(grant.grant.attestation_id).customer_key
        revoked = effective_revocation(registry.revocations_of(event.grant_id), key)
        if revoked is None:
            return None  # relayed, but not signed by the customer: no revocation
        return LifecycleEnd(
            kind="grant",
            record_id=event.grant_id,
            reason=RelianceReason.GRANT_REVOKED,
            ended_at=_utc(revoked.at),
            block=event.block,
        )

    # -- the loop ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def state(self) -> FollowerState:
        try:
            cursor = self._db.feed_cursor(FEED)
        except LedgerError:
            cursor = None
        return FollowerState(
            running=self._thread.is_alive(),
            next_block=cursor,
            marked=self._marked,
            last_error=self._last_error,
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
                self._last_error = None
            except LedgerError as exc:  # the node or the database: try again next time
                if self._last_error is None:
                    _log.warning("lifecycle feed: %s", exc)
                self._last_error = str(exc)
            except Exception as exc:  # the thread must outlive a bug in one poll
                _log.exception("lifecycle feed failed")
                self._last_error = f"{type(exc).__name__}: {exc}"
            self._stop.wait(self._poll_s)
