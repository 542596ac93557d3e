"""Content-addressed storage of (encrypted) documents, IPFS/Kubo compatible.

* :func:`cid_of`, :func:`cid_of_stream`, :func:`cid_of_file`: the CIDv1 ``ipfs add
  --cid-version=1`` gives (streaming, constant memory);
* :func:`parse_cid` / :class:`Cid`: CID validation (CIDv1 ``b...``/``z...``, CIDv0 ``Qm...``);
* :class:`ContentStore`: the backend protocol (put/get/has);
* :class:`EmbeddedStore`: the default backend, blocks as files on disk;
* :class:`KuboStore`: an IPFS node over the Kubo RPC API;
* :func:`open_store`: the backend the settings name;
* :mod:`ledger.store.car`: CARv1 export / verification (:func:`write_car`, :func:`verify_car`,
  :func:`car_bytes` from a store, :func:`car_of` the one canonical CAR of some bytes).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Literal

from ledger.errors import ConfigurationError
from ledger.store._protocol import ContentStore
from ledger.store.car import car_bytes, car_of, read_car, verify_car, write_car
from ledger.store.cid import Cid, cid_of, cid_of_file, cid_of_stream, parse_cid
from ledger.store.embedded import EmbeddedStore
from ledger.store.errors import (
    CarError,
    ContentCorrupt,
    ContentNotFound,
    InvalidCid,
    StoreError,
    StoreUnavailable,
)
from ledger.store.kubo import KuboStore

StoreBackend = EmbeddedStore | KuboStore
"""What :func:`open_store` returns: a ``ContentStore`` with the shared surface of both backends
(put/put_stream/put_file, get/get_stream, has, blocks, pin/unpin/pins, remove, healthy,
sync)."""


def open_store(
    *,
    backend: Literal["embedded", "kubo"],
    root: str | PathLike[str],
    api_url: str,
    timeout_s: float = 30.0,
    deferred_sync: bool = False,
) -> StoreBackend:
    """The content store ``backend`` names (``Settings.store_backend``).

    ``root``: the embedded store's directory (``Settings.store_dir``); ``api_url``: the node's
    Kubo RPC API (``Settings.ipfs_api_url``). Each is ignored by the other backend. Nothing is
    contacted here: check ``healthy()`` if the node must be up now. An unknown backend or a
    malformed URL: :class:`~ledger.errors.ConfigurationError`. ``deferred_sync``: see
    :class:`EmbeddedStore` (the caller syncs before it acknowledges).
    """
    if backend == "embedded":
        return EmbeddedStore(root=Path(root), deferred_sync=deferred_sync, prepare_shards=True)
    if backend == "kubo":
        return KuboStore(api_url=api_url, timeout_s=timeout_s)
    raise ConfigurationError(f"unknown store backend {backend!r} (expected 'embedded' or 'kubo')")


__all__ = [
    "CarError",
    "Cid",
    "ContentCorrupt",
    "ContentNotFound",
    "ContentStore",
    "EmbeddedStore",
    "InvalidCid",
    "KuboStore",
    "StoreBackend",
    "StoreError",
    "StoreUnavailable",
    "car_bytes",
    "car_of",
    "cid_of",
    "cid_of_file",
    "cid_of_stream",
    "open_store",
    "parse_cid",
    "read_car",
    "verify_car",
    "write_car",
]
