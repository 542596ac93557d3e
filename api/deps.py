"""Dependencies shared by the routers (the running service, settings, chain reader)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request

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


#: Threads that run the blocking work of requests in each server process (anyio's default).
WORKER_THREADS = 40
_workers = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="api-worker")


async def off_loop(work: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Run ``work`` (the service: database, content store, SM2, the wait for a group commit) in
    the worker threads, keeping the event loop free, with the caller's context variables.

    Routes and dependencies are ``async`` and call this once: FastAPI runs a plain ``def`` route,
    each ``def`` dependency and the route's response serialization in the worker threads one
    hop at a time, three hops per request, which cost about 30% of the framework's CPU per
    request (measured). The hop is asyncio's own ``run_in_executor`` rather than Starlette's
    ``run_in_threadpool`` (anyio): ~20 us of CPU per request instead of ~100 (measured on a
    bare route, one agreement's model per request), and the event loop thread holds the
    interpreter lock that much less while the worker threads verify signatures."""
    call = functools.partial(contextvars.copy_context().run, work, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_workers, call)


@cache
def get_settings() -> Settings:
    return Settings()


def chain_reader(settings: Annotated[Settings, Depends(get_settings)]) -> ChainClient | None:
    """A read-only client of the configured chain (LEDGER_CHAIN_RPC_URL), or None."""
    if not settings.chain_rpc_url:
        return None
    return ChainClient(rpc_url=settings.chain_rpc_url, timeout_s=10)
