"""Who is calling: the FastAPI dependency that verifies a request's RFC 9421 signature.

``caller: SignedCaller`` in a route's parameters verifies the request (the body is read first,
within the body limits) with the process's :class:`~ledger.httpsig.RequestVerifier`
(``app.state.request_verifier``, set where the service is wired) and gives the
:class:`~ledger.httpsig.Caller`: keyid, member and roles. A refusal is a
:class:`~ledger.httpsig.RequestSignatureError`, which :mod:`api.problems` turns into a 401
problem naming what was missing or wrong.

The ``@target-uri`` checked is the one the client addressed: ``LEDGER_API_PUBLIC_ORIGIN`` (the
scheme and authority this service is known by) with the request's path and query exactly as
they arrived; without it the scheme and ``Host`` of the request itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.deps import get_settings, off_loop
from ledger.httpsig import Caller, RequestVerifier
from ledger.service.errors import ServiceUnavailable
from ledger.settings import Settings

__all__ = ["SignedCaller", "get_request_verifier", "signed_caller", "target_uri"]


async def get_request_verifier(request: Request) -> RequestVerifier:
    """The request verifier of this process (503 if none is configured)."""
    verifier: RequestVerifier | None = getattr(request.app.state, "request_verifier", None)
    if verifier is None:
        raise ServiceUnavailable("this process cannot check request signatures: no key directory")
    return verifier


def target_uri(request: Request, public_origin: str | None) -> str:
    """The request's absolute target URI: origin + the path and query as received."""
    scope = request.scope
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    if public_origin is None:
        server = scope.get("server")
        host = request.headers.get("host") or (f"{server[0]}:{server[1]}" if server else "")
        public_origin = f"{scope['scheme']}://{host}"  # no host: refused as malformed
    return public_origin + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")


async def signed_caller(
    request: Request,
    verifier: Annotated[RequestVerifier, Depends(get_request_verifier)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> Caller:
    body = await request.body()
    return await off_loop(
        verifier.verify,
        method=request.method,
        url=target_uri(request, settings.api_public_origin),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
        body=body,
    )


#: A route parameter ``caller: SignedCaller`` admits only signed requests and says who signed.
SignedCaller = Annotated[Caller, Depends(signed_caller)]
