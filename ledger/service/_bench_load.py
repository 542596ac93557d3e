"""Load for the HTTP benches: pre-signed requests sent by client processes, closed loop (as fast
as the connections go) or open loop (at an offered rate, on a fixed schedule).

Open loop: request ``i`` is due at ``start + i / rate`` whatever happened to the ones before,
and its latency counts from when it was due, not from when a connection was free to send it:
a server that falls behind shows it in the tail instead of slowing the client down with it
(no coordinated omission). The clients run in their own processes (``spawn``), each with
keep-alive ``http.client`` connections in threads, so their work competes with the server for
the cores as any client on the machine would, but not for its interpreter lock.
"""

from __future__ import annotations

import http.client
import multiprocessing
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: One request, signed before the clock starts: method, path, headers, body.
Request = tuple[str, str, dict[str, str], bytes]


@dataclass
class LoadResult:
    """What one load phase saw: latencies (seconds) of the expected replies, the status of
    every reply, a few unexpected replies, and the phase's wall time."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def merge(self, other: LoadResult) -> None:
        self.latencies.extend(other.latencies)
        self.statuses.update(other.statuses)
        self.unexpected.extend(other.unexpected[: max(0, 3 - len(self.unexpected))])
        self.seconds = max(self.seconds, other.seconds)


@dataclass
class _Start:
    """How the client processes start together: all ready, then the start time, then go."""

    ready: Any
    go: Any
    at: Any


def _client(
    port: int,
    requests: list[Request],
    expected: int,
    threads: int,
    rate: float | None,
    seconds: float,
    offset: int,
    stride: int,
    start: Any,
    results: Any,
) -> None:
    """One client process: its share of the requests (every ``stride``-th from ``offset`` in
    the global schedule), from ``threads`` connections, from the time the parent sets in
    ``start`` once every client process is ready."""
    lock = threading.Lock()
    result = LoadResult()
    position = iter(range(len(requests)))
    start.ready.wait()  # every process imported and unpickled its requests
    start.go.wait()  # the parent has set the start time
    start_at = start.at.value
    deadline = start_at + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while True:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                if rate is not None:
                    due = start_at + (offset + index * stride) / rate
                    if due >= deadline:
                        return
                    pause = due - time.time()
                    if pause > 0:
                        time.sleep(pause)
                else:
                    due = time.time()
                    if due >= deadline:
                        return
                method, path, headers, body = requests[index]
                conn.request(method, path, body=body or None, headers=headers)
                response = conn.getresponse()
                reply = response.read()
                latency = time.time() - due
                with lock:
                    result.statuses[response.status] += 1
                    if response.status == expected:
                        result.latencies.append(latency)
                    elif len(result.unexpected) < 3:
                        result.unexpected.append(f"{response.status}: {reply[:300]!r}")
        finally:
            conn.close()

    wait = start_at - time.time()
    if wait > 0:
        time.sleep(wait)
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    result.seconds = time.time() - start_at
    results.put(result)


def run_load(
    port: int,
    requests: list[Request],
    *,
    expected: int,
    processes: int,
    threads: int,
    seconds: float,
    rate: float | None = None,
) -> LoadResult:
    """Send ``requests`` to ``127.0.0.1:port`` for ``seconds`` from ``processes`` client
    processes of ``threads`` connections: at ``rate`` requests/s in total (open loop), or as
    fast as they go (``rate`` None). Replies with status ``expected`` count as served."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start = _Start(
        ready=context.Barrier(processes + 1),
        go=context.Barrier(processes + 1),
        at=context.Value("d", 0.0),
    )
    clients = [
        context.Process(
            target=_client,
            args=(
                port,
                requests[k::processes],
                expected,
                threads,
                rate,
                seconds,
                k,
                processes,
                start,
                results,
            ),
        )
        for k in range(processes)
    ]
    for client in clients:
        client.start()
    start.ready.wait(timeout=600)
    start.at.value = time.time() + 0.2
    start.go.wait(timeout=60)
    total = LoadResult()
    for _ in clients:
        total.merge(results.get(timeout=seconds + 600))
    for client in clients:
        client.join(60)
    return total
