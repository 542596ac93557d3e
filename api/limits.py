"""Request body limits at the edge: ``413`` problem+json before the body is read into memory.

A body whose ``Content-Length`` is over the limit is refused at once, before the app runs; a
chunked one is counted as it streams and refused at the first chunk past the limit. Each path
may have its own limit (the bulk endpoint, proof uploads); every other path has the default.

Hand-written rather than Starlette's ``RequestBodyLimitMiddleware``: that one answers a declared
oversize with ``text/plain`` whenever the app replies without reading the body (a 404, a 405),
and its per-route limits are fixed when the routes are declared, while ours come from Settings
when the app is created.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit (handled as a problem)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"request bodies here are limited to {limit} bytes", {"Connection": "close"}
        )


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default: int, by_path: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_path = dict(by_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            # The client is told to close: the rest of its body is never read.
            refused = BodyTooLarge(limit)
            reply = problems.http_problem(413, refused.detail, headers=refused.headers)
            await reply(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)
