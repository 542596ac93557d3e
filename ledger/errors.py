"""The one exception root of the ``ledger`` package.

Every error the library raises on purpose derives from :class:`LedgerError`; each layer defines
its own subclasses next to its code (``ledger.crypto.errors``, ``ledger.store.errors``, ...).
Edges (the CLI, the HTTP API) translate ``LedgerError`` once into an exit code or a problem body.
"""


class LedgerError(Exception):
    """Root of every error raised on purpose by the ledger library."""


class ConfigurationError(LedgerError):
    """Settings are missing or inconsistent (bad URL, missing key, unknown backend)."""
