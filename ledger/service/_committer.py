"""Group commit: many acknowledgments, one durable database transaction.

Each caller hands over one fully signed version and blocks until the transaction holding it has
committed; only then is it acknowledged. One writer thread takes whatever has queued up while
the previous transaction was committing (up to ``max_items``) and writes it with
:meth:`ledger.db.Database.submit_many`. Under load that amortizes the fsync and the per-statement
cost over hundreds of agreements; with a single caller it is one transaction per agreement, as
without it. (Hand-written: this is a few lines over ``queue`` and ``concurrent.futures``; no kept
library does group commit for SQLAlchemy.)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from ledger.db import AgreementVersion, Conflict, Database
from ledger.db.records import NewVersion
from ledger.service.errors import ServiceUnavailable

_log = logging.getLogger(__name__)

_STOP = object()


class GroupCommitter:
    def __init__(
        self,
        *,
        database: Database,
        max_items: int = 1024,
        before_commit: Callable[[], None] = lambda: None,
        on_commit: Callable[[int], None] = lambda n: None,
    ) -> None:
        """``before_commit`` runs before each transaction: the content store's ``sync``, so the
        documents of a group are durable before the group is (one syncfs for all of them)."""
        self._db = database
        self._before_commit = before_commit
        self._max_items = max_items
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def commit(self, item: NewVersion) -> AgreementVersion | Conflict:
        """Block until ``item`` is durably stored (or refused); return its result."""
        (result,) = self.commit_many((item,))
        return result

    def commit_many(self, items: Sequence[NewVersion]) -> list[AgreementVersion | Conflict]:
        """Block until every one of ``items`` is durably stored (or refused); their results in
        order. They are queued at once, so they share transactions (up to ``max_items`` each)."""
        futures: list[Future[AgreementVersion | Conflict]] = [Future() for _ in items]
        with self._lock:
            if self._closed:
                raise ServiceUnavailable("the service is stopping: nothing was stored")
            for item, future in zip(items, futures, strict=True):
                self._queue.put((item, future))
        return [future.result() for future in futures]

    def stop(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            pending: list[tuple[NewVersion, Future[AgreementVersion | Conflict]]] = []
            entry = self._queue.get()
            while True:
                if entry is _STOP:
                    stopping = True
                else:
                    pending.append(entry)  # type: ignore[arg-type]
                if len(pending) >= self._max_items:
                    break
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
            if pending:
                self._write(pending)

    def _write(self, pending: list[tuple[NewVersion, Future[AgreementVersion | Conflict]]]) -> None:
        try:
            self._before_commit()
            results = self._db.submit_many([item for item, _ in pending])
        except Exception as exc:  # the transaction failed as a whole: nothing was stored
            _log.error("group commit of %d versions failed: %s", len(pending), exc)
            error = ServiceUnavailable(f"storing failed, nothing acknowledged: {exc}")
            for _, future in pending:
                future.set_exception(error)
            return
        self._on_commit(sum(1 for r in results if not isinstance(r, Conflict)))
        for (_, future), result in zip(pending, results, strict=True):
            future.set_result(result)
