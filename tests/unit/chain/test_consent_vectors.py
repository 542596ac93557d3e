"""Pinned vectors of what a customer's key signs (grant, revocation, per-use authorization) and
of an attestation ID: another implementation (a customer's app, an auditor's tool) checks itself
against these; a change of the encoding fails here before it reaches a signature. That the
Python encoding is the contract's is proven on a real chain (tests/contracts/
test_consent_registry.py); these pin it across versions."""

from __future__ import annotations

from dataclasses import replace

from ledger.chain._binding import name_id
from ledger.chain.attestations import attestation_id_of
from ledger.chain.consent import (
    Grant,
    Mode,
    Notice,
    Revocation,
    UseAuthorization,
    grant_digest,
    revocation_digest,
    use_digest,
)

DOMAIN = {"chain_id": 31337, "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
GRANT = Grant(
    grantee="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    attestation_id=b"\x11" * 32,
    fields=(name_id("family_name"), name_id("id_number")),
    purposes=(name_id("account-opening"),),
    processing_method=name_id("verify-and-store"),
    not_before=1_800_000_000,
    not_after=1_802_592_000,
    max_uses=3,
    mode=Mode.PER_USE,
    nonce=b"\x22" * 32,
    notice=Notice(
        recipient_name="Beta Brokerage Co., Ltd.",
        recipient_contact="privacy@beta.example",
        data_categories=(name_id("identity"),),
        sensitive=True,
        notice_digest=bytes(range(32)),
        language="zh-Hans-CN",
        separate_consent=True,
    ),
)
GRANT_DIGEST = "ae0e61dc15a7604aa01f4798ff95d8887e8c8f8c8470532aa5f2972eff64be70"


def test_grant_digest() -> None:
    assert grant_digest(GRANT, **DOMAIN).hex() == GRANT_DIGEST


def test_revocation_digest() -> None:
    revocation = Revocation(grant_id=bytes.fromhex(GRANT_DIGEST), nonce=b"\x33" * 32)
    assert revocation_digest(revocation, **DOMAIN).hex() == (
        "c7af6457c9e9f966109bce162a51cc6d26e5040eec90d439d0bef45365f21859"
    )


def test_use_digest() -> None:
    use = UseAuthorization(
        grant_id=bytes.fromhex(GRANT_DIGEST),
        grantee=GRANT.grantee,
        fields=GRANT.fields[:1],
        purpose=GRANT.purposes[0],
        nonce=b"\x44" * 32,
        requested_at=1_800_000_100,
    )
    assert use_digest(use, **DOMAIN).hex() == (
        "b793c20b406ab1bfe108faf3ca57478686b4691b4c5800105133dbdf105d290a"
    )


def test_attestation_id() -> None:
    attestation_id = attestation_id_of(
        **DOMAIN,
        attester="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        subject=b"\x55" * 32,
        nonce=b"\x66" * 32,
    )
    assert attestation_id.hex() == (
        "fe57cf75c7e2a99d0ae026ce73811022d15c76c137719aedb4ba583ffc47c3f1"
    )


def test_every_part_of_the_grant_is_signed() -> None:
    """Changing any one field of the grant (the notice's included) changes the digest."""
    changed = [
        replace(GRANT, max_uses=4),
        replace(GRANT, mode=Mode.STANDING),
        replace(GRANT, fields=GRANT.fields[::-1]),
        replace(GRANT, notice=replace(GRANT.notice, sensitive=False)),
        replace(GRANT, notice=replace(GRANT.notice, language="en")),
    ]
    digests = {grant_digest(g, **DOMAIN).hex() for g in changed}
    assert len(digests) == len(changed) and GRANT_DIGEST not in digests
