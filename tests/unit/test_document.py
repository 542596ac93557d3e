"""Documents are stored encrypted; keys are wrapped per reader; erasure crypto-shreds."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.agreement import Document
from ledger.crypto.errors import DecryptionError
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.document import DocumentError, KeyEnvelopes, open_sealed, seal_and_store
from ledger.store import EmbeddedStore, cid_of

AGREEMENT = "agr_" + "01" * 16
CUSTOMER, BROKER, STRANGER = (SM2PrivateKey.generate() for _ in range(3))


def test_store_sees_only_ciphertext_and_readers_can_open(tmp_path: Path) -> None:
    store = EmbeddedStore(root=tmp_path / "store")
    document = Document(b"account agreement " * 100)
    sealed = seal_and_store(
        document,
        agreement_id=AGREEMENT,
        readers=[CUSTOMER.public_key(), BROKER.public_key()],
        store=store,
    )
    assert store.get(sealed.cid) == sealed.ciphertext
    assert sealed.cid == cid_of(sealed.ciphertext)
    assert b"account agreement" not in sealed.ciphertext
    assert open_sealed(sealed, reader=CUSTOMER) == document.content
    assert open_sealed(sealed, reader=BROKER) == document.content
    with pytest.raises(DocumentError, match="not readable with this key"):
        open_sealed(sealed, reader=STRANGER)


def test_ciphertext_is_bound_to_its_agreement(tmp_path: Path) -> None:
    store = EmbeddedStore(root=tmp_path / "store")
    sealed = seal_and_store(
        Document(b"x"), agreement_id=AGREEMENT, readers=[CUSTOMER.public_key()], store=store
    )
    moved = type(sealed)(
        agreement_id="agr_" + "02" * 16,
        cid=sealed.cid,
        ciphertext=sealed.ciphertext,
        wrapped_keys=sealed.wrapped_keys,
    )
    with pytest.raises(DecryptionError):
        open_sealed(moved, reader=CUSTOMER)


def test_envelopes_round_trip_and_erasure_shreds(tmp_path: Path) -> None:
    store = EmbeddedStore(root=tmp_path / "store")
    envelopes = KeyEnvelopes(directory=tmp_path / "keys")
    document = Document(b"to be forgotten")
    sealed = seal_and_store(
        document, agreement_id=AGREEMENT, readers=[CUSTOMER.public_key()], store=store
    )
    envelopes.save(sealed)
    assert open_sealed(envelopes.load(AGREEMENT, store=store), reader=CUSTOMER) == document.content

    assert envelopes.erase(AGREEMENT) is True
    assert envelopes.erase(AGREEMENT) is False
    assert store.get(sealed.cid) == sealed.ciphertext  # ciphertext (and its CID) remain
    with pytest.raises(DocumentError, match="erased"):
        envelopes.load(AGREEMENT, store=store)


def test_a_document_needs_a_reader(tmp_path: Path) -> None:
    with pytest.raises(DocumentError):
        seal_and_store(
            Document(b"x"), agreement_id=AGREEMENT, readers=[], store=EmbeddedStore(root=tmp_path)
        )
