"""Content-addressed storage of (encrypted) documents, IPFS/Kubo compatible.

* :func:`cid_of`, :func:`cid_of_stream`, :func:`cid_of_file`: the CIDv1 ``ipfs add
  --cid-version=1`` gives (streaming, constant memory);
* :func:`parse_cid` / :class:`Cid`: CID validation (CIDv1 ``b...``/``z...``, CIDv0 ``Qm...``);
* :class:`ContentStore`: the backend protocol (put/get/has);
* :class:`EmbeddedStore`: the default backend, blocks as files on disk.
"""

from ledger.store._protocol import ContentStore
from ledger.store.cid import Cid, cid_of, cid_of_file, cid_of_stream, parse_cid
from ledger.store.embedded import EmbeddedStore
from ledger.store.errors import ContentCorrupt, ContentNotFound, InvalidCid, StoreError

__all__ = [
    "Cid",
    "ContentCorrupt",
    "ContentNotFound",
    "ContentStore",
    "EmbeddedStore",
    "InvalidCid",
    "StoreError",
    "cid_of",
    "cid_of_file",
    "cid_of_stream",
    "parse_cid",
]
