"""Health: is the service up, and can it reach its chain node."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.deps import chain_reader
from ledger import __version__
from ledger.chain.client import ChainClient
from ledger.chain.errors import NodeError

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    chain: Literal["ok", "unreachable", "not configured"]
    chain_id: int | None = None


@router.get("/health", response_model=Health)
def health(chain: Annotated[ChainClient | None, Depends(chain_reader)]) -> Health:
    if chain is None:
        return Health(status="ok", version=__version__, chain="not configured")
    try:
        chain_id = chain.chain_id
    except NodeError:
        return Health(status="degraded", version=__version__, chain="unreachable")
    return Health(status="ok", version=__version__, chain="ok", chain_id=chain_id)
