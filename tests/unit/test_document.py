"""Documents are stored encrypted; keys are wrapped per reader; erasure crypto-shreds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ledger.agreement import Document
from ledger.crypto.errors import DecryptionError
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.document import DocumentError, KeyWrapper, open_sealed, seal_and_store
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


def test_ciphertext_and_keys_are_bound_to_their_agreement(tmp_path: Path) -> None:
    store = EmbeddedStore(root=tmp_path / "store")
    sealed = seal_and_store(
        Document(b"x"), agreement_id=AGREEMENT, readers=[CUSTOMER.public_key()], store=store
    )
    moved = replace(sealed, agreement_id="agr_" + "02" * 16)
    with pytest.raises(DocumentError, match="does not open"):
        open_sealed(moved, reader=CUSTOMER)
    other = seal_and_store(
        Document(b"y"), agreement_id=AGREEMENT, readers=[CUSTOMER.public_key()], store=store
    )
    swapped = replace(sealed, wrapped_keys=other.wrapped_keys)  # a key of another document
    with pytest.raises(DocumentError, match="does not open"):
        open_sealed(swapped, reader=CUSTOMER)
    with pytest.raises(
        DecryptionError, match=r"^SM4-GCM authentication failed: tampered data or wrong key$"
    ):  # the right key, another document's ciphertext
        open_sealed(replace(other, ciphertext=sealed.ciphertext), reader=CUSTOMER)


def test_one_wrapper_reuses_each_readers_kek_across_documents(tmp_path: Path) -> None:
    store = EmbeddedStore(root=tmp_path / "store")
    wrapper = KeyWrapper()
    sealed = [
        seal_and_store(
            Document(f"agreement {n}".encode()),
            agreement_id=f"agr_{n:032x}",
            readers=[CUSTOMER.public_key(), BROKER.public_key()],
            store=store,
            key_wrapper=wrapper,
        )
        for n in range(3)
    ]
    broker = BROKER.public_key().fingerprint()
    kek_parts = {s.wrapped_keys[broker][:-44] for s in sealed}  # all but nonce || W || tag
    assert len(kek_parts) == 1  # one SM2 encryption for the broker, three documents
    for n, one in enumerate(sealed):
        assert open_sealed(one, reader=BROKER) == f"agreement {n}".encode()
        assert open_sealed(one, reader=CUSTOMER) == f"agreement {n}".encode()


def test_erasing_the_wrapped_keys_shreds(tmp_path: Path) -> None:
    store = EmbeddedStore(root=tmp_path / "store")
    wrapper = KeyWrapper()
    sealed = seal_and_store(
        Document(b"to be forgotten"),
        agreement_id=AGREEMENT,
        readers=[CUSTOMER.public_key()],
        store=store,
        key_wrapper=wrapper,
    )
    kept = seal_and_store(  # same reader, same epoch: its wrapped key holds the same KEK
        Document(b"kept"),
        agreement_id="agr_" + "02" * 16,
        readers=[CUSTOMER.public_key()],
        store=store,
        key_wrapper=wrapper,
    )
    erased = replace(sealed, wrapped_keys={})
    assert store.get(sealed.cid) == sealed.ciphertext  # ciphertext (and its CID) remain
    with pytest.raises(DocumentError, match="not readable"):
        open_sealed(erased, reader=CUSTOMER)
    # the other document's wrapped key (same KEK) does not open this one
    with pytest.raises(DocumentError, match="does not open"):
        open_sealed(replace(sealed, wrapped_keys=kept.wrapped_keys), reader=CUSTOMER)
    assert open_sealed(kept, reader=CUSTOMER) == b"kept"


def test_a_document_needs_a_reader(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"^a document needs at least one reader$"):
        seal_and_store(
            Document(b"x"), agreement_id=AGREEMENT, readers=[], store=EmbeddedStore(root=tmp_path)
        )
