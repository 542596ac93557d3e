"""CIDs: compute the CIDv1 Kubo gives for ``ipfs add --cid-version=1``, and parse/validate CIDs.

``cid_of`` / ``cid_of_stream`` / ``cid_of_file`` run the same streaming UnixFS builder as the
embedded store (``ledger.store._unixfs``), without keeping any block: memory stays at one
262144-byte chunk plus the pending link lists, whatever the file size.
"""

from __future__ import annotations

from os import PathLike

from ledger.store._multiformats import DAG_PB, RAW, SHA2_256, Cid, parse_cid
from ledger.store._unixfs import CHUNK_SIZE, MAX_LINKS, Chunks, build_file, read_chunks

__all__ = [
    "CHUNK_SIZE",
    "DAG_PB",
    "MAX_LINKS",
    "RAW",
    "SHA2_256",
    "Cid",
    "cid_of",
    "cid_of_file",
    "cid_of_stream",
    "parse_cid",
]


def cid_of(data: bytes | bytearray | memoryview) -> str:
    """The CIDv1 (base32 ``b...``) Kubo gives ``data`` with ``ipfs add --cid-version=1``."""
    return str(build_file((data,)))


def cid_of_stream(chunks: Chunks) -> str:
    """Like :func:`cid_of` for the concatenation of ``chunks`` (pieces of any size)."""
    return str(build_file(chunks))


def cid_of_file(path: str | PathLike[str]) -> str:
    """Like :func:`cid_of` for a file's contents, read one chunk at a time.

    OS errors (missing file, directory, permissions) propagate as :class:`OSError`.
    """
    return str(build_file(read_chunks(path)))
