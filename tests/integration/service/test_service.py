"""The evidence service on real parts: anvil, SQLite and PostgreSQL, a blockstore."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from ledger.agreement import AgreementError, Document, SigningDomain, new_agreement_id, void_notice
from ledger.db import VersionKind, VersionStatus
from ledger.document import SealedDocument, open_sealed
from ledger.proof import confirm_on_chain, verify_proof
from ledger.service.errors import (
    AgreementConflict,
    AgreementNotFound,
    NotAnchoredYet,
    SignatureRejected,
)
from tests._fixtures.service import Parties, ServiceHarness, sign_all, sign_role

DOC = Document(b"Securities account agreement, version one.\n")


def test_step_by_step_draft_signatures_accept_anchor_proof(
    evidence_service: ServiceHarness, parties: Parties
) -> None:
    svc = evidence_service.evidence
    draft = svc.create_draft(DOC, readers=[parties.customer.public_key()])
    assert (draft.version, draft.status, draft.kind) == (
        1,
        VersionStatus.DRAFT,
        VersionKind.AGREEMENT,
    )
    assert draft.required_roles == ("broker", "customer")

    with pytest.raises(
        NotAnchoredYet, match=f"^{draft.agreement_id} v1 is draft, not anchored yet$"
    ):
        svc.proof(draft.agreement_id, 1)

    def signature(role: str) -> object:
        return sign_role(
            parties.keys()[role],
            domain=evidence_service.domain,
            agreement_id=draft.agreement_id,
            version=1,
            document_sm3=DOC.sm3,
            role=role,
        )

    after_customer = svc.add_signature(draft.agreement_id, 1, signature("customer"))  # type: ignore[arg-type]
    assert after_customer.status is VersionStatus.DRAFT
    assert [s.role for s in after_customer.signatures] == ["customer"]
    accepted = svc.add_signature(draft.agreement_id, 1, signature("broker"))  # type: ignore[arg-type]
    assert accepted.status is VersionStatus.ACCEPTED and accepted.accepted_at is not None

    (anchored,) = evidence_service.wait_anchored([(draft.agreement_id, 1)])
    assert anchored.status is VersionStatus.ANCHORED
    data = svc.proof(draft.agreement_id, 1)
    proof = verify_proof(data, trusted_issuers=[evidence_service.issuer.public_key().fingerprint()])
    assert proof.agreement_id == draft.agreement_id
    assert proof.document_sm3 == DOC.sm3
    confirm_on_chain(proof, client=evidence_service.ledger.client)


@pytest.mark.parametrize(
    "tamper",
    [
        "other version",
        "other agreement",
        "other document",
        "other chain",
        "other contract",
        "bit flip",
    ],
)
def test_a_signature_for_anything_else_is_refused_and_nothing_is_stored(
    evidence_service: ServiceHarness, parties: Parties, tamper: str
) -> None:
    svc = evidence_service.evidence
    draft = svc.create_draft(DOC, readers=[parties.customer.public_key()])
    domain = evidence_service.domain
    kwargs = dict(domain=domain, agreement_id=draft.agreement_id, version=1, document_sm3=DOC.sm3)
    if tamper == "other version":
        kwargs["version"] = 2
    elif tamper == "other agreement":
        kwargs["agreement_id"] = new_agreement_id()
    elif tamper == "other document":
        kwargs["document_sm3"] = Document(b"another text").sm3
    elif tamper == "other chain":
        kwargs["domain"] = SigningDomain(chain_id=domain.chain_id + 1, contract=domain.contract)
    elif tamper == "other contract":
        kwargs["domain"] = SigningDomain(
            chain_id=domain.chain_id, contract="0x000000000000000000000000000000000000dEaD"
        )
    signature = sign_role(parties.customer, role="customer", **kwargs)  # type: ignore[arg-type]
    if tamper == "bit flip":
        value = bytearray(signature.value)
        value[-1] ^= 1
        signature = replace(signature, value=bytes(value))
    with pytest.raises(SignatureRejected, match="signature of 'customer' does not verify"):
        svc.add_signature(draft.agreement_id, 1, signature)
    assert svc.get_version(draft.agreement_id, 1).signatures == ()


def test_submit_supersede_void_and_nothing_after_void(
    evidence_service: ServiceHarness, parties: Parties
) -> None:
    svc, domain = evidence_service.evidence, evidence_service.domain
    agreement_id = new_agreement_id()
    keys = parties.keys()
    v1 = svc.submit(
        DOC,
        signatures=sign_all(
            keys, domain=domain, agreement_id=agreement_id, version=1, document=DOC
        ),
        agreement_id=agreement_id,
    )
    assert v1.status is VersionStatus.ACCEPTED
    with pytest.raises(AgreementConflict, match="next version is 2"):
        svc.submit(
            DOC,
            signatures=sign_all(
                keys, domain=domain, agreement_id=agreement_id, version=1, document=DOC
            ),
            agreement_id=agreement_id,
        )
    doc2 = Document(b"Version two: new fee schedule.\n")
    v2 = svc.submit(
        doc2,
        signatures=sign_all(
            keys, domain=domain, agreement_id=agreement_id, version=2, document=doc2
        ),
        agreement_id=agreement_id,
        version=2,
    )
    assert v2.version == 2
    notice = void_notice(agreement_id, voids_version=2, reason="customer closed the account")
    v3 = svc.submit(
        notice,
        signatures=sign_all(
            keys, domain=domain, agreement_id=agreement_id, version=3, document=notice
        ),
        agreement_id=agreement_id,
        version=3,
        kind=VersionKind.VOID,
    )
    assert v3.kind is VersionKind.VOID
    with pytest.raises(AgreementConflict, match="void"):
        svc.supersede(agreement_id, DOC, readers=[parties.customer.public_key()])
    anchored = evidence_service.wait_anchored([(agreement_id, v) for v in (1, 2, 3)])
    assert [v.version for v in anchored] == [1, 2, 3]
    assert [v.version for v in svc.versions(agreement_id)] == [1, 2, 3]  # nothing deleted
    proof = verify_proof(svc.proof(agreement_id, 3))
    assert (proof.agreement_version, proof.kind) == (3, "void")


def test_submit_refuses_missing_and_foreign_roles(
    evidence_service: ServiceHarness, parties: Parties
) -> None:
    svc, domain = evidence_service.evidence, evidence_service.domain
    agreement_id = new_agreement_id()
    only_customer = sign_all(
        {"customer": parties.customer},
        domain=domain,
        agreement_id=agreement_id,
        version=1,
        document=DOC,
    )
    with pytest.raises(AgreementConflict, match="exactly one signature of each"):
        svc.submit(DOC, signatures=only_customer, agreement_id=agreement_id)
    with pytest.raises(AgreementError, match="missing"):
        svc.submit(
            DOC, signatures=only_customer, agreement_id=agreement_id, required_roles=["customer"]
        )
    with pytest.raises(AgreementNotFound, match=f"^no agreement {agreement_id}$"):
        svc.versions(agreement_id)


def test_erasure_shreds_the_document_and_the_proof_still_verifies(
    evidence_service: ServiceHarness, parties: Parties
) -> None:
    svc, domain = evidence_service.evidence, evidence_service.domain
    agreement_id = new_agreement_id()
    v1 = svc.submit(
        DOC,
        signatures=sign_all(
            parties.keys(), domain=domain, agreement_id=agreement_id, version=1, document=DOC
        ),
        agreement_id=agreement_id,
    )
    keys = evidence_service.database.document_keys(agreement_id, 1)
    sealed = SealedDocument(
        agreement_id=agreement_id,
        cid=v1.document_cid,
        ciphertext=evidence_service.store.get(v1.document_cid),
        wrapped_keys=keys,
    )
    assert open_sealed(sealed, reader=parties.customer) == DOC.content
    evidence_service.wait_anchored([(agreement_id, 1)])
    erased = svc.erase_document(agreement_id)
    assert (erased.keys_erased, erased.method, erased.caller_member_id) == (
        2,
        "broker",
        "(service)",
    )
    assert svc.agreement(agreement_id).erasures == (erased,)
    assert evidence_service.database.document_keys(agreement_id, 1) == {}
    assert svc.get_version(agreement_id, 1).keys_erased_at is not None
    verify_proof(svc.proof(agreement_id, 1))


def test_concurrent_submissions_are_each_acknowledged_once_and_anchored(
    evidence_service: ServiceHarness, parties: Parties
) -> None:
    svc, domain = evidence_service.evidence, evidence_service.domain
    ids = [new_agreement_id() for _ in range(240)]
    signed = {
        a: sign_all(parties.keys(), domain=domain, agreement_id=a, version=1, document=DOC)
        for a in ids
    }
    errors: list[BaseException] = []

    def worker(chunk: list[str]) -> None:
        try:
            for a in chunk:
                svc.submit(DOC, signatures=signed[a], agreement_id=a)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(ids[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    evidence_service.wait_anchored([(a, 1) for a in ids])
    counts = evidence_service.database.counts()
    assert counts.anchored == 240 and counts.accepted == 0
    batches = evidence_service.ledger.batch_count()
    assert batches >= 240 // 50
    for a in ids[::40]:
        verify_proof(svc.proof(a, 1))
