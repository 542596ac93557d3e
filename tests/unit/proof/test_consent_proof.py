"""``ledger-consent-proof/1`` offline: each numbered check of :mod:`ledger.proof.consent` refuses
what it is for, with its own words (files edited and sealed again, so the targeted check is the
one that fails), and what is not a refusal (a revocation the customer did not sign, a grant
not revoked, a file without keys, no receipts) verifies and says so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from ledger.chain.consent import Mode, RevocationRecord, revocation_id_of
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import CustomerWallet
from ledger.proof import ProofInvalid, VerifiedConsentProof, verify_file, verify_proof
from tests._fixtures.consent_proofs import (
    DOMAIN,
    GRANTEE,
    START,
    ConsentCase,
    anchor_receipts,
    consent_case,
    receipt_under,
    reseal_consent,
)
from tests._fixtures.proof_keys import entry


@pytest.fixture(scope="module")
def customer() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@pytest.fixture(scope="module")
def issuer() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


@pytest.fixture(scope="module")
def case(customer: SM2PrivateKey, issuer: SM2PrivateKey) -> ConsentCase:
    return consent_case(customer, issuer)


@pytest.fixture(scope="module")
def data(case: ConsentCase) -> bytes:
    return case.build()


def _verified(data: bytes) -> VerifiedConsentProof:
    proof = verify_file(data)
    assert isinstance(proof, VerifiedConsentProof)
    return proof


def _refused(data: bytes, message: str) -> None:
    with pytest.raises(ProofInvalid, match=message):
        verify_file(data)


def _edited(data: bytes, edit: Callable[[dict[str, Any]], object], issuer: SM2PrivateKey) -> bytes:
    return reseal_consent(data, edit, issuer)


def test_a_valid_file_states_the_grant_its_revocation_and_its_uses(
    data: bytes, case: ConsentCase
) -> None:
    proof = _verified(data)
    assert proof.record == case.record
    assert proof.revoked_at == case.revocations[0].at
    assert [r.receipt for r in proof.receipts] == [r.receipt for r in case.receipts]
    assert proof.pending == tuple(case.pending)
    assert proof.keys is not None and proof.keys.entries[0].signer == "seal"


def test_an_agreement_proof_reader_refuses_it(data: bytes) -> None:
    with pytest.raises(
        ProofInvalid,
        match=r"^a ledger-consent-proof/1 file is a proof of consent, not of an agreement$",
    ):
        verify_proof(data)


def test_no_keys_no_revocation_no_receipts(case: ConsentCase) -> None:
    proof = _verified(case.build(keys=None, revocations=[], receipts=[], pending=[]))
    assert (proof.keys, proof.revoked_at, proof.receipts, proof.pending) == (None, None, (), ())


def test_a_revocation_the_customer_did_not_sign_is_reported_not_effective(
    case: ConsentCase,
) -> None:
    """The chain records revocations unchecked: one signed by another key is carried as
    recorded, and the grant is not revoked by it."""
    forged = CustomerWallet(key=SM2PrivateKey.generate()).revoke(DOMAIN, case.record.grant_id)
    record = RevocationRecord(
        revocation_id=revocation_id_of(forged.digest, forged.signature),
        digest=forged.digest,
        nonce=forged.revocation.nonce,
        signature=forged.signature,
        relayer=GRANTEE,
        at=case.revocations[0].at - 60,
    )
    proof = _verified(case.build(revocations=[record, *case.revocations]))
    assert [verifies for _, verifies in proof.revocations] == [False, True]
    assert proof.revoked_at == case.revocations[0].at  # the earliest that verifies


# --- 1. schema


def test_1_nulls_and_unknown_parts_are_refused(data: bytes, issuer: SM2PrivateKey) -> None:
    _refused(
        _edited(data, lambda p: p["attestation"].update(ended_at=None), issuer),
        r"^malformed proof at attestation.ended_at: null is not allowed$",
    )
    _refused(
        _edited(data, lambda p: p.update(extra=1), issuer),
        r"^malformed proof at extra: Extra inputs are not permitted$",
    )


# --- 2 to 4. the grant, the attestation, the customer's signature


def test_2_the_grant_id_is_the_digest_of_the_grant_and_its_domain(
    data: bytes, issuer: SM2PrivateKey
) -> None:
    _refused(
        _edited(data, lambda p: p["recorded"].update(grant_id="0x" + "11" * 32), issuer),
        r"^the grant ID is not the digest of the grant and its domain$",
    )
    _refused(
        _edited(data, lambda p: p["grant"]["grant"].update(max_uses=6), issuer),
        r"^the grant ID is not the digest of the grant and its domain$",
    )
    _refused(
        _edited(data, lambda p: p["grant"]["grant"].update(mode="always"), issuer),
        r"^grant.mode: one of \['per-use', 'standing'\], not 'always'$",
    )


def test_3_the_attestation_binds_the_recorded_key_and_is_the_grants(
    data: bytes, issuer: SM2PrivateKey
) -> None:
    other = "0x" + SM2PrivateKey.generate().public_key().to_raw().hex()
    _refused(
        _edited(data, lambda p: p["attestation"].update(customer_key=other), issuer),
        r"^key fingerprint of 'customer' does not match its public key$",
    )
    _refused(
        _edited(data, lambda p: p["attestation"].update(attestation_id="0x" + "22" * 32), issuer),
        r"^the grant is under another attestation than the one stated$",
    )
    _refused(
        _edited(data, lambda p: p["attestation"].update(revoked=True), issuer),
        r"^the attestation's end is stated inconsistently",
    )


def test_4_an_inert_grant_has_no_proof(case: ConsentCase) -> None:
    other = CustomerWallet(key=SM2PrivateKey.generate()).sign_grant(DOMAIN, case.record.grant)
    with pytest.raises(
        ProofInvalid,
        match=r"^the grant's signature does not verify under the key the attestation binds: the"
        r" grant is inert$",
    ):
        case.build(record=replace(case.record, signature=other.signature))


# --- 5. revocations


def test_5_a_revocation_is_of_this_grant_under_the_contracts_id(
    data: bytes, case: ConsentCase, issuer: SM2PrivateKey
) -> None:
    _refused(
        _edited(data, lambda p: p["revocations"][0].update(revocation_id="0x" + "33" * 32), issuer),
        r"^revocation 0's ID is not that of its digest and signature$",
    )
    _refused(
        _edited(
            data,
            lambda p: p["revocations"][0]["document"]["revocation"].update(
                grant_id="0x" + "44" * 32
            ),
            issuer,
        ),
        r"^revocation 0 is not of this grant and domain$",
    )
    later = replace(case.revocations[0], at=case.revocations[0].at - 1)
    with pytest.raises(ProofInvalid, match=r"^revocations are not in chain order$"):
        case.build(revocations=[case.revocations[0], later])


# --- 6. receipts under this grant


def test_6_every_receipt_is_under_this_grant(case: ConsentCase) -> None:
    other = replace(case.record, grant_id=b"\x55" * 32)
    stray = receipt_under(other, case.attestation, number=9, used_at=START)
    anchored = anchor_receipts([stray], positions=[0], size=1, nonce=5, block=11)
    with pytest.raises(
        ProofInvalid,
        match=rf"^receipt {stray.receipt_id} names another grant, attestation, attester, chain"
        " or registry$",
    ):
        case.build(receipts=[*case.receipts, *anchored])


def test_6_receipts_once_each_in_order_and_pending_apart(
    data: bytes, case: ConsentCase, issuer: SM2PrivateKey
) -> None:
    _refused(
        _edited(data, lambda p: p["receipts"].reverse(), issuer),
        r"^receipts are not listed once each, by use time then ID$",
    )
    _refused(
        _edited(data, lambda p: p["pending"].append(p["pending"][0]), issuer),
        r"^pending receipt IDs are not listed once each, in order$",
    )
    proven = case.receipts[0].receipt.receipt_id
    with pytest.raises(ProofInvalid, match=r"^a receipt is listed both proven and pending$"):
        case.build(pending=[proven])


def test_6_a_receipt_is_a_canonical_access_receipt(data: bytes, issuer: SM2PrivateKey) -> None:
    _refused(
        _edited(data, lambda p: p["receipts"][0]["receipt"].update(fields=["b", "a"]), issuer),
        r"^not an access receipt: its members are not in canonical form$",
    )


# --- 7 to 9. inclusion, batch, transaction


def test_7_the_leaf_and_its_path(data: bytes, issuer: SM2PrivateKey) -> None:
    who = "rcpt_00000000000000000000000000000001"
    _refused(
        _edited(data, lambda p: p["receipts"][0]["receipt"].update(purpose="marketing"), issuer),
        rf"^receipt {who}: the leaf hash is not the receipt's$",
    )
    _refused(
        _edited(data, lambda p: p["receipts"][0]["inclusion"].update(leaf_index=1), issuer),
        rf"^receipt {who}: inclusion proof does not lead to the root$",
    )


def test_8_the_batch_and_its_one_anchor(data: bytes, issuer: SM2PrivateKey) -> None:
    who = "rcpt_00000000000000000000000000000002"
    _refused(
        _edited(data, lambda p: p["receipts"][1]["anchor"]["block"].update(number=8), issuer),
        rf"^receipt {who}: receipts of one batch state different anchors$",
    )
    _refused(
        _edited(data, lambda p: p["receipts"][1]["anchor"].update(chain_id=1), issuer),
        rf"^receipt {who} is anchored on another chain than the grant's$",
    )
    _refused(
        _edited(
            data,
            lambda p: p["receipts"][1]["anchor"].update(batch_id="keccak256:" + "66" * 32),
            issuer,
        ),
        rf"^receipt {who}: the batch ID is not that of its root and size$",
    )


def test_9_the_transaction_anchors_the_root(
    data: bytes, case: ConsentCase, issuer: SM2PrivateKey
) -> None:
    first, second = case.receipts[0], case.receipts[2]
    _refused(
        _edited(
            data, lambda p: p["receipts"][2]["anchor"].update(p["receipts"][0]["anchor"]), issuer
        ),
        r"^receipt rcpt_0+3: the batch ID is not that of its root and size$",
    )
    swapped = replace(second, anchor=first.anchor)  # another batch's transaction
    with pytest.raises(
        ProofInvalid,
        match=rf"^receipt {second.receipt.receipt_id}: the transaction does not anchor its root"
        " and tree size$",
    ):
        case.build(receipts=[*case.receipts[:2], swapped])


# --- 10. the seal, 11. its key


def test_10_the_seal(data: bytes, issuer: SM2PrivateKey) -> None:
    body_changed = data.replace(b'"chain_time":', b'"chain_time":1', 1)
    _refused(body_changed, r"^issuer seal does not verify")
    with pytest.raises(ProofInvalid, match=r"^issuer key sm3:[0-9a-f]{64} is not trusted$"):
        verify_file(data, trusted_issuers={b"\x00" * 32})


def test_11_the_seal_keys_entry(case: ConsentCase, issuer: SM2PrivateKey) -> None:
    assert case.keys is not None
    early = START - timedelta(seconds=1)
    late = replace(
        case.keys,
        sealed_at=early,
        seal=entry(issuer.public_key(), not_before=int(START.timestamp())),
    )
    with pytest.raises(ProofInvalid, match=r"^the seal key was not valid when it signed"):
        case.build(keys=late, sealed_at=early)
    stranger = "0x" + "77" * 20
    elsewhere = replace(case.keys, seal=entry(issuer.public_key(), member=stranger))
    with pytest.raises(
        ProofInvalid,
        match=rf"^the seal key is registered to {stranger}, a batch was anchored by another$",
    ):
        case.build(keys=elsewhere)


def test_11_the_registry_is_on_the_grants_chain(data: bytes, issuer: SM2PrivateKey) -> None:
    _refused(
        _edited(data, lambda p: p["keys"]["registry"].update(chain_id=5), issuer),
        r"^the key registry is on another chain than the grant$",
    )


def test_a_standing_grant_proof(customer: SM2PrivateKey, issuer: SM2PrivateKey) -> None:
    proof = _verified(consent_case(customer, issuer, mode=Mode.STANDING, revoked=False).build())
    assert proof.record.grant.mode is Mode.STANDING and proof.revoked_at is None
    assert all(r.receipt.use_authorization is None for r in proof.receipts)
