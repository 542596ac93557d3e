"""Consent records as the chain returns them, made offline for unit tests: an attestation of
the customer's real SM2 key, grants signed with it over the contract's digest (so signatures
verify, or not, for real), revocations; fixed accounts and times."""

from __future__ import annotations

import os
from dataclasses import replace

from eth_utils.address import to_checksum_address

from ledger.chain._binding import name_id
from ledger.chain.attestations import Attestation
from ledger.chain.consent import (
    Grant,
    GrantRecord,
    Mode,
    Notice,
    Revocation,
    RevocationRecord,
    grant_digest,
    revocation_digest,
    revocation_id_of,
)
from ledger.crypto.sm2 import SM2PrivateKey

CHAIN = 31337
REGISTRY = to_checksum_address("0x" + "ab" * 20)
ATTESTER, GRANTEE, OTHER = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
NOW = 1_800_000_000
#: Attested (with "address"); a grant covers the first two.
FIELDS = ("family_name", "given_name", "id_number")
ATTESTATION_ID = b"\xa7" * 32
CUSTOMER = SM2PrivateKey.generate()


def attestation(**changes: object) -> Attestation:
    """ATTESTER's attestation of CUSTOMER's key, valid [NOW - 1000, NOW + 10 000)."""
    made = Attestation(
        attestation_id=ATTESTATION_ID,
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
    return replace(made, **changes)  # type: ignore[arg-type]


def grant(
    *,
    mode: Mode = Mode.STANDING,
    max_uses: int = 0,
    key: SM2PrivateKey = CUSTOMER,
    **changes: object,
) -> GrantRecord:
    """GRANTEE's grant of family_name and given_name for account-opening, window [NOW - 100,
    NOW + 1000), recorded at NOW - 50, signed by ``key``."""
    terms = Grant(
        grantee=GRANTEE,
        attestation_id=ATTESTATION_ID,
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


def revocation(record: GrantRecord, at: int, key: SM2PrivateKey = CUSTOMER) -> RevocationRecord:
    """A revocation of ``record`` signed by ``key``, recorded at ``at``."""
    revoked = Revocation(grant_id=record.grant_id, nonce=os.urandom(32))
    digest = revocation_digest(revoked, chain_id=CHAIN, contract=REGISTRY)
    signature = key.sign(digest)
    return RevocationRecord(
        revocation_id=revocation_id_of(digest, signature),
        digest=digest,
        nonce=revoked.nonce,
        signature=signature,
        relayer=OTHER,
        at=at,
    )
