"""The interface every content store backend implements (embedded, Kubo RPC, ...)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class ContentStore(Protocol):
    """A content-addressed store of UnixFS files keyed by CIDv1 (base32 ``b...`` strings).

    * ``put`` stores ``data`` and returns the CID Kubo's ``ipfs add --cid-version=1`` gives it;
    * ``get`` returns the bytes of a CID, verified against it, raising
      :class:`~ledger.store.errors.ContentNotFound` if the content is not there and
      :class:`~ledger.store.errors.ContentCorrupt` if it does not match its CID;
    * ``has`` says whether the content is there (without reading it all);
    * all three raise :class:`~ledger.store.errors.InvalidCid` for a malformed CID string.
    """

    def put(self, data: bytes) -> str: ...

    def get(self, cid: str) -> bytes: ...

    def has(self, cid: str) -> bool: ...
