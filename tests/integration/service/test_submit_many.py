"""Bulk submission: each agreement is judged on its own, the accepted ones are acknowledged
durably together, and each is anchored with a proof exactly as a single submit would be."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.agreement import AgreementError, Document, new_agreement_id
from ledger.db import AgreementVersion, VersionStatus
from ledger.proof import verify_proof
from ledger.service import Submission
from ledger.service.errors import AgreementConflict, AgreementNotFound, SignatureRejected
from tests._fixtures.service import Parties, ServiceHarness, sign_all


def signed(harness: ServiceHarness, parties: Parties, n: int, version: int = 1) -> Submission:
    agreement_id = new_agreement_id()
    document = Document(f"Account agreement {n}.\n".encode())
    signatures = sign_all(
        parties.keys(),
        domain=harness.domain,
        agreement_id=agreement_id,
        version=version,
        document=document,
    )
    return Submission(document=document, signatures=tuple(signatures), agreement_id=agreement_id)


def test_all_good_submissions_are_acknowledged_anchored_and_provable(
    evidence_service: ServiceHarness, parties: Parties
) -> None:
    svc = evidence_service.evidence
    submissions = [signed(evidence_service, parties, n) for n in range(25)]
    results = svc.submit_many(submissions)
    assert [r.agreement_id for r in results if isinstance(r, AgreementVersion)] == [
        s.agreement_id for s in submissions
    ]
    assert all(
        isinstance(r, AgreementVersion) and r.status is VersionStatus.ACCEPTED for r in results
    )
    anchored = evidence_service.wait_anchored([(s.agreement_id, 1) for s in submissions])
    assert {a.status for a in anchored} == {VersionStatus.ANCHORED}
    issuer = evidence_service.issuer.public_key().fingerprint()
    for submission in submissions[:3]:
        proof = verify_proof(svc.proof(submission.agreement_id, 1), trusted_issuers=[issuer])
        assert proof.agreement_id == submission.agreement_id


def test_a_bad_submission_gets_its_error_and_the_others_are_stored(
    evidence_service: ServiceHarness, parties: Parties
) -> None:
    svc = evidence_service.evidence
    good = [signed(evidence_service, parties, n) for n in range(3)]
    other = signed(evidence_service, parties, 99)
    forged = replace(good[1], signatures=other.signatures)  # signatures of another agreement
    one_role = replace(good[2], signatures=good[2].signatures[:1])
    bad_id = replace(signed(evidence_service, parties, 7), agreement_id="not-an-id")
    duplicate = good[0]  # the same version twice in one call
    results = svc.submit_many([good[0], forged, one_role, bad_id, duplicate, other])

    assert isinstance(results[0], AgreementVersion)
    assert isinstance(results[1], SignatureRejected)
    assert isinstance(results[2], AgreementConflict)
    assert "exactly one signature of each" in str(results[2])
    assert isinstance(results[3], AgreementError)
    assert isinstance(results[4], AgreementConflict)
    assert "next version is 2" in str(results[4])
    assert isinstance(results[5], AgreementVersion)
    # refused ones stored nothing
    for refused in (forged, one_role):
        with pytest.raises(AgreementNotFound, match=f"^no agreement {refused.agreement_id}$"):
            svc.versions(refused.agreement_id)
    assert [v.version for v in svc.versions(good[0].agreement_id)] == [1]
    assert svc.submit_many([]) == []
