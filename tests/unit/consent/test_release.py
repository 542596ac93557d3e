"""The release rule, check by check, on records as the chain returns them (real SM2 signatures
over the contract's digests): each refusal its own error, the first failing check wins."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from ledger.chain._binding import name_id
from ledger.chain.attestations import Attestation
from ledger.chain.consent import (
    GrantRecord,
    Mode,
    RevocationRecord,
    UseAuthorization,
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
from tests._fixtures.consent_records import (
    CHAIN,
    CUSTOMER,
    FIELDS,
    GRANTEE,
    NOW,
    OTHER,
    REGISTRY,
)
from tests._fixtures.consent_records import attestation as _attestation
from tests._fixtures.consent_records import grant as _grant
from tests._fixtures.consent_records import revocation as _revocation


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
