"""How the API is served: uvicorn, configured once for ``ledger serve`` and ``python -m api``.

uvicorn answers requests it cannot parse (a request line or headers over h11's 16 KiB, bad
syntax) itself, before the app sees them, with a ``text/plain`` 400. :class:`ProblemH11Protocol`
is uvicorn's h11 protocol with that one reply written as problem+json by :mod:`api.problems`;
uvicorn takes a protocol class for ``http`` (its documented extension point). Naming h11 also
means the parser does not change when ``httptools`` happens to be installed: h11 bounds an
incomplete request head (16 KiB), uvicorn's httptools protocol does not. The event loop is
uvloop (a dependency; uvicorn's ``auto`` picks it): one agreement per request through
``ledger serve --workers 2`` went from about 230 to 250-335 acknowledgments/s with it
(``ledger bench evidence --bulk 1 --workers 16 --http --http-clients 2``, 2 cores).
"""

from __future__ import annotations

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api import problems
from ledger.settings import Settings


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:  # uvicorn's, with a problem body
        reply = problems.http_problem(400, msg, headers={"Connection": "close"})
        head = h11.Response(status_code=400, headers=reply.raw_headers, reason=b"Bad Request")
        for event in (head, h11.Data(data=bytes(reply.body)), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
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
        http=ProblemH11Protocol,
        log_level="info",
    )
