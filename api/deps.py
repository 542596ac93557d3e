"""Dependencies shared by the routers (the running service, settings, chain reader)."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from fastapi import Depends, Request

from ledger.chain.client import ChainClient
from ledger.service import RunningService
from ledger.service.errors import ServiceUnavailable
from ledger.settings import Settings

MAX_PROOF_BYTES = 64 * 1024 * 1024


def get_service(request: Request) -> RunningService:
    """The evidence service this process runs (503 if it is not running)."""
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise ServiceUnavailable("the evidence service is not running in this process")
    return service


Service = Annotated[RunningService, Depends(get_service)]


@cache
def get_settings() -> Settings:
    return Settings()


def chain_reader(settings: Annotated[Settings, Depends(get_settings)]) -> ChainClient | None:
    """A read-only client of the configured chain (LEDGER_CHAIN_RPC_URL), or None."""
    if not settings.chain_rpc_url:
        return None
    return ChainClient(rpc_url=settings.chain_rpc_url, timeout_s=10)
