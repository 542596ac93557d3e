"""The anchoring loop's window (size, time) and backoff, against an in-memory outbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ledger.db.lease import AnchoringLease
from ledger.db.records import AnchoringWindow
from ledger.service._anchoring import AnchoringLoop


class Outbox:
    """Stands in for the database (the window) and the batcher (claims, anchors)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: list[datetime] = []  # accepted_at of unbatched versions
        self.unfinished = 0
        self.reads = 0
        self.batches: list[tuple[float, int]] = []  # (monotonic time, size)
        self.failures_left = 0

    def accept(self, count: int, *, accepted_at: datetime | None = None) -> None:
        with self.lock:
            self.waiting += [accepted_at or datetime.now(UTC)] * count

    # Database
    def anchoring_window(self) -> AnchoringWindow:
        with self.lock:
            self.reads += 1
            return AnchoringWindow(
                unfinished_batches=self.unfinished,
                unbatched=len(self.waiting),
                oldest_unbatched_at=min(self.waiting) if self.waiting else None,
            )

    # Batcher
    def run_once(self, max_size: int = 10) -> Any:
        with self.lock:
            if self.failures_left:
                self.failures_left -= 1
                raise ConnectionError("chain node down")
            if self.unfinished:
                self.unfinished = 0
                self.batches.append((time.monotonic(), 0))
                return object()
            if not self.waiting:
                return None
            taken, self.waiting = self.waiting[:max_size], self.waiting[max_size:]
            self.batches.append((time.monotonic(), len(taken)))
            return object()


@contextmanager
def running(outbox: Outbox, **options: Any) -> Iterator[AnchoringLoop]:
    settings: dict[str, Any] = {"max_size": 10, "max_wait_s": 0.3, "poll_s": 0.5} | options
    batcher = type("B", (), {"run_once": lambda _: outbox.run_once(settings["max_size"])})()
    lease = AnchoringLease(sa.create_engine("sqlite://"))  # in memory: always granted
    loop = AnchoringLoop(
        database=outbox,  # type: ignore[arg-type]
        batcher=batcher,  # type: ignore[arg-type]
        lease=lease,
        **settings,
    )
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_acknowledgments_do_not_each_read_the_outbox() -> None:
    outbox = Outbox()
    with running(outbox, max_size=1000, max_wait_s=0.5) as loop:
        wait_for(lambda: outbox.reads >= 1)
        started = time.monotonic()
        for _ in range(200):  # 200 group commits within the time window
            outbox.accept(1)
            loop.notify(1)
        wait_for(lambda: len(outbox.batches) == 1)
        assert outbox.batches[0][1] == 200
        assert outbox.batches[0][0] - started >= 0.5
    # a look when the first arrived (the outbox was empty), one when the window closed, and the
    # one after the batch; not one per acknowledgment
    assert outbox.reads <= 6


def test_the_time_bound_counts_from_the_acknowledgment() -> None:
    # accepted_at has whole-second precision: a version acknowledged now may carry a time up to
    # a second ago. The loop times its own from notify().
    outbox = Outbox()
    with running(outbox, max_wait_s=0.3) as loop:
        wait_for(lambda: outbox.reads >= 1)
        acknowledged = time.monotonic()
        outbox.accept(3, accepted_at=datetime.now(UTC) - timedelta(seconds=0.9))
        loop.notify(3)
        wait_for(lambda: outbox.batches)
        cut_at, size = outbox.batches[0]
    assert size == 3
    assert 0.3 <= cut_at - acknowledged < 0.3 + 0.5


def test_versions_nobody_notified_about_are_timed_by_accepted_at() -> None:
    outbox = Outbox()
    outbox.accept(2, accepted_at=datetime.now(UTC) - timedelta(seconds=5))  # another process's
    with running(outbox, max_wait_s=0.3, poll_s=0.05):
        wait_for(lambda: outbox.batches, timeout_s=1)
    assert outbox.batches[0][1] == 2


def test_a_full_batch_is_cut_at_once() -> None:
    outbox = Outbox()
    with running(outbox, max_size=10, max_wait_s=30) as loop:
        wait_for(lambda: outbox.reads >= 1)
        for _ in range(3):
            outbox.accept(4)
            loop.notify(4)
        started = time.monotonic()
        wait_for(lambda: outbox.batches, timeout_s=1)
        assert outbox.batches[0][0] - started < 2  # not the 30 s time bound
        assert outbox.batches[0][1] == 10
        assert len(outbox.waiting) == 2  # the rest waits for its time window


def test_an_unfinished_batch_is_resumed_at_once() -> None:
    outbox = Outbox()
    outbox.unfinished = 1
    with running(outbox, max_wait_s=30):
        wait_for(lambda: outbox.batches, timeout_s=1)


def test_failures_back_off_and_show_until_a_batch_goes_through() -> None:
    outbox = Outbox()
    outbox.accept(1, accepted_at=datetime.now(UTC) - timedelta(seconds=5))
    outbox.failures_left = 3
    with running(outbox, retry_s=0.01, max_backoff_s=0.05) as loop:
        wait_for(lambda: loop.state().consecutive_failures >= 2)
        state = loop.state()
        assert state.last_error == "ConnectionError: chain node down"
        assert state.last_error_at is not None and state.running
        wait_for(lambda: outbox.batches)
        wait_for(lambda: loop.state().batches_anchored == 1)
        state = loop.state()
        assert state.last_error is None and state.consecutive_failures == 0
    assert not loop.state().running


def test_arrival_times_are_kept_for_one_batch_at_most() -> None:
    # e.g. while the chain is down for hours: the size bound cuts the next batch anyway
    loop = AnchoringLoop(
        database=Outbox(),  # type: ignore[arg-type]
        batcher=None,  # type: ignore[arg-type]
        lease=AnchoringLease(sa.create_engine("sqlite://")),
        max_size=10,
        max_wait_s=0.3,
    )
    for _ in range(10_000):
        loop.notify(1)
    loop.notify(25)
    assert len(loop._arrivals) <= 11
    assert sum(count for _, count in loop._arrivals) >= 10
