"""The one exception root of the ``ledger`` package.

Every error the library raises on purpose derives from :class:`LedgerError`; each layer defines
its own subclasses next to its code (``ledger.crypto.errors``, ``ledger.store.errors``, ...).
Edges (the CLI, the HTTP API) translate ``LedgerError`` once into an exit code or a problem body.
"""


class LedgerError(Exception):
    """Root of every error raised on purpose by the ledger library."""


class ConfigurationError(LedgerError):
    """Settings are missing or inconsistent (bad URL, missing key, unknown backend)."""


def one_line(text: object, limit: int | None = None) -> str:
    """``text`` as one line (white space folded), cut to ``limit`` characters with ``...``:
    how an error message, or what a peer answered, is shown."""
    folded = " ".join(str(text).split())
    if limit is None or len(folded) <= limit:
        return folded
    return folded[: limit - 3] + "..."
