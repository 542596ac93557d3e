"""A release in the HTTP API: the body of ``POST /v1/consents/{grant_id}/releases`` (documented
here; the route digests it as sent and :mod:`ledger.member.releases` parses it) and its reply."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from ledger.member.releases import Released


class ReleaseIn(BaseModel):
    """What the grantee asks for (its digest goes into the access receipt)."""

    fields: list[str] = Field(min_length=1, max_length=32, examples=[["family_name"]])
    purpose: str = Field(examples=["account-opening"])
    use: dict[str, Any] | None = Field(
        default=None,
        description="Per-use grants: the customer's signed use document (type consent-use)",
    )


class ReleasedOut(BaseModel):
    """The access receipt written (``AccessReceipt.to_json``: its canonical JSON, parsed) and
    the sealed envelope (``ledger-release/1``)."""

    receipt: dict[str, Any]
    envelope: dict[str, Any]

    @classmethod
    def of(cls, released: Released) -> ReleasedOut:
        return cls(
            receipt=json.loads(released.receipt.receipt.to_bytes()), envelope=released.envelope
        )
