"""Errors of the content-addressed store layer (``ledger.store``)."""

from __future__ import annotations

from ledger.errors import LedgerError


class StoreError(LedgerError):
    """Root of every error raised on purpose by ``ledger.store``."""


class InvalidCid(StoreError):
    """A CID string or binary CID is malformed or uses an unsupported multibase/multihash."""


class ContentNotFound(StoreError):
    """A block (the root or any block of its DAG) is not in the store."""

    def __init__(self, message: str, *, cid: str | None = None) -> None:
        super().__init__(message)
        self.cid = cid


class ContentCorrupt(StoreError):
    """A stored block does not hash to its CID, or a DAG node is malformed."""

    def __init__(self, message: str, *, cid: str | None = None) -> None:
        super().__init__(message)
        self.cid = cid
