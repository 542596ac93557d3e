"""Encrypted off-chain documents: SM4-GCM under a fresh key, the key wrapped for each reader.

The store (IPFS or the embedded blockstore) only ever sees ciphertext. The document key is wrapped
with SM2 public-key encryption (GB/T 32918.4) for every party entitled to read it; the wrapped
keys are kept apart from the content store, so destroying them makes the document unreadable
while its digest, CID and every proof stay verifiable.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger import _canonical
from ledger.agreement import Document, check_agreement_id
from ledger.crypto import sm4
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.errors import LedgerError
from ledger.store import ContentStore

_AAD_DOMAIN = b"ledger/document/0\x00"


class DocumentError(LedgerError):
    """A document's key envelope is missing, malformed or not for this reader."""


@dataclass(frozen=True)
class SealedDocument:
    agreement_id: str
    cid: str
    ciphertext: bytes
    wrapped_keys: dict[bytes, bytes]  # reader key fingerprint (SM3) -> SM2-encrypted SM4 key


def _aad(agreement_id: str) -> bytes:
    return _AAD_DOMAIN + check_agreement_id(agreement_id).encode("ascii")


def seal_and_store(
    document: Document,
    *,
    agreement_id: str,
    readers: Sequence[SM2PublicKey],
    store: ContentStore,
) -> SealedDocument:
    """Encrypt under a fresh key, store the ciphertext, wrap the key for each reader."""
    if not readers:
        raise DocumentError("a document needs at least one reader")
    key = sm4.generate_key()
    ciphertext = sm4.encrypt(key, document.content, aad=_aad(agreement_id))
    cid = store.put(ciphertext)
    return SealedDocument(
        agreement_id=agreement_id,
        cid=cid,
        ciphertext=ciphertext,
        wrapped_keys={reader.fingerprint(): reader.encrypt(key) for reader in readers},
    )


def open_sealed(sealed: SealedDocument, *, reader: SM2PrivateKey) -> bytes:
    wrapped = sealed.wrapped_keys.get(reader.public_key().fingerprint())
    if wrapped is None:
        raise DocumentError(f"document of {sealed.agreement_id} is not readable with this key")
    return sm4.decrypt(reader.decrypt(wrapped), sealed.ciphertext, aad=_aad(sealed.agreement_id))


class KeyEnvelopes:
    """The wrapped document keys, one JSON file per agreement, kept apart from the content."""

    def __init__(self, *, directory: Path) -> None:
        self.directory = directory

    def _path(self, agreement_id: str) -> Path:
        return self.directory / f"{check_agreement_id(agreement_id)}.keys.json"

    def save(self, sealed: SealedDocument) -> Path:
        data = _canonical.dumps(
            {
                "agreement_id": sealed.agreement_id,
                "cid": sealed.cid,
                "wrapped_keys": {
                    _canonical.label("sm3", fp): _canonical.b64(wrapped)
                    for fp, wrapped in sealed.wrapped_keys.items()
                },
            }
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".keys-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        path = self._path(sealed.agreement_id)
        os.replace(tmp, path)
        return path

    def load(self, agreement_id: str, *, store: ContentStore) -> SealedDocument:
        try:
            raw = json.loads(self._path(agreement_id).read_bytes())
            wrapped = {
                _canonical.unlabel("sm3", fp): _canonical.unb64(value)
                for fp, value in raw["wrapped_keys"].items()
            }
            cid = raw["cid"]
        except FileNotFoundError:
            raise DocumentError(f"no document keys for {agreement_id} (erased?)") from None
        except (OSError, ValueError, KeyError, TypeError, LedgerError) as exc:
            raise DocumentError(f"key envelope of {agreement_id} is unreadable: {exc}") from exc
        return SealedDocument(
            agreement_id=agreement_id, cid=cid, ciphertext=store.get(cid), wrapped_keys=wrapped
        )

    def erase(self, agreement_id: str) -> bool:
        """Crypto-shred: drop every wrapped key; the ciphertext stays and stays unreadable."""
        try:
            self._path(agreement_id).unlink()
        except FileNotFoundError:
            return False
        return True
