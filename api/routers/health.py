"""Health: is the service up, can it reach its chain node and content store, is anchoring keeping
up. ``degraded`` still acknowledges agreements (only anchoring waits); ``down`` answers 503."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import chain_reader
from ledger import __version__
from ledger.chain.client import ChainClient
from ledger.chain.errors import NodeError
from ledger.service import RunningService

router = APIRouter(tags=["health"])


class Anchoring(BaseModel):
    # Unknown values (None) are left out of the reply, so they are optional in the schema.
    running: bool
    # "leader": this process anchors for the database; "standby": another one does, this one
    # takes over if it dies
    role: Literal["leader", "standby"]
    waiting: int | None = None  # acknowledged, not yet anchored
    oldest_waiting_s: float | None = None
    anchored_versions: int | None = None
    batches_anchored: int  # by this process
    last_error: str | None = None
    consecutive_failures: int


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    version: str
    chain: Literal["ok", "unreachable", "not configured"]
    chain_id: int | None = None
    contract: str | None = None
    store: Literal["ok", "unreachable"] | None = None
    database: Literal["ok", "failed"] | None = None
    anchoring: Anchoring | None = None


@router.get(
    "/health",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health, "description": "Down: nothing can be acknowledged"}},
)
def health(
    request: Request, chain: Annotated[ChainClient | None, Depends(chain_reader)]
) -> Health | JSONResponse:
    service: RunningService | None = getattr(request.app.state, "service", None)
    if service is not None:
        report = service.health()
        body = Health(
            status=report.status,
            version=__version__,
            chain=report.chain,
            chain_id=report.chain_id,
            contract=report.contract,
            store=report.store,
            database=report.database,
            anchoring=Anchoring(
                running=report.anchoring.running,
                role="leader" if report.anchoring.leader else "standby",
                waiting=report.accepted_waiting,
                oldest_waiting_s=report.oldest_waiting_s,
                anchored_versions=report.anchored,
                batches_anchored=report.anchoring.batches_anchored,
                last_error=report.anchoring.last_error,
                consecutive_failures=report.anchoring.consecutive_failures,
            ),
        )
        if report.status == "down":
            return JSONResponse(body.model_dump(exclude_none=True), status_code=503)
        return body
    # Verification-only API (no service in this process): report the configured chain.
    if chain is None:
        return Health(status="ok", version=__version__, chain="not configured")
    try:
        chain_id = chain.chain_id
    except NodeError:
        return Health(status="degraded", version=__version__, chain="unreachable")
    return Health(status="ok", version=__version__, chain="ok", chain_id=chain_id)
