"""Member A's service releases a customer's attested fields to the grantee (real anvil, content
store, SQLite and PostgreSQL): the receipt is written first, anchored in the next batch, then
the fields are sealed to the grantee's disclosure-receiving key and check against the chain.
Every refusal raises its own error and leaves no receipt (no row, no use counted)."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from ledger.attestation.kyc import check_disclosures
from ledger.chain.consent import ConsentRegistryContract, Mode
from ledger.consent import release as rule
from ledger.consent.envelope import open_release
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3
from ledger.customer import CustomerWallet
from ledger.db.records import ReceiptStatus
from ledger.db.schema import access_receipts
from ledger.member.releases import NoDisclosureKey, ReleaseRequestInvalid
from tests.integration.member._release_world import (
    FIELDS,
    ReleaseWorld,
    body,
    caller_of,
)


def _receipts(w: ReleaseWorld) -> int:
    with w.service.database.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(access_receipts)).scalar())


def _refused(
    w: ReleaseWorld, error: type[Exception], words: str, grant_id: bytes, request: bytes, **who: str
) -> None:
    """The release is refused with ``error`` and writes nothing."""
    caller = caller_of(who["member"], "broker") if "member" in who else w.operator
    before = _receipts(w)
    uses = w.service.database.uses_of(grant_id)
    with pytest.raises(error, match=words):
        w.service.releases.release(caller, grant_id, request)
    assert _receipts(w) == before
    assert w.service.database.uses_of(grant_id) == uses


def test_a_standing_release_writes_the_receipt_then_seals_the_fields(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    grant_id = w.grant(made.attestation_id).digest
    request = body(["given_name", "family_name"])
    released = w.service.releases.release(w.operator, grant_id, request)

    receipt = released.receipt.receipt
    assert (receipt.grant_id, receipt.attestation_id) == (grant_id, made.attestation_id)
    assert (receipt.attester, receipt.caller) == (w.account, w.account)
    assert receipt.fields == ("family_name", "given_name")
    assert receipt.request_sm3 == sm3(request)
    assert (receipt.mode, receipt.use_authorization) == (Mode.STANDING, None)
    assert w.service.database.receipts_of_grant(grant_id)[0].receipt == receipt
    # the grantee opens it with its key and checks each field against the chain
    opened = open_release(released.envelope, key=w.receiving)
    assert (opened.grant_id, opened.receipt_id) == (grant_id, receipt.receipt_id)
    attestation = w.service.attestations.contract().attestation(made.attestation_id)
    values = check_disclosures(attestation, [d.encoded for d in opened.disclosures])
    assert values == {"given_name": FIELDS["given_name"], "family_name": FIELDS["family_name"]}
    # and the receipt is anchored in the next batch
    deadline = time.monotonic() + 30
    while w.service.database.receipt(receipt.receipt_id).status is not ReceiptStatus.ANCHORED:
        assert time.monotonic() < deadline, "the receipt was not anchored"
        time.sleep(0.1)


def test_per_use_release_needs_a_fresh_authorization_used_once(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    grant_id = w.grant(made.attestation_id, mode=Mode.PER_USE).digest
    w.tick()  # the chain's clock at the customer's
    _refused(w, rule.PerUseAuthorizationMissing, "is per-use", grant_id, body(["given_name"]))
    other = w.use(grant_id, ["family_name"])  # signed for other fields
    _refused(
        w,
        rule.PerUseAuthorizationInvalid,
        "for another grant, grantee, fields or purpose",
        grant_id,
        body(["given_name"], use=other),
    )
    stranger = CustomerWallet(key=SM2PrivateKey.generate())
    forged = w.use(grant_id, ["given_name"], wallet=stranger)
    _refused(
        w,
        rule.PerUseAuthorizationInvalid,
        "signature does not verify under the customer's key",
        grant_id,
        body(["given_name"], use=forged),
    )
    use = w.use(grant_id, ["given_name"])
    released = w.service.releases.release(w.operator, grant_id, body(["given_name"], use=use))
    assert released.receipt.receipt.mode is Mode.PER_USE
    assert released.receipt.receipt.use_authorization is not None
    # the very same authorization again (another request body: purpose spelled the same, use
    # the same): refused by the database, nothing written
    _refused(
        w,
        rule.PerUseAuthorizationReplayed,
        "was used already",
        grant_id,
        body(["given_name"], use=use),
    )
    assert len(w.service.database.receipts_of_grant(grant_id)) == 1


def test_scope_refusals(world: ReleaseWorld) -> None:
    w = world
    grant_id = w.grant(w.attest().attestation_id).digest
    _refused(
        w, rule.FieldOutOfScope, "field 'phone' is not in the scope", grant_id, body(["phone"])
    )
    _refused(
        w,
        rule.PurposeOutOfScope,
        "purpose 'marketing' is not one grant",
        grant_id,
        body(["given_name"], purpose="marketing"),
    )


def test_window_not_begun_and_expired(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    later = w.grant(made.attestation_id, not_before=w.now() + 3600).digest
    _refused(w, rule.GrantNotYetValid, "is valid from", later, body(["given_name"]))
    short = w.grant(made.attestation_id, not_after=w.now() + 3).digest
    w.tick(4)
    _refused(w, rule.GrantExpired, "expired at", short, body(["given_name"]))


def test_revoked_then_asked_at_once(world: ReleaseWorld) -> None:
    w = world
    grant_id = w.grant(w.attest().attestation_id).digest
    w.service.releases.release(w.operator, grant_id, body(["given_name"]))
    revocation = w.wallet.revoke(w.service.consents.domain(), grant_id)
    w.service.consents.relay_revocation(w.operator, grant_id, revocation)
    _refused(w, rule.GrantRevoked, "was revoked by its customer", grant_id, body(["given_name"]))
    assert len(w.service.database.receipts_of_grant(grant_id)) == 1


def test_uses_exhausted(world: ReleaseWorld) -> None:
    w = world
    grant_id = w.grant(w.attest().attestation_id, max_uses=2).digest
    for _ in range(2):
        w.service.releases.release(w.operator, grant_id, body(["given_name"]))
    _refused(w, rule.UsesExhausted, "allows 2 uses; all are used", grant_id, body(["given_name"]))


def test_a_grant_signed_by_another_key_is_inert(world: ReleaseWorld) -> None:
    """Relayed straight to the contract (which cannot check SM2): the service refuses it."""
    w = world
    made = w.attest()
    stranger = CustomerWallet(key=SM2PrivateKey.generate())
    signed = w.grant(made.attestation_id, wallet=stranger, record=False)
    registry = ConsentRegistryContract(
        client=w.service.chain, address=w.service.consents.contracts()[1].address
    )
    grant_id = registry.record_grant(signed.grant, signed.signature).record_id
    _refused(w, rule.GrantInert, "is inert", grant_id, body(["given_name"]))


def test_only_the_grantee(world: ReleaseWorld) -> None:
    w = world
    grant_id = w.grant(w.attest().attestation_id).digest
    _refused(
        w, rule.NotGrantee, "not 0x1212", grant_id, body(["given_name"]), member="0x" + "12" * 20
    )
    customer = caller_of("cust-1", "customer", key=w.wallet.key)
    with pytest.raises(rule.NotGrantee, match="released to its grantee member, not to 'cust-1'"):
        w.service.releases.release(customer, grant_id, body(["given_name"]))
    assert w.service.database.receipts_of_grant(grant_id) == []


def test_attestation_revoked_or_expired(world: ReleaseWorld) -> None:
    w = world
    made = w.attest()
    grant_id = w.grant(made.attestation_id).digest
    w.service.attestations.revoke(w.operator, made.attestation_id, "document-forged")
    _refused(w, rule.AttestationNotValid, "is not valid at", grant_id, body(["given_name"]))
    brief = w.attest(lifetime=4)
    short = w.grant(brief.attestation_id, not_after=w.now() + 3600).digest
    w.tick(5)
    _refused(w, rule.AttestationNotValid, "is not valid at", short, body(["given_name"]))


def test_no_disclosure_receiving_key_no_receipt(world: ReleaseWorld) -> None:
    w = world
    grant_id = w.grant(w.attest().attestation_id).digest
    governance = w.service.governance
    [key] = [
        k
        for k in governance.keys_of(w.account)
        if k.purpose == "disclosure-receiving" and k.revoked_at is None
    ]
    governance.revoke_key(key.key_id)
    try:
        w.tick()
        _refused(
            w,
            NoDisclosureKey,
            "has no KeyRegistry key of purpose 'disclosure-receiving'",
            grant_id,
            body(["given_name"]),
        )
    finally:
        w.receiving = SM2PrivateKey.generate()
        governance.register_key("disclosure-receiving", w.receiving.public_key())


@pytest.mark.parametrize(
    ("request_body", "words"),
    [
        (b"not json", "a release request is a JSON object"),
        (b"[]", "a release request is"),
        (b'{"fields": [], "purpose": "account-opening"}', "fields is a list of 1-32"),
        (b'{"fields": ["Given"], "purpose": "account-opening"}', "not a field name"),
        (b'{"fields": ["a", "a"], "purpose": "account-opening"}', "asked for twice"),
        (b'{"fields": ["a"], "purpose": "x y"}', "not a purpose name"),
        (b'{"fields": ["a"], "purpose": "p", "extra": 1}', "a release request is"),
        (b'{"fields": ["' + b"a" * 70_000 + b'"]}', "a release request is at most 65536 bytes"),
    ],
)
def test_malformed_requests(world: ReleaseWorld, request_body: bytes, words: str) -> None:
    w = world
    _refused(w, ReleaseRequestInvalid, words, b"\x01" * 32, request_body)


def test_a_customer_key_is_never_the_grantee(world: ReleaseWorld) -> None:
    """Even one registered under the grantee's account: customers are not released to."""
    w = world
    grant_id = w.grant(w.attest().attestation_id).digest
    caller = caller_of(w.account, "customer", key=w.wallet.key)
    with pytest.raises(rule.NotGrantee, match="released to its grantee member, not to '0x"):
        w.service.releases.release(caller, grant_id, body(["given_name"]))
    assert w.service.database.receipts_of_grant(grant_id) == []
