"""Group commit: many callers' writes, one durable database transaction.

Each caller hands over an item and blocks until the transaction holding it has committed; only
then is it answered. One writer thread takes whatever has queued up while the previous
transaction was committing (up to ``max_items``) and writes it with one call. Under load that
amortizes the fsync and the per-statement cost over many items; with a single caller it is one
transaction per item, as without it. (Hand-written: this is a few lines over ``queue`` and
``concurrent.futures``; no kept library does group commit for SQLAlchemy.)

:class:`GroupWriter` is the mechanism; :class:`GroupCommitter` commits fully signed versions
(:meth:`ledger.db.Database.submit_many`), :class:`NonceCommitter` remembers signed requests'
nonces (:meth:`ledger.db.Database.remember_nonces`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Generic, TypeVar

from ledger.db import AgreementVersion, Conflict, Database
from ledger.db.nonces import NonceClaim
from ledger.db.records import NewVersion
from ledger.service.errors import ServiceUnavailable

_log = logging.getLogger(__name__)

_STOP = object()
I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")  # its result


class GroupWriter(Generic[I, R]):
    """Items written in groups by one thread with ``write`` (results in item order)."""

    #: What the log and errors call the items.
    what = "items"

    def __init__(
        self,
        *,
        write: Callable[[list[I]], list[R]],
        max_items: int = 1024,
        before_commit: Callable[[], None] = lambda: None,
        on_commit: Callable[[list[R]], None] = lambda results: None,
    ) -> None:
        self._write_group = write
        self._before_commit = before_commit
        self._max_items = max_items
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def commit_many(self, items: Sequence[I]) -> list[R]:
        """Block until every one of ``items`` is durably written; their results in order.
        They are queued at once, so they share transactions (up to ``max_items`` each)."""
        futures: list[Future[R]] = [Future() for _ in items]
        with self._lock:
            if self._closed:
                raise ServiceUnavailable("the service is stopping: nothing was stored")
            for item, future in zip(items, futures, strict=True):
                self._queue.put((item, future))
        return [future.result() for future in futures]

    def stop(self) -> None:
        """Write what is queued, then stop the writer thread."""
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
            pending: list[tuple[I, Future[R]]] = []
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

    def _write(self, pending: list[tuple[I, Future[R]]]) -> None:
        try:
            self._before_commit()
            results = self._write_group([item for item, _ in pending])
        except Exception as exc:  # the transaction failed as a whole: nothing was stored
            _log.error("group commit of %d %s failed: %s", len(pending), self.what, exc)
            error = ServiceUnavailable(f"storing failed, nothing acknowledged: {exc}")
            for _, future in pending:
                future.set_exception(error)
            return
        self._on_commit(results)
        for (_, future), result in zip(pending, results, strict=True):
            future.set_result(result)


class GroupCommitter(GroupWriter[NewVersion, "AgreementVersion | Conflict"]):
    """Fully signed versions stored as accepted, many per transaction."""

    what = "versions"

    def __init__(
        self,
        *,
        database: Database,
        max_items: int = 1024,
        before_commit: Callable[[], None] = lambda: None,
        on_commit: Callable[[int], None] = lambda n: None,
    ) -> None:
        """``before_commit`` runs before each transaction: the content store's ``sync``, so the
        documents of a group are durable before the group is (one syncfs for all of them).
        ``on_commit`` gets the number of versions stored."""
        super().__init__(
            write=database.submit_many,
            max_items=max_items,
            before_commit=before_commit,
            on_commit=lambda results: on_commit(
                sum(1 for r in results if not isinstance(r, Conflict))
            ),
        )

    def commit(self, item: NewVersion) -> AgreementVersion | Conflict:
        """Block until ``item`` is durably stored (or refused); return its result."""
        (result,) = self.commit_many((item,))
        return result


class NonceCommitter(GroupWriter[NonceClaim, bool]):
    """The nonces of signed requests remembered many per transaction: a
    :class:`~ledger.httpsig.NonceStore` whose callers share commits under load."""

    what = "nonces"

    def __init__(self, *, database: Database, max_items: int = 256) -> None:
        super().__init__(write=database.remember_nonces, max_items=max_items)

    def remember_nonce(
        self, keyid: str, nonce: str, *, created_at: datetime, expires_at: datetime, now: datetime
    ) -> bool:
        claim = NonceClaim(keyid, nonce, created_at=created_at, expires_at=expires_at, now=now)
        (recorded,) = self.commit_many((claim,))
        return recorded
