"""Dependencies shared by the routers (settings, chain reader)."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from fastapi import Depends

from ledger.chain.client import ChainClient
from ledger.settings import Settings

MAX_PROOF_BYTES = 64 * 1024 * 1024


@cache
def get_settings() -> Settings:
    return Settings()


def chain_reader(settings: Annotated[Settings, Depends(get_settings)]) -> ChainClient | None:
    """A read-only client of the configured chain (LEDGER_CHAIN_RPC_URL), or None."""
    if not settings.chain_rpc_url:
        return None
    return ChainClient(rpc_url=settings.chain_rpc_url, timeout_s=10)
