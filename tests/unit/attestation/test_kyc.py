"""KYC fields to an attestation's input, and a receiver's check of released Disclosures against
the attestation as the chain returns it."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from ledger.attestation import (
    Disclosure,
    DisclosureError,
    DisclosureMismatch,
    check_disclosures,
    disclosures_document,
    prepare,
    read_disclosures_document,
    subject_commitment,
)
from ledger.chain._binding import name_id
from ledger.chain.attestations import Attestation
from ledger.crypto.sm2 import SM2PrivateKey

FIELDS = {
    "family_name": "王",
    "given_name": "小明",
    "id_number": "110101199003074514",
    "pep": False,
}
CUSTOMER = SM2PrivateKey.generate().public_key()


def _attested(prepared_fields: dict[str, object] = FIELDS) -> tuple[Attestation, list[str]]:
    prepared = prepare(prepared_fields)
    salt = os.urandom(16)
    given = prepared.attestation_input(
        subject=subject_commitment(id_type="cn-resident-id", id_number="1101…", salt=salt),
        customer_key=CUSTOMER,
        level="cn-aml/standard",
        method="id-document+liveness",
        verified_at=1_800_000_000,
        expires_at=1_900_000_000,
        content_ref=b"bafy-cid",
    )
    attestation = Attestation(
        attestation_id=b"\x07" * 32,
        attester="0x" + "11" * 20,
        subject=given.subject,
        customer_key=given.customer_key,
        level=given.level,
        method=given.method,
        verified_at=given.verified_at,
        expires_at=given.expires_at,
        field_names=given.field_names,
        field_digests=given.field_digests,
        content_ref=given.content_ref,
        nonce=given.nonce,
        attested_at=given.verified_at,
        ended_at=None,
        revocation_reason=None,
        superseded_by=None,
        supersedes=None,
    )
    return attestation, [d.encoded for d in prepared.disclosures]


def test_the_input_commits_to_each_field_by_name_id_and_sm3_digest() -> None:
    prepared = prepare(FIELDS)
    given = prepared.attestation_input(
        subject=b"\x01" * 32,
        customer_key=CUSTOMER,
        level="cn-aml/standard",
        method="id-document+liveness",
        verified_at=1,
        expires_at=2,
        content_ref=b"cid",
    )
    assert given.field_names == tuple(name_id(n) for n in FIELDS)
    assert given.field_digests == tuple(d.digest() for d in prepared.disclosures)
    assert given.level == name_id("cn-aml/standard") and len(given.nonce) == 32
    assert [d.name for d in prepared.select(["id_number", "given_name"])] == [
        "id_number",
        "given_name",
    ]
    with pytest.raises(DisclosureError, match="no attested field 'email'"):
        prepared.select(["email"])


def test_the_stored_document_reads_back_and_refuses_anything_else() -> None:
    prepared = prepare(FIELDS)
    data = disclosures_document(prepared)
    assert read_disclosures_document(data) == prepared
    for bad, message in [
        (b'{"a":1}', "not a ledger/kyc-disclosures v1 document"),
        (b"[1, 2]", "not a disclosures document"),
        (data.replace(b'"version":1', b'"version":2'), "v1 document"),
    ]:
        with pytest.raises(DisclosureError, match=message):
            read_disclosures_document(bad)


def test_subjects_are_salted_commitments() -> None:
    salt = os.urandom(16)
    one = subject_commitment(id_type="cn-resident-id", id_number="110101", salt=salt)
    assert one == subject_commitment(id_type="cn-resident-id", id_number="110101", salt=salt)
    assert one != subject_commitment(
        id_type="cn-resident-id", id_number="110101", salt=os.urandom(16)
    )
    assert one != subject_commitment(id_type="passport", id_number="110101", salt=salt)
    with pytest.raises(DisclosureError, match="at least 16 bytes"):
        subject_commitment(id_type="cn-resident-id", id_number="110101", salt=b"short")


def test_a_receiver_gets_the_values_of_what_the_attestation_commits_to() -> None:
    attestation, encoded = _attested()
    assert check_disclosures(attestation, encoded[:2]) == {
        "family_name": "王",
        "given_name": "小明",
    }
    assert check_disclosures(attestation, encoded) == FIELDS


def test_a_disclosure_the_attestation_does_not_commit_to_is_refused() -> None:
    attestation, encoded = _attested()
    forged = Disclosure.new("id_number", "110101199912310000").encoded
    other = Disclosure.new("email", "a@example.com").encoded
    cases = [
        ([forged], "the disclosure of 'id_number' is not the one attestation 0x0707"),
        ([other], "has no field 'email'"),
        ([encoded[0], encoded[0]], "'family_name' is disclosed twice"),
    ]
    for released, message in cases:
        with pytest.raises(DisclosureMismatch, match=message):
            check_disclosures(attestation, released)
    with pytest.raises(DisclosureError, match="base64url"):
        check_disclosures(attestation, ["not base64!"])
    superseded = replace(attestation, field_digests=attestation.field_digests[::-1])
    with pytest.raises(DisclosureMismatch, match="is not the one"):
        check_disclosures(superseded, encoded[:1])


def test_field_count_is_bounded() -> None:
    with pytest.raises(DisclosureError, match="1-32 fields"):
        prepare({})
    with pytest.raises(DisclosureError, match="1-32 fields"):
        prepare({f"f{i}": i for i in range(33)})
