"""Errors of the service database layer (``ledger.db``)."""

from __future__ import annotations

from ledger.errors import LedgerError


class DatabaseError(LedgerError):
    """Root of every error raised on purpose by ``ledger.db`` (also: the database failed)."""


class NotFound(DatabaseError):
    """The agreement version, batch or inclusion proof asked for does not exist."""


class Conflict(DatabaseError):
    """The change contradicts what is stored: a duplicate, a wrong state, different data."""


class UsesExhausted(Conflict):
    """The grant has had as many uses (receipts) as its maximum allows: nothing was written."""


class UseAuthorizationReplayed(Conflict):
    """A receipt already records this per-use authorization: it covers one use only. Nothing
    was written."""
