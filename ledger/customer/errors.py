"""Errors of the customer side (:mod:`ledger.customer`): one root, translated once at the CLI
and the HTTP API."""

from __future__ import annotations

from ledger.errors import LedgerError


class CustomerError(LedgerError):
    """Root of the customer side's errors."""


class DocumentError(CustomerError):
    """A signed consent document is malformed: not JSON, a field missing, unexpected or of the
    wrong type or size, an unknown type or version. The message names the field."""


class WalletError(CustomerError):
    """The customer's key cannot be created or opened (a file, a password, a keystore)."""
