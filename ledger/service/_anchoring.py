"""The anchoring loop: runs the :class:`~ledger.batcher.Batcher` in the service process.

A batch is cut when ``max_size`` accepted versions wait, or when the oldest has waited
``max_wait_s`` (the time bound), or at once when an unfinished batch is left from a crash. A
failing chain node does not stop acknowledgments: the loop records the error (health reports
it), backs off, and retries the same batch with the same signed transaction until it lands.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.batcher import Batcher
from ledger.db import Database

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnchoringState:
    """What health checks read."""

    running: bool
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
        max_size: int,
        max_wait_s: float,
        poll_s: float = 0.05,
        max_backoff_s: float = 5.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = database
        self._batcher = batcher
        self._max_size = max_size
        self._max_wait_s = max_wait_s
        self._poll_s = poll_s
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

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def notify(self, accepted: int = 1) -> None:
        """New versions were accepted: look at the window now rather than at the next poll."""
        self._wake.set()

    def state(self) -> AnchoringState:
        with self._lock:
            return AnchoringState(
                running=self._thread.is_alive(),
                batches_anchored=self._anchored,
                last_anchored_at=self._last_anchored_at,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                consecutive_failures=self._failures,
            )

    def _due(self) -> bool:
        window = self._db.anchoring_window()
        if window.unfinished_batches:
            return True
        if window.unbatched == 0:
            return False
        if window.unbatched >= self._max_size:
            return True
        assert window.oldest_unbatched_at is not None
        waited = (self._now() - window.oldest_unbatched_at).total_seconds()
        return waited >= self._max_wait_s

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._due():
                    batch = self._batcher.run_once()
                    if batch is not None:
                        with self._lock:
                            self._anchored += 1
                            self._last_anchored_at = self._now()
                            self._last_error = None
                            self._failures = 0
                        continue  # more may be due at once
            except Exception as exc:  # node down, receipt timeout, database busy: retry later
                with self._lock:
                    self._failures += 1
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    self._last_error_at = self._now()
                    failures = self._failures
                _log.warning("anchoring failed (%d in a row): %s", failures, exc)
                delay = min(self._max_backoff_s, self._poll_s * 2**failures)
                self._stop.wait(delay)
                continue
            self._wake.wait(self._poll_s)
            self._wake.clear()
