"""The release rule, check by check, on records as the chain returns them (real SM2 signatures
over the contract's digests): each refusal its own error, the first failing check wins."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from ledger.chain._binding import name_id
from ledger.chain.attestations import Attestation
from ledger.chain.consent import (
    Grant,
    GrantRecord,
    Mode,
    Notice,
    Revocation,
    RevocationRecord,
    UseAuthorization,
    grant_digest,
    revocation_digest,
    revocation_id_of,
    use_digest,
)
from ledger.consent.release import (
    AttestationNotValid,
    FieldOutOfScope,
    GrantExpired,
    GrantInert,
    GrantNotYetValid,
    GrantRevoked,
    NotGrantee,
    PerUseAuthorizationInvalid,
    PerUseAuthorizationMissing,
    PurposeOutOfScope,
    ReleaseRefused,
    ReleaseRequest,
    UsesExhausted,
    check_release,
)
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer.documents import ConsentDomain, SignedUse

CHAIN, REGISTRY = 31337, "0x" + "ab" * 20
ATTESTER, GRANTEE, OTHER = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
NOW = 1_800_000_000
FIELDS = ("family_name", "given_name", "id_number")
CUSTOMER = SM2PrivateKey.generate()


def _attestation(**changes: object) -> Attestation:
    attestation = Attestation(
        attestation_id=b"\xa7" * 32,
        attester=ATTESTER,
        subject=os.urandom(32),
        customer_key=CUSTOMER.public_key(),
        level=name_id("cn-aml/standard"),
        method=name_id("id-document+liveness"),
        verified_at=NOW - 1000,
        expires_at=NOW + 10_000,
        field_names=tuple(name_id(f) for f in (*FIELDS, "address")),
        field_digests=tuple(os.urandom(32) for _ in range(4)),
        content_ref=b"bafy",
        nonce=os.urandom(32),
        attested_at=NOW - 1000,
        ended_at=None,
        revocation_reason=None,
        superseded_by=None,
        supersedes=None,
    )
    return replace(attestation, **changes)  # type: ignore[arg-type]


def _grant(
    *,
    mode: Mode = Mode.STANDING,
    max_uses: int = 0,
    key: SM2PrivateKey = CUSTOMER,
    **changes: object,
) -> GrantRecord:
    terms = Grant(
        grantee=GRANTEE,
        attestation_id=b"\xa7" * 32,
        fields=tuple(name_id(f) for f in FIELDS[:2]),
        purposes=(name_id("account-opening"),),
        processing_method=name_id("verification"),
        not_before=NOW - 100,
        not_after=NOW + 1000,
        max_uses=max_uses,
        mode=mode,
        nonce=os.urandom(32),
        notice=Notice(
            recipient_name="Beta Brokerage",
            recipient_contact="dpo@beta.example",
            data_categories=(name_id("identity"),),
            sensitive=True,
            notice_digest=os.urandom(32),
            language="zh-CN",
            separate_consent=True,
        ),
    )
    terms = replace(terms, **changes)  # type: ignore[arg-type]
    grant_id = grant_digest(terms, chain_id=CHAIN, contract=REGISTRY)
    return GrantRecord(
        grant_id=grant_id,
        grant=terms,
        customer_key_fingerprint=CUSTOMER.public_key().fingerprint(),
        signature=key.sign(grant_id),
        relayer=OTHER,
        recorded_at=NOW - 50,
    )


def _revocation(grant: GrantRecord, at: int, key: SM2PrivateKey = CUSTOMER) -> RevocationRecord:
    revocation = Revocation(grant_id=grant.grant_id, nonce=os.urandom(32))
    digest = revocation_digest(revocation, chain_id=CHAIN, contract=REGISTRY)
    signature = key.sign(digest)
    return RevocationRecord(
        revocation_id=revocation_id_of(digest, signature),
        digest=digest,
        nonce=revocation.nonce,
        signature=signature,
        relayer=OTHER,
        at=at,
    )


def _use(
    grant: GrantRecord,
    *,
    key: SM2PrivateKey = CUSTOMER,
    at: int = NOW,
    fields: tuple[str, ...] = FIELDS[:1],
    grantee: str = GRANTEE,
) -> SignedUse:
    use = UseAuthorization(
        grant_id=grant.grant_id,
        grantee=grantee,
        fields=tuple(name_id(f) for f in fields),
        purpose=name_id("account-opening"),
        nonce=os.urandom(32),
        requested_at=at,
    )
    signature = key.sign(use_digest(use, chain_id=CHAIN, contract=REGISTRY))
    return SignedUse(domain=ConsentDomain(CHAIN, REGISTRY), use=use, signature=signature)


def _check(
    grant: GrantRecord,
    *,
    request: ReleaseRequest | None = None,
    attestation: Attestation | None = None,
    revocations: tuple[RevocationRecord, ...] = (),
    uses: int = 0,
    now: int = NOW,
) -> None:
    check_release(
        request or ReleaseRequest(grant.grant_id, GRANTEE, FIELDS[:1], "account-opening"),
        grant=grant,
        revocations=revocations,
        attestation=attestation or _attestation(),
        uses=uses,
        now=now,
        chain_id=CHAIN,
        registry=REGISTRY,
    )


def test_a_standing_grant_releases_its_fields_to_its_grantee() -> None:
    grant = _grant()
    _check(grant)
    _check(
        grant,
        request=ReleaseRequest(
            grant.grant_id, GRANTEE.upper().replace("0X", "0x"), FIELDS[:2], "account-opening"
        ),
    )


def test_each_refusal_is_its_own_error() -> None:
    grant = _grant(max_uses=2)
    cases: list[tuple[type[ReleaseRefused], str, dict[str, object]]] = [
        (
            NotGrantee,
            f"is for {GRANTEE}, not {OTHER}",
            {"request": ReleaseRequest(grant.grant_id, OTHER, FIELDS[:1], "account-opening")},
        ),
        (
            NotGrantee,
            "not 0x",
            {"request": ReleaseRequest(b"\x00" * 32, GRANTEE, FIELDS[:1], "account-opening")},
        ),
        (
            NotGrantee,
            "another attestation",
            {"attestation": _attestation(attestation_id=b"\x01" * 32)},
        ),
        (AttestationNotValid, "is not valid at", {"attestation": _attestation(ended_at=NOW)}),
        (AttestationNotValid, "is not valid at", {"attestation": _attestation(expires_at=NOW)}),
        (GrantNotYetValid, "is valid from", {"now": NOW - 60}),  # recorded at NOW - 50
        (GrantExpired, "expired at", {"now": NOW + 1000}),
        (
            GrantRevoked,
            f"revoked by its customer at {NOW}",
            {"revocations": (_revocation(grant, NOW),)},
        ),
        (
            FieldOutOfScope,
            "'id_number' is not in the scope",
            {"request": ReleaseRequest(grant.grant_id, GRANTEE, ("id_number",), "account-opening")},
        ),
        (
            FieldOutOfScope,
            "at least one field",
            {"request": ReleaseRequest(grant.grant_id, GRANTEE, (), "account-opening")},
        ),
        (
            PurposeOutOfScope,
            "'marketing' is not one",
            {"request": ReleaseRequest(grant.grant_id, GRANTEE, FIELDS[:1], "marketing")},
        ),
        (UsesExhausted, "allows 2 uses", {"uses": 2}),
    ]
    for error, message, changes in cases:
        with pytest.raises(error, match=message):
            _check(grant, **changes)  # type: ignore[arg-type]


def test_a_revocation_that_does_not_verify_revokes_nothing_and_a_later_one_not_yet() -> None:
    grant = _grant()
    bogus = _revocation(grant, NOW - 10, key=SM2PrivateKey.generate())
    _check(grant, revocations=(bogus, _revocation(grant, NOW + 1)))


def test_a_grant_signed_by_another_key_is_inert() -> None:
    grant = _grant(key=SM2PrivateKey.generate())
    with pytest.raises(GrantInert, match=f"is inert: .* \\(relayed by {OTHER}\\)"):
        _check(grant)


def test_per_use_needs_the_customers_fresh_signature_over_this_very_request() -> None:
    grant = _grant(mode=Mode.PER_USE)
    request = ReleaseRequest(grant.grant_id, GRANTEE, FIELDS[:1], "account-opening")
    with pytest.raises(PerUseAuthorizationMissing, match="is per-use"):
        _check(grant, request=request)
    _check(grant, request=replace(request, use=_use(grant)))
    refused = [
        (_use(grant, key=SM2PrivateKey.generate()), "does not verify"),
        (_use(grant, fields=FIELDS[:2]), "another grant, grantee, fields or purpose"),
        (_use(grant, grantee=OTHER), "another grant, grantee, fields or purpose"),
        (_use(grant, at=NOW - 301), "at most 300 s old"),
        (_use(grant, at=NOW + 31), "at most 300 s old"),
    ]
    elsewhere = replace(_use(grant), domain=ConsentDomain(CHAIN, "0x" + "cd" * 20))
    refused.append((elsewhere, "another chain or ConsentRegistry"))
    for use, message in refused:
        with pytest.raises(PerUseAuthorizationInvalid, match=message):
            _check(grant, request=replace(request, use=use))
