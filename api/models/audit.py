"""The audit in the HTTP API: a period's receipts (``GET /v1/receipts``); the reconciliation's
reply is the report's own JSON (:func:`ledger.audit.report.to_json`) or CSV."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.models.consents import ReceiptOut


class PeriodReceiptsOut(BaseModel):
    """Every access receipt this service recorded in ``[from, to)``, oldest first."""

    member: str = Field(description="This service's chain account: the attester its receipts name")
    from_: str = Field(alias="from", description="RFC 3339 UTC, inclusive")
    to: str = Field(description="RFC 3339 UTC, exclusive")
    receipts: list[ReceiptOut]
