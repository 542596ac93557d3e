"""The anchoring loop: runs the :class:`~ledger.batcher.Batcher` in the service process.

A batch is cut when ``max_size`` accepted versions wait, or when the oldest has waited
``max_wait_s`` (the time bound), or at once when an unfinished batch is left from a crash. A
failing chain node does not stop acknowledgments: the loop records the error (health reports
it), backs off, and retries the same batch with the same signed transaction until it lands.

The loop looks at the outbox (:meth:`~ledger.db.Database.anchoring_window`) only when it needs
to: after each batch (what waits, and when the time window of the oldest closes), when this
process's own acknowledgments (:meth:`AnchoringLoop.notify`, counted in memory) could fill a
batch, and every ``poll_s`` otherwise (versions accepted by other processes on the same
database, or without a notification). When the time window closes it cuts the batch without
looking again (with several processes on one database, another one may have cut that one
meanwhile: this batch then holds versions that waited less). Not once per group commit, as
before: under load that was hundreds of reads a second, the larger part of the loop's CPU.

How long a version has waited: the outbox's ``accepted_at`` has whole-second precision (it is
part of the signed leaf entry), so it can make a version look up to a second older than it is;
with a time bound under a second, batches would be cut early and small. The versions this process
acknowledged are therefore timed from their :meth:`~AnchoringLoop.notify` (monotonic clock), the
others from ``accepted_at``, and the window uses whichever says less.

One loop per database acts (several processes may share one): the one holding the anchoring
lease (:mod:`ledger.db.lease`). The others stand by, trying to take the lease every
``standby_s``, so when the leader dies one of them takes over within about that long, resuming
its unfinished batch from the database. A leader that finds its lease lost (the batcher asks
before each step) stops acting at once and stands by.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from ledger.batcher import Batcher, NotLeader
from ledger.db import Database
from ledger.db.lease import AnchoringLease
from ledger.db.records import AnchoringWindow

_log = logging.getLogger(__name__)

_NEVER = 1 << 62  # no number of acknowledgments wakes the loop
_TIMER_SLACK_S = 0.002


class _Plan(NamedTuple):
    """What the loop waits for after a look that found no batch due."""

    wait_s: float  # look again after this long at the latest (poll_s, or the window's end)
    wake_after: int  # ... or once this many more acknowledgments of this process came
    closes_at: float | None  # when the oldest waiting version's time window closes (monotonic)


@dataclass(frozen=True)
class AnchoringState:
    """What health checks read."""

    running: bool
    leader: bool  # this process holds the anchoring lease (else it stands by)
    batches_anchored: int
    last_anchored_at: datetime | None
    last_error: str | None  # None once a batch went through again
    last_error_at: datetime | None
    consecutive_failures: int


class AnchoringLoop:
    def __init__(
        self,
        *,
        database: Database,
        batcher: Batcher,
        lease: AnchoringLease,
        max_size: int,
        max_wait_s: float,
        poll_s: float = 0.5,
        standby_s: float = 1.0,
        retry_s: float = 0.05,
        max_backoff_s: float = 5.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``lease``: the database's anchoring lease (the batcher's ``is_leader`` should be its
        ``check``); ``poll_s``: the longest the loop goes without looking at the outbox;
        ``standby_s``: how often a standing-by loop tries to take the lease; ``retry_s``: the
        first pause after a failure, doubling up to ``max_backoff_s``."""
        self._db = database
        self._batcher = batcher
        self._lease = lease
        self._standby_s = standby_s
        self._max_size = max_size
        self._max_wait_s = max_wait_s
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._max_backoff_s = max_backoff_s
        self._now = now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="anchoring", daemon=True)
        self._lock = threading.Lock()
        self._anchored = 0
        self._last_anchored_at: datetime | None = None
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._failures = 0
        self._leader = False
        self._confirm_at = 0.0  # when to confirm a held lease next (monotonic)
        # notify() bookkeeping, under _notify_lock: every notification so far, the ones since
        # the loop last looked, how many more may wake it (set before it waits), and when the
        # versions came that may still wait (monotonic time, count; oldest first, so in
        # outbox order: one committer thread commits and notifies in turn)
        self._notify_lock = threading.Lock()
        self._notified = 0
        self._accepted = 0
        self._wake_after = _NEVER
        self._arrivals: deque[tuple[float, int]] = deque()
        self._arrived = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._lease.release()

    def notify(self, accepted: int = 1) -> None:
        """``accepted`` versions were just committed: wake the loop if that may fill a batch
        (or if nothing waited, so that their time window starts now)."""
        if accepted <= 0:
            return
        with self._notify_lock:
            self._notified += accepted
            self._arrivals.append((time.monotonic(), accepted))
            self._arrived += accepted
            # Times matter only while fewer than max_size wait (else the size bound cuts the
            # batch): the newest max_size are enough. Bounded, should the chain be down long.
            while self._arrived - self._arrivals[0][1] >= self._max_size:
                self._arrived -= self._arrivals.popleft()[1]
            self._accepted += accepted
            if self._accepted < self._wake_after:
                return
            self._wake_after = _NEVER  # one wake-up per wait
        self._wake.set()

    def state(self) -> AnchoringState:
        with self._lock:
            return AnchoringState(
                running=self._thread.is_alive(),
                leader=self._leader,
                batches_anchored=self._anchored,
                last_anchored_at=self._last_anchored_at,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                consecutive_failures=self._failures,
            )

    def _look(self) -> tuple[AnchoringWindow, float | None]:
        """The outbox window, and when the oldest version this process notified about and no
        batch has taken yet was committed (monotonic; None if there is none)."""
        with self._notify_lock:
            self._accepted = 0  # counted from here: the read below may or may not see them
            self._wake_after = _NEVER
            seen = self._notified
        self._wake.clear()
        window = self._db.anchoring_window()
        with self._notify_lock:
            # Batches take the oldest rows: of our arrivals, only the newest ``unbatched`` can
            # still wait, plus those notified during the read (it may not have seen them).
            keep = window.unbatched + (self._notified - seen)
            while self._arrived > keep:
                at, count = self._arrivals[0]
                drop = min(count, self._arrived - keep)
                self._arrived -= drop
                if drop == count:
                    self._arrivals.popleft()
                else:
                    self._arrivals[0] = (at, count - drop)
            oldest = self._arrivals[0][0] if self._arrivals else None
        return window, oldest

    def _plan(self, window: AnchoringWindow, notified_at: float | None) -> _Plan | None:
        """None if a batch is due now, else when to look again."""
        if window.unfinished_batches:
            return None
        if window.unbatched == 0:
            return _Plan(self._poll_s, 1, None)
        if window.unbatched >= self._max_size:
            return None
        assert window.oldest_unbatched_at is not None
        waited = (self._now() - window.oldest_unbatched_at).total_seconds()
        if notified_at is not None:
            waited = min(waited, time.monotonic() - notified_at)
        if waited >= self._max_wait_s:
            return None
        left = self._max_wait_s - waited
        # a timed wait may end a hair early: wait a little past the window's end
        return _Plan(
            wait_s=min(left, self._poll_s) + _TIMER_SLACK_S,
            wake_after=self._max_size - window.unbatched,
            closes_at=time.monotonic() + left,
        )

    def _lead(self) -> bool:
        """Whether this loop may act: it holds the lease, or has just taken it. A held lease is
        confirmed every ``standby_s`` (the batcher asks before each step anyway), so health does
        not report a lease the database has dropped."""
        if self._lease.held:
            if time.monotonic() < self._confirm_at:
                return True
            self._confirm_at = time.monotonic() + self._standby_s
            if self._lease.check():
                return True
            _log.warning("anchoring: the anchoring lease is lost; standing by")
        try:
            taken = self._lease.acquire()
        except OSError as exc:  # the lock file cannot be opened: stand by, say why
            taken = False
            self._record_failure(exc)
        if taken:
            _log.info("anchoring: this process holds the anchoring lease and anchors")
        with self._lock:
            self._leader = taken
        return taken

    def _record_failure(self, exc: Exception) -> int:
        with self._lock:
            self._failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._last_error_at = self._now()
            return self._failures

    def _run(self) -> None:
        due = False  # the time window of the oldest waiting version has closed since the look
        while not self._stop.is_set():
            if not self._lead():
                due = False
                self._stop.wait(self._standby_s)
                continue
            try:
                if due:
                    plan = None  # no need to look again: that is what the look found out
                else:
                    window, notified_at = self._look()
                    plan = self._plan(window, notified_at)
                due = False
                if plan is None:
                    batch = self._batcher.run_once()
                    if batch is not None:
                        with self._lock:
                            self._anchored += 1
                            self._last_anchored_at = self._now()
                            self._last_error = None
                            self._failures = 0
                        continue  # more may be due at once
                    plan = _Plan(self._poll_s, 1, None)  # nothing waits (another process took it)
            except NotLeader:
                _log.warning("anchoring: the anchoring lease is lost; standing by")
                with self._lock:
                    self._leader = False
                continue
            except Exception as exc:  # node down, receipt timeout, database busy: retry later
                failures = self._record_failure(exc)
                _log.warning("anchoring failed (%d in a row): %s", failures, exc)
                delay = min(self._max_backoff_s, self._retry_s * 2**failures)
                self._stop.wait(delay)
                continue
            with self._notify_lock:
                if self._accepted >= plan.wake_after:
                    continue  # enough arrived while the loop looked: look again now
                self._wake_after = plan.wake_after
            self._wake.wait(plan.wait_s)
            closes_at = plan.closes_at
            if closes_at is None:  # nothing waited
                closes_at = self._wait_out_first_arrivals()
            due = closes_at is not None and time.monotonic() >= closes_at

    def _wait_out_first_arrivals(self) -> float | None:
        """The outbox was empty and this process's first acknowledgments since have woken the
        loop: their time window is known here, so wait it out (or until they fill a batch)
        rather than look now only to learn the same. Return when it closes (monotonic), or None
        if the loop should look now."""
        self._wake.clear()
        with self._notify_lock:
            if not self._arrivals or self._accepted >= self._max_size:
                return None  # woken by the poll timeout, or a batch is full
            closes_at = self._arrivals[0][0] + self._max_wait_s
            left = closes_at - time.monotonic()
            if left <= 0:
                return None
            self._wake_after = self._max_size  # counted since the empty look
        if self._stop.is_set():
            return None
        self._wake.wait(min(left, self._poll_s) + _TIMER_SLACK_S)
        return closes_at
