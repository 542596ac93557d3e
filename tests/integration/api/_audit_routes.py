"""The audit endpoints for the HTTP authorization matrix: a period's receipts and their
reconciliation are read by auditors and the regulator; every other authenticated caller (the
customer, brokers, the member without roles, the operator) is refused with 403."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger import canonical

Built = tuple[str, str, Any]
Build = Callable[[], Built]


def _period() -> str:
    now = datetime.now(UTC)
    start, end = canonical.timestamp(now - timedelta(days=1)), canonical.timestamp(now)
    return f"from={start}&to={end}"


def _receipts() -> Built:
    return "GET", f"/v1/receipts?{_period()}", None


def _reconciliation() -> Built:
    return "GET", f"/v1/audit/reconciliation?{_period()}&format=csv", None


ROUTES: dict[str, Build] = {
    "period-receipts": _receipts,
    "reconciliation": _reconciliation,
}
ENDPOINTS = {
    "period-receipts": ("GET", "/v1/receipts"),
    "reconciliation": ("GET", "/v1/audit/reconciliation"),
}
AUDITORS = {"auditor", "regulator"}


def expected(caller: str, route: str) -> tuple[int, str | None]:
    """(status, problem type or None) of an authenticated ``caller``: the same on both routes."""
    del route
    return (200, None) if caller in AUDITORS else (403, "forbidden")
