"""Auditor reconciliation: a period's access receipts against the chain's grants, revocations and
attestations, and members' reliances against the receipts.

* :mod:`ledger.audit.period` — the period and the one home of the audit's limits;
* :mod:`ledger.audit.records` — what goes in and comes out (rows, typed anomalies);
* :mod:`ledger.audit.reconcile` — the pure reconciliation;
* :mod:`ledger.audit.chain` — :class:`~ledger.audit.chain.ChainReader`, the chain's view of a set
  of grants, each read once;
* :mod:`ledger.audit.report` — receipts and reliances as services answer them, the report as
  JSON and CSV;
* :mod:`ledger.audit.desk` — one service's side (``GET /v1/receipts``,
  ``GET /v1/audit/reconciliation``);
* :mod:`ledger.audit.collect` — the auditor's reconciliation across services (``ledger audit
  reconcile``).
"""

from ledger.audit.errors import AuditError, AuditInputInvalid, PeriodInvalid
from ledger.audit.period import Period
from ledger.audit.reconcile import reconcile
from ledger.audit.records import AnomalyKind, Report

__all__ = [
    "AnomalyKind",
    "AuditError",
    "AuditInputInvalid",
    "Period",
    "PeriodInvalid",
    "Report",
    "reconcile",
]
