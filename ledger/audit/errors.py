"""The audit package's exceptions: one root, translated once at each edge (HTTP, CLI)."""

from __future__ import annotations

from ledger.errors import LedgerError


class AuditError(LedgerError):
    """Root of the audit's own errors."""


class PeriodInvalid(AuditError):
    """A period that is malformed, ends before it starts, is too long, or holds too many
    receipts for one report."""


class AuditInputInvalid(AuditError):
    """A receipt or reliance record (as a service answered it) that cannot be read."""
