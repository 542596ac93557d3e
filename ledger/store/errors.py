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


class StoreUnavailable(StoreError):
    """The store's backend cannot be reached or failed (IPFS node down, timeout, HTTP 5xx).

    Transient by nature: the API answers it with HTTP 503. The message is one line naming the
    backend (e.g. the node's API URL).
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class CarError(StoreError):
    """A CAR (Content Addressable aRchive) file is malformed, truncated, has the wrong root, or
    holds a block that does not hash to its CID / is missing from the DAG."""
