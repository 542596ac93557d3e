"""Encrypted off-chain documents: SM4-GCM under a fresh key, the key wrapped for each reader.

The store (IPFS or the embedded blockstore) only ever sees ciphertext. The document key is wrapped
for every party entitled to read it (``ledger-kw/1``: SM2 public-key encryption, GB/T 32918.4,
of a per-reader key-encryption key, and SM4-GCM of the document key under it; see
:mod:`ledger._keywrap` for the format and why). The wrapped keys are kept apart from the content
store (in the service database), so destroying them makes the document unreadable while its
digest, CID and every proof stay verifiable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger._keywrap import KeyWrapError, KeyWrapper, unwrap
from ledger.agreement import Document, check_agreement_id
from ledger.crypto import sm4
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.errors import LedgerError
from ledger.store import ContentStore

__all__ = ["DocumentError", "KeyWrapper", "SealedDocument", "open_sealed", "seal_and_store"]

_AAD_DOMAIN = b"ledger/document/0\x00"


class DocumentError(LedgerError):
    """A document's key envelope is missing, malformed or not for this reader."""


@dataclass(frozen=True)
class SealedDocument:
    agreement_id: str
    cid: str
    ciphertext: bytes
    wrapped_keys: dict[bytes, bytes]  # reader key fingerprint (SM3) -> wrapped document key


def _aad(agreement_id: str) -> bytes:
    return _AAD_DOMAIN + check_agreement_id(agreement_id).encode("ascii")


def _binding(agreement_id: str, cid: str, reader_fingerprint: bytes) -> bytes:
    """What a wrapped key is bound to: this document (agreement, ciphertext CID), this reader."""
    return b"\x00".join((agreement_id.encode("ascii"), cid.encode("ascii"), reader_fingerprint))


def seal_and_store(
    document: Document,
    *,
    agreement_id: str,
    readers: Sequence[SM2PublicKey],
    store: ContentStore,
    key_wrapper: KeyWrapper | None = None,
) -> SealedDocument:
    """Encrypt under a fresh key, store the ciphertext, wrap the key for each reader.

    ``key_wrapper`` keeps each reader's key-encryption key for an epoch (the service passes its
    one wrapper); without it every reader costs one SM2 encryption."""
    if not readers:
        raise DocumentError("a document needs at least one reader")
    wrapper = key_wrapper if key_wrapper is not None else KeyWrapper(max_readers=len(readers))
    key = sm4.generate_key()
    ciphertext = sm4.encrypt(key, document.content, aad=_aad(agreement_id))
    cid = store.put(ciphertext)
    wrapped_keys = {}
    for reader in readers:
        fingerprint = reader.fingerprint()
        wrapped_keys[fingerprint] = wrapper.wrap(
            key, reader=reader, binding=_binding(agreement_id, cid, fingerprint)
        )
    return SealedDocument(
        agreement_id=agreement_id, cid=cid, ciphertext=ciphertext, wrapped_keys=wrapped_keys
    )


def open_sealed(sealed: SealedDocument, *, reader: SM2PrivateKey) -> bytes:
    """The document's content, opened with one reader's SM2 private key."""
    fingerprint = reader.public_key().fingerprint()
    wrapped = sealed.wrapped_keys.get(fingerprint)
    if wrapped is None:
        raise DocumentError(f"document of {sealed.agreement_id} is not readable with this key")
    try:
        key = unwrap(
            wrapped, reader=reader, binding=_binding(sealed.agreement_id, sealed.cid, fingerprint)
        )
    except KeyWrapError as exc:
        raise DocumentError(f"document key of {sealed.agreement_id}: {exc}") from exc
    return sm4.decrypt(key, sealed.ciphertext, aad=_aad(sealed.agreement_id))
