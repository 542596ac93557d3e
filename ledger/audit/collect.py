"""An auditor's reconciliation across member services: each service's receipts of the period
(``GET /v1/receipts``) and reliances (``GET /v1/reliances``; a service that has none answers
404, which counts as none), the earlier receipts of the same grants (``GET
/v1/consents/{grant_id}/receipts``, for use numbers), the chain read directly, and one report —
so member B's reliance on a receipt at A's service is matched against A's receipts.

Every request is signed by the auditor's :class:`~ledger.client.LedgerClient`. A service that
answers with an error, cannot be reached, or names another chain or ConsentRegistry than the
others is an :class:`~ledger.audit.errors.AuditError` (nothing is reported half-collected).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from ledger import canonical
from ledger.audit.chain import ChainReader
from ledger.audit.errors import AuditError
from ledger.audit.period import Period, check_rows
from ledger.audit.reconcile import reconcile
from ledger.audit.records import Reliance, Report, SeenReceipt
from ledger.audit.report import receipt_from_json, reliance_from_json
from ledger.chain.client import ChainClient
from ledger.chain.consent import ConsentRegistryContract
from ledger.client import LedgerClient, refusal_line

__all__ = ["ServiceUnanswered", "reconcile_services"]


class ServiceUnanswered(AuditError):
    """A service could not be reached, answered with an error, or answered nonsense."""


@dataclass
class _Collected:
    domain: tuple[int, str] | None = None
    receipts: list[SeenReceipt] = field(default_factory=list)
    reliances: list[Reliance] = field(default_factory=list)
    members: dict[str, LedgerClient] = field(default_factory=dict)  # account -> its service


def reconcile_services(
    services: Sequence[LedgerClient],
    *,
    chain: ChainClient,
    period: Period,
    now: Callable[[], datetime],
) -> Report:
    """Collect from every service, read the chain, reconcile."""
    collected = _Collected()
    for service in services:
        _collect(service, period, collected)
    if collected.domain is None:
        raise ServiceUnanswered("no service to reconcile")
    chain_id, registry_address = collected.domain
    if chain.chain_id != chain_id:
        raise AuditError(
            f"the services' consents are on chain {chain_id}; the node read is chain"
            f" {chain.chain_id}"
        )
    check_rows(len(collected.receipts), period)
    check_rows(len(collected.reliances), period)
    _history(collected)
    registry = ConsentRegistryContract(client=chain, address=registry_address)
    view = ChainReader(registry=registry).read(
        sorted({s.receipt.grant_id for s in collected.receipts})
    )
    return reconcile(
        collected.receipts,
        chain=view,
        period=period,
        now=now(),
        reliances=collected.reliances,
        attesters=list(collected.members),
    )


def _collect(service: LedgerClient, period: Period, collected: _Collected) -> None:
    domain = _get(service, "/v1/consent-domain")
    stated = (int(domain["chain_id"]), str(domain["registry"]))
    if collected.domain is None:
        collected.domain = stated
    elif (stated[0], stated[1].lower()) != (collected.domain[0], collected.domain[1].lower()):
        raise ServiceUnanswered(
            f"{_url(service)} relays consents to chain {stated[0]}, registry {stated[1]}; the"
            f" services before it to chain {collected.domain[0]}, registry {collected.domain[1]}"
        )
    query = {"from": period.shown_start, "to": period.shown_end}
    listed = _get(service, "/v1/receipts", params=query)
    collected.members[str(listed["member"])] = service
    collected.receipts += [receipt_from_json(item) for item in listed["receipts"]]
    relied = _get(service, "/v1/reliances", params=query, missing_ok=True)
    if relied is not None:
        collected.reliances += [reliance_from_json(item) for item in relied["reliances"]]


def _history(collected: _Collected) -> None:
    """The earlier receipts of the grants concerned, from the service that released under
    each: the period's receipts' grants, and the grants reliances name at a service here."""
    wanted: dict[tuple[str, bytes], LedgerClient] = {}
    for seen in collected.receipts:
        holder = _holder(collected, seen.receipt.attester)
        if holder is not None:
            wanted[(seen.receipt.attester.lower(), seen.receipt.grant_id)] = holder
    for reliance in collected.reliances:
        holder = _holder(collected, reliance.attester)
        if holder is not None:
            wanted[(reliance.attester.lower(), reliance.grant_id)] = holder
    for (_, grant_id), service in wanted.items():
        path = f"/v1/consents/{canonical.hex0x(grant_id)}/receipts"
        answer = _get(service, path, missing_ok=True)  # 404: a grant the chain has no record of
        if answer is not None:
            collected.receipts += [receipt_from_json(item) for item in answer["receipts"]]


def _holder(collected: _Collected, account: str) -> LedgerClient | None:
    for member, service in collected.members.items():
        if member.lower() == account.lower():
            return service
    return None


def _get(
    service: LedgerClient,
    path: str,
    *,
    params: dict[str, str] | None = None,
    missing_ok: bool = False,
) -> Any:
    try:
        reply = service.get(path, params=params)
    except httpx.HTTPError as exc:
        raise ServiceUnanswered(f"GET {_url(service)}{path}: {type(exc).__name__}: {exc}") from None
    if missing_ok and reply.status_code == 404:
        return None
    if not reply.is_success:
        raise ServiceUnanswered(f"GET {_url(service)}{path}: {refusal_line(reply)}")
    try:
        return reply.json()
    except ValueError:
        raise ServiceUnanswered(f"GET {_url(service)}{path}: the reply is not JSON") from None


def _url(service: LedgerClient) -> str:
    return str(service.http.base_url).rstrip("/")
