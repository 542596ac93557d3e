"""Accounts opened on another member's KYC: ``POST /v1/reliances`` (a broker of the member that
runs this service: ask the attester's service to release the fields under the customer's grant,
check them against the attestation on chain, open the account as a draft whose document records
the attestation, grant and receipt relied on), ``GET /v1/reliances?from=&to=`` (every reliance
recorded in the period; ``affected=true``: only those the lifecycle feed marked for
re-verification), read by auditors, the regulator and the member itself. The domain logic is
:mod:`ledger.member.reuse`; the marking, :mod:`ledger.member.lifecycle`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import AwareDatetime

from api._openapi import AUTH_PROBLEMS, BODY_PROBLEMS, problems
from api.auth import SignedCaller
from api.deps import Service, off_loop
from api.models.reliances import OpenedOut, RelianceOut, ReliancesOut, ReuseIn
from ledger.member.reuse import ReuseDesk

router = APIRouter(prefix="/v1", tags=["reliances"])

_EVER = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


async def get_desk(service: Service) -> ReuseDesk:
    return service.reuse


Desk = Annotated[ReuseDesk, Depends(get_desk)]


@router.post(
    "/reliances",
    status_code=status.HTTP_201_CREATED,
    responses=problems(
        {
            **BODY_PROBLEMS,
            **AUTH_PROBLEMS,
            404: "No such grant",
            409: "The attestation or grant is not valid now (reliance-refused)",
            502: "The attester refused, or released what does not check",
            503: "The attester or the chain node unreachable",
        }
    ),
)
async def reuse(body: ReuseIn, desk: Desk, caller: SignedCaller) -> OpenedOut:
    """Reuse another member's KYC under the customer's grant and open the account on it."""
    opened = await off_loop(
        desk.reuse,
        caller,
        asked=body.asked(),
        terms=body.terms.to_document(),
        attester_url=body.attester_url,
        readers=body.reader_keys(),
    )
    return OpenedOut.of(opened)


@router.get(
    "/reliances", responses=problems({**AUTH_PROBLEMS, 422: "Invalid query", 503: "Database"})
)
async def list_reliances(
    desk: Desk,
    caller: SignedCaller,
    start: Annotated[
        AwareDatetime | None, Query(alias="from", description="RFC 3339, inclusive")
    ] = None,
    end: Annotated[
        AwareDatetime | None, Query(alias="to", description="RFC 3339, exclusive")
    ] = None,
    affected: Annotated[
        bool, Query(description="Only those that need the customer verified again")
    ] = False,
) -> ReliancesOut:
    """The reliances recorded in ``[from, to)`` (default: all), oldest first."""
    found = await off_loop(
        desk.reliances,
        caller,
        start=start or _EVER,
        end=end or _NEVER,
        affected=affected,
    )
    return ReliancesOut(reliances=[RelianceOut.of(r) for r in found])
