"""Dependencies shared by the routers (the running service, settings, chain reader)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from ledger.chain.client import ChainClient
from ledger.service import RunningService
from ledger.service.errors import ServiceUnavailable
from ledger.settings import Settings

MAX_PROOF_BYTES = 64 * 1024 * 1024


async def get_service(request: Request) -> RunningService:
    """The evidence service this process runs (503 if it is not running)."""
    service: RunningService | None = getattr(request.app.state, "service", None)
    if service is None:
        raise ServiceUnavailable("the evidence service is not running in this process")
    return service


Service = Annotated[RunningService, Depends(get_service)]

_P = ParamSpec("_P")
_R = TypeVar("_R")


async def off_loop(work: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Run ``work`` (the service: database, content store, SM2, the wait for a group commit) in
    the worker threads, keeping the event loop free. Routes and dependencies are ``async`` and
    call this once: FastAPI runs a plain ``def`` route, each ``def`` dependency and the route's
    response serialization in the worker threads one hop at a time, three hops per request,
    which cost about 30% of the framework's CPU per request (measured)."""
    return await run_in_threadpool(work, *args, **kwargs)


@cache
def get_settings() -> Settings:
    return Settings()


def chain_reader(settings: Annotated[Settings, Depends(get_settings)]) -> ChainClient | None:
    """A read-only client of the configured chain (LEDGER_CHAIN_RPC_URL), or None."""
    if not settings.chain_rpc_url:
        return None
    return ChainClient(rpc_url=settings.chain_rpc_url, timeout_s=10)
