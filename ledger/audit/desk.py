"""One member service's side of the audit: what ``GET /v1/receipts`` and ``GET
/v1/audit/reconciliation`` run, for auditors and the regulator only.

The reconciliation covers the receipts this service recorded in the period (each grant's
earlier receipts count for use numbers), read against the chain as it is now, and, when a
reliance source is given, the reliances this service recorded as member B: those naming this
service as their attester are matched against its receipts; those naming another attester are
``not-checked`` here (``ledger audit reconcile`` across the services matches them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from ledger.audit.chain import ChainReader
from ledger.audit.period import ANCHORING_GRACE, Period, check_rows
from ledger.audit.reconcile import reconcile
from ledger.audit.records import Reliance, RelianceRecord, Report, SeenReceipt
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract
from ledger.db import Database
from ledger.db.errors import NotFound
from ledger.db.records import StoredReceipt
from ledger.httpsig import Caller
from ledger.member.access import check_audit_read

__all__ = ["AuditDesk", "ReliancesBetween"]

#: The reliances this service recorded with ``start <= relied_at < end`` (records with the
#: attributes of :class:`~ledger.audit.records.Reliance`, e.g. the database's own).
ReliancesBetween = Callable[[datetime, datetime], Iterable[RelianceRecord]]
FindContracts = Callable[[], tuple[IdentityAttestationsContract, ConsentRegistryContract]]


class AuditDesk:
    def __init__(
        self,
        *,
        database: Database,
        find_contracts: FindContracts,
        member: str,
        now: Callable[[], datetime],
        reliances: ReliancesBetween | None = None,
        grace: timedelta = ANCHORING_GRACE,
    ) -> None:
        """``member``: this service's chain account (the attester its receipts name);
        ``reliances``: the reliances source, if this service records any."""
        self._database = database
        self._find = find_contracts
        self.member = member
        self._now = now
        self._reliances = reliances
        self._grace = grace

    def receipts(self, caller: Caller, period: Period) -> list[StoredReceipt]:
        """Every receipt this service recorded in ``period``, oldest first."""
        check_audit_read(caller, "reading every access receipt of a period")
        return self._between(period)

    def reconciliation(self, caller: Caller, period: Period) -> Report:
        check_audit_read(caller, "the reconciliation of a period's access receipts")
        stored = self._between(period)
        relied = []
        if self._reliances is not None:
            relied = [Reliance.of(r) for r in self._reliances(period.start, period.end)]
        check_rows(len(relied), period)
        ours = [r for r in relied if r.attester.lower() == self.member.lower()]
        grants = {s.receipt.grant_id for s in stored} | {r.grant_id for r in ours}
        seen = [SeenReceipt.of(s) for s in stored]
        seen += [SeenReceipt.of(s) for g in grants for s in self._database.receipts_of_grant(g)]
        held = {s.receipt.receipt_id for s in seen}
        for reliance in ours:  # a receipt of another grant than the reliance names
            if reliance.receipt_id not in held:
                try:
                    seen.append(SeenReceipt.of(self._database.receipt(reliance.receipt_id)))
                except NotFound:
                    continue
        attestations, registry = self._find()
        reader = ChainReader(registry=registry, attestations=attestations)
        chain = reader.read(sorted({s.receipt.grant_id for s in seen}))
        return reconcile(
            seen,
            chain=chain,
            period=period,
            now=self._now(),
            reliances=relied,
            attesters=[self.member],
            grace=self._grace,
        )

    def _between(self, period: Period) -> list[StoredReceipt]:
        stored = self._database.receipts_between(period.start, period.end)
        check_rows(len(stored), period)
        return stored
