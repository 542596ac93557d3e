"""A content store backed by an IPFS node over the Kubo RPC API (``/api/v0/*``), spoken with httpx.

(``ipfshttpclient`` refuses daemons >= 0.8, hence no client library.) Tested against js-ipfs
0.66.1, which serves the same RPC API; the node is trusted for nothing:

* ``put`` computes the CID locally (the same builder as the embedded store) and refuses the
  write (:class:`ContentCorrupt`) unless the node reports that very CID;
* ``get`` / ``get_stream`` / ``blocks`` hash-verify what the node returns;
* every transport failure, HTTP timeout or unexplained 5xx is :class:`StoreUnavailable` (one line,
  naming the API URL), which the HTTP API answers with 503.

RPC calls used (all ``POST``, as the RPC API requires):

=================  =============================================================================
``put``            ``add?cid-version=1&cid-base=base32&raw-leaves=true&chunker=size-262144&
                   hash=sha2-256&pin=true&progress=false`` (multipart, one file)
``get``            ``cat?arg=CID&timeout=..`` then, only if the bytes do not hash to the CID with
                   our layout (another layout, a CIDv0, a truncated stream), the block walk below
``get_stream``     ``block/get?arg=CID&timeout=..`` per block, walked by ``_unixfs.iter_content``
``blocks``         ``block/get`` per block, walked by ``_unixfs.iter_blocks`` (the order of
                   ``refs?recursive=true`` with the root in front: CAR order)
``has``            ``block/stat?arg=CID&offline=true&timeout=..`` (see :meth:`KuboStore.has`)
``pin``/``unpin``  ``pin/add?arg=CID&recursive=true&timeout=..`` / ``pin/rm?arg=CID&recursive=true``
``remove``         ``pin/rm``, then ``block/rm?arg=CID`` per block of the DAG (walked as ``blocks``)
``pins``           ``pin/ls?type=recursive`` (CIDs normalised here to CIDv1 base32)
``healthy``        ``version``
=================  =============================================================================

A CID the node does not have is reported as :class:`ContentNotFound` once the request's
``timeout=`` expires (see :mod:`ledger.store._kubo_rpc`, the transport), so ``timeout_s`` is
also how long a missing CID takes to be reported.

js-ipfs 0.66.1 quirks found on the way (Kubo has none of them): it ignores ``offline=true``
(so ``has`` of a missing CID costs ``has_timeout_s``); ``pin/ls?cid-base=base32`` fails outright
once any CIDv0 is pinned; ``block/rm`` of a pinned block answers success and keeps it; and ``cat``
of a DAG with a missing *inner* block crashes the node process when its ``timeout=`` expires (an
unhandled "Want for ... aborted" rejection in ipfs-bitswap) - ``block/get``, ``refs`` and
``pin/add`` time out cleanly. Content put here is pinned, so its DAGs are never partial.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from os import PathLike
from types import TracebackType
from typing import Any

import httpx

from ledger.errors import ConfigurationError, one_line
from ledger.store._kubo_rpc import KEPT_HINTS, NOT_PINNED_HINTS, KuboRpc
from ledger.store._multiformats import Cid, parse_cid
from ledger.store._unixfs import (
    CHUNK_SIZE,
    Chunks,
    FileDagBuilder,
    build_file,
    iter_blocks,
    iter_content,
    read_chunks,
)
from ledger.store.embedded import CidLike, _as_cid
from ledger.store.errors import ContentCorrupt, ContentNotFound, StoreError

__all__ = ["ADD_PARAMS", "KuboStore"]

# What Kubo's `ipfs add --cid-version=1` does by default, spelled out so any node (js-ipfs
# defaults to CIDv0, base58btc) builds the DAG our local builder builds.
ADD_PARAMS = {
    "cid-version": "1",
    "cid-base": "base32",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "pin": "true",
    "progress": "false",
}


class _HashingReader:
    """A read()-able view of ``chunks`` that feeds every byte to a DAG builder on the way, so an
    upload computes the expected CID in the same single pass (constant memory)."""

    def __init__(self, chunks: Chunks) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self.builder = FileDagBuilder()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._chunks, None)
            if piece is None:
                break
            self.builder.write(piece)
            self._buffer += piece
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


class KuboStore:
    """``ContentStore`` on an IPFS node's Kubo RPC API; same surface as ``EmbeddedStore``.

    ``timeout_s`` bounds each node operation (the node-side ``timeout=`` of ``cat``,
    ``block/get``, ``pin/add``; the HTTP read timeout of ``add``); ``has_timeout_s`` bounds the
    local lookup of :meth:`has`. A ``client`` passed in is used as is (and not closed).
    """

    def __init__(
        self,
        *,
        api_url: str,
        timeout_s: float = 30.0,
        client: httpx.Client | None = None,
        has_timeout_s: float = 1.0,
    ) -> None:
        if timeout_s <= 0 or has_timeout_s <= 0:
            raise ConfigurationError("IPFS timeouts must be positive")
        self._rpc = KuboRpc(api_url=api_url, timeout_s=float(timeout_s), client=client)
        self.api_url = self._rpc.api_url
        self.timeout_s = float(timeout_s)
        self.has_timeout_s = float(has_timeout_s)

    def __repr__(self) -> str:
        return f"KuboStore(api_url={self.api_url!r})"

    def close(self) -> None:
        """Close the HTTP client if this store created it."""
        self._rpc.close()

    def __enter__(self) -> KuboStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def sync(self) -> None:
        """Nothing to do: the node has flushed an ``add`` before it answers (Kubo's default
        ``flush=true``)."""

    def put(self, data: bytes | bytearray | memoryview) -> str:
        """Add ``data`` to the node (pinned); return its CID, checked against :func:`cid_of`."""
        expected = str(build_file((data,)))
        node_cid = self._add(("data", bytes(data), "application/octet-stream"))
        return self._check_added(node_cid, expected)

    def put_stream(self, chunks: Chunks) -> str:
        """Like :meth:`put` for the concatenation of ``chunks``, uploaded as they come (chunked
        transfer encoding); the expected CID is computed in the same pass."""
        reader = _HashingReader(chunks)
        node_cid = self._add(("data", reader, "application/octet-stream"))
        return self._check_added(node_cid, str(reader.builder.finish()))

    def put_file(self, path: str | PathLike[str]) -> str:
        """Like :meth:`put` for a file's contents, read once, one chunk at a time (OSError
        propagates)."""
        return self.put_stream(read_chunks(path))

    def _add(self, file: tuple[str, Any, str]) -> str:
        response = self._rpc.call("add", ADD_PARAMS, files={"file": file})
        lines = [line for line in response.text.splitlines() if line.strip()]
        try:
            last = json.loads(lines[-1])
            return str(parse_cid(str(last["Hash"])).to_v1())
        except (IndexError, ValueError, KeyError, TypeError, StoreError):
            raise self._rpc.unexpected("add", response) from None

    def _check_added(self, node_cid: str, expected: str) -> str:
        if node_cid != expected:
            raise ContentCorrupt(
                f"IPFS node at {self.api_url} stored the data as {node_cid}, but its CID is "
                f"{expected} (add parameters not honoured?): not acknowledged",
                cid=expected,
            )
        return expected

    # -- reading -----------------------------------------------------------------------------

    def _load_block(self, cid: Cid) -> bytes:
        """One block, hash-verified (the ``BlockLoader`` of the shared DAG walkers)."""
        block = self._rpc.call("block/get", self._rpc.content_params(cid), cid=cid).content
        if not cid.verify(block):
            raise ContentCorrupt(
                f"block {cid} from the IPFS node at {self.api_url} does not match its hash",
                cid=str(cid),
            )
        return block

    def get(self, cid: CidLike) -> bytes:
        """The file bytes of ``cid`` (``cat``), verified: they must rebuild to ``cid``.

        Content with another layout than ours (CIDv0, other chunker; or a stream cut short) cannot
        be checked that way: it is then read block by block, every block hash-verified.
        """
        root = _as_cid(cid)
        data = self._rpc.call("cat", self._rpc.content_params(root), cid=root).content
        if str(build_file((data,))) == str(root.to_v1()):
            return data
        return b"".join(self.get_stream(root))

    def get_stream(self, cid: CidLike) -> Iterator[bytes]:
        """The file bytes of ``cid`` block by block (``block/get``), each block hash-verified
        before its bytes are yielded. The root is fetched now (ContentNotFound at once); errors
        further down surface while iterating."""
        root = _as_cid(cid)
        first = {root: self._load_block(root)}

        def load(block_cid: Cid) -> bytes:
            block = first.pop(block_cid, None)
            return block if block is not None else self._load_block(block_cid)

        return iter_content(load, root)

    def has(self, cid: CidLike) -> bool:
        """Whether the node has the root block of ``cid`` locally (``block/stat``).

        ``offline=true`` makes Kubo answer from its blockstore at once; js-ipfs ignores it and
        looks for a missing block until ``has_timeout_s`` expires (then: False). Content put
        through this store is pinned recursively, so its root being there means all of it is.
        """
        root = _as_cid(cid)
        params = {**self._rpc.content_params(root, self.has_timeout_s), "offline": "true"}
        try:
            read_s = self._rpc.read_timeout(self.has_timeout_s)
            self._rpc.call("block/stat", params, read_s=read_s, cid=root)
        except ContentNotFound:
            return False
        return True

    def blocks(self, cid: CidLike) -> Iterator[tuple[bytes, bytes]]:
        """``(binary CID, block bytes)`` of every block of the DAG, depth-first pre-order (root
        first, then each link in order: CAR order). Blocks are hash-verified."""
        root = _as_cid(cid)
        for block_cid, block in iter_blocks(self._load_block, root):
            yield block_cid.to_bytes(), block

    # -- pins --------------------------------------------------------------------------------

    def pin(self, cid: CidLike) -> None:
        """Pin ``cid`` recursively on the node. Idempotent; ContentNotFound if it is not there
        (after ``timeout_s``)."""
        root = _as_cid(cid)
        params = {**self._rpc.content_params(root), "recursive": "true"}
        try:
            self._rpc.call("pin/add", params, cid=root)
        except ContentNotFound as exc:
            raise ContentNotFound(f"cannot pin {root}: {exc}", cid=str(root)) from None

    def unpin(self, cid: CidLike) -> bool:
        """Remove the recursive pin of ``cid``; return whether it was pinned."""
        root = _as_cid(cid)
        response = self._rpc.post("pin/rm", {"arg": str(root), "recursive": "true"})
        if response.status_code == 200:
            return True
        # the node answers HTTP 500 "... is not pinned" (Kubo: "not pinned or pinned indirectly")
        lower = self._rpc.message(response).lower()
        if response.status_code == 500 and any(hint in lower for hint in NOT_PINNED_HINTS):
            return False
        self._rpc.raise_for("pin/rm", response, None)

    def pins(self) -> list[str]:
        """Recursively pinned CIDs (CIDv1 base32 when parseable), sorted."""
        # No `cid-base=base32`: js-ipfs then fails the whole listing ("Cannot string encode V0 in
        # base32 encoding") as soon as one CIDv0 is pinned. Spellings are normalised below.
        response = self._rpc.call("pin/ls", {"type": "recursive"})
        try:
            keys = response.json().get("Keys") or {}
        except (ValueError, AttributeError):
            raise self._rpc.unexpected("pin/ls", response) from None
        pinned = set()
        for key in keys:
            try:
                pinned.add(str(parse_cid(key).to_v1()))
            except StoreError:  # a multihash we do not handle: report it as the node spells it
                pinned.add(str(key))
        return sorted(pinned)

    # -- removing ----------------------------------------------------------------------------

    def remove(self, cid: CidLike) -> bool:
        """Remove the file ``cid`` from the node: its recursive pin (``pin/rm``), then every
        block of its DAG (``block/rm``, root first); return whether it was there. A block that
        another pin still holds is kept (the node refuses to remove it: "pinned"), but blocks
        are not otherwise reference-counted: remove only content whose blocks no other stored
        file shares."""
        root = _as_cid(cid)
        self.unpin(root)
        if not self.has(root):
            return False
        for block_cid, _ in iter_blocks(self._load_block, root):
            response = self._rpc.call("block/rm", {"arg": str(block_cid)})
            for line in response.text.splitlines():
                try:
                    error = str(json.loads(line).get("Error") or "") if line.strip() else ""
                except (ValueError, AttributeError):
                    error = one_line(line, 200)
                if error and not any(hint in error.lower() for hint in KEPT_HINTS):
                    raise StoreError(
                        f"IPFS node at {self.api_url} did not remove {block_cid}: {error}"
                    )
        return True

    # -- health ------------------------------------------------------------------------------

    def healthy(self) -> bool:
        """Whether the node answers ``version`` (quickly); never raises."""
        return self._rpc.healthy()
