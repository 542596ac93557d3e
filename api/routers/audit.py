"""The audit: ``GET /v1/receipts?from=&to=``, every access receipt this service recorded in the
period with its anchoring status and, once anchored, its inclusion; ``GET
/v1/audit/reconciliation?from=&to=&format=json|csv``, those receipts reconciled against the
chain (and this service's reliances, when it records any). Both for auditors and the regulator
(403 for anyone else); a period is ``[from, to)``, RFC 3339 with offsets, at most the audit's
limit long and holding at most its row limit (422 ``invalid-period`` otherwise, as for ``from``
after ``to``). The domain logic is :mod:`ledger.audit.desk`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from api._openapi import AUTH_PROBLEMS, problems
from api.auth import SignedCaller
from api.deps import Service, off_loop
from api.models.audit import PeriodReceiptsOut
from api.models.consents import ReceiptOut
from ledger.audit.desk import AuditDesk
from ledger.audit.period import Period
from ledger.audit.report import to_json, write_csv
from ledger.service import RunningService

router = APIRouter(prefix="/v1", tags=["audit"])


def audit_desk(service: RunningService) -> AuditDesk:
    """The service's audit desk: its receipts, and the reliances (accounts opened on another
    member's KYC) its database records, matched against the attesters' receipts."""
    return AuditDesk(
        database=service.database,
        find_contracts=service.consents.contracts,
        member=service.chain.address,
        now=service.now,
        reliances=service.database.reliances_between,
    )


async def get_desk(service: Service) -> AuditDesk:
    return audit_desk(service)


Desk = Annotated[AuditDesk, Depends(get_desk)]
From = Annotated[str, Query(alias="from", description="RFC 3339 with offset; inclusive")]
To = Annotated[str, Query(alias="to", description="RFC 3339 with offset; exclusive")]
_ERRORS = problems(
    {
        **AUTH_PROBLEMS,
        422: "A malformed time, from after to, a period too long or holding too many receipts",
        503: "Database or chain node unavailable",
    }
)


@router.get("/receipts", responses=_ERRORS)
async def period_receipts(
    start: From, end: To, desk: Desk, caller: SignedCaller
) -> PeriodReceiptsOut:
    """Every access receipt this service recorded in the period, oldest first, each with its
    anchoring status and inclusion proof once anchored."""
    period = Period.parse(start, end)
    stored = await off_loop(desk.receipts, caller, period)
    return PeriodReceiptsOut.model_validate(
        {
            "member": desk.member,
            "from": period.shown_start,
            "to": period.shown_end,
            "receipts": [ReceiptOut.of(s) for s in stored],
        }
    )


@router.get(
    "/audit/reconciliation",
    responses={
        **_ERRORS,
        200: {
            "description": "The ledger-audit-reconciliation v1 report (JSON), or its CSV",
            "content": {"application/json": {}, "text/csv": {}},
        },
    },
)
async def reconciliation(
    start: From,
    end: To,
    desk: Desk,
    caller: SignedCaller,
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
) -> Response:
    """The period's receipts reconciled against the chain: each with its grant's state when it
    was used, and the anomalies found."""
    period = Period.parse(start, end)
    report = await off_loop(desk.reconciliation, caller, period)
    if format == "csv":
        return Response(write_csv(report), media_type="text/csv; charset=utf-8")
    return JSONResponse(to_json(report))
