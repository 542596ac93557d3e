"""How the API is served: uvicorn, configured once for ``ledger serve`` and ``python -m api``.

The HTTP/1.1 parser is httptools (llhttp, in C) through :class:`ProblemHttpToolsProtocol`,
uvicorn's httptools protocol (a protocol class is uvicorn's documented extension point for
``http``) with two things added:

* **A bound on the request head.** httptools gathers a header's name and value in memory until
  the header ends, so a client streaming one endless header would grow the process without
  limit; uvicorn's h11 protocol stops at 16 KiB, and so does this one: the bytes received while
  the head (request line and headers) is incomplete are counted, and past :data:`MAX_HEAD_BYTES`
  the request is refused.
* **Problem bodies for what uvicorn refuses itself** (a malformed request, an over-long head):
  uvicorn writes those as a ``text/plain`` 400; here they are problem+json from
  :mod:`api.problems`, as every other error.

Why httptools rather than h11 (pure Python): the event loop thread parses every request while
the worker threads verify and store, and both need the interpreter lock. Measured with one
agreement per ``POST /v1/agreements`` (``ledger bench evidence --bulk 1 --http``), and with
``GET /v1/signing-domain``: the event loop spends ~100 us less per request. The event loop is
uvloop (a dependency; uvicorn's ``auto`` picks it).
"""

from __future__ import annotations

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api import _logging, problems
from ledger.settings import Settings

#: The largest request head (request line and headers) read: h11's default, which uvicorn used.
MAX_HEAD_BYTES = 16 * 1024
_INVALID = "Invalid HTTP request received."  # uvicorn's words for a request it cannot parse


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and problem bodies."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._head_done = False
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        counting = not self._head_done
        if counting:
            self._head_bytes += len(data)
        super().data_received(data)
        over = counting and not self._head_done and self._head_bytes > MAX_HEAD_BYTES
        if over and not self.transport.is_closing():
            self.logger.warning("Request head over %d bytes.", MAX_HEAD_BYTES)
            self.send_400_response(_INVALID)

    def on_headers_complete(self) -> None:
        self._head_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_done = False  # the next request on this connection starts with its head
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:  # uvicorn's, with a problem body
        reply = problems.http_problem(400, msg, headers={"Connection": "close"})
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in reply.raw_headers]
        self.transport.write(b"".join([*head, b"\r\n", bytes(reply.body)]))
        self.transport.close()


def serve(
    settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1
) -> None:
    """Serve the API with the evidence service until stopped (``workers`` processes)."""
    uvicorn.run(
        "api.app:service_app",
        factory=True,
        host=host or settings.api_host,
        port=port if port is not None else settings.api_port,
        workers=workers,
        http=ProblemHttpToolsProtocol,
        log_config=_logging.log_config(),
        log_level="info",
    )
