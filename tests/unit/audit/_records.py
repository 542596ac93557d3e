"""Records as the chain and a service hold them, for the reconciliation's unit tests: a real
attestation, grants signed with the customer's real SM2 key over the contract's digest,
revocations, access receipts."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address

from ledger.audit.reconcile import ChainGrant, ChainView, Reliance, SeenReceipt
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
from ledger.consent import AccessReceipt
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3
from ledger.db.records import ReceiptStatus

CHAIN = 31337
REGISTRY = to_checksum_address("0x" + "ab" * 20)
ATTESTER = to_checksum_address("0x" + "11" * 20)
GRANTEE = to_checksum_address("0x" + "22" * 20)
OTHER = to_checksum_address("0x" + "33" * 20)
NOW = 1_800_000_000
ATTESTATION_ID = b"\xa7" * 32
CUSTOMER = SM2PrivateKey.generate()
ATTESTED = ("family_name", "given_name", "id_number")


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def attestation(**changes: object) -> Attestation:
    made = Attestation(
        attestation_id=ATTESTATION_ID,
        attester=ATTESTER,
        subject=os.urandom(32),
        customer_key=CUSTOMER.public_key(),
        level=name_id("cn-aml/standard"),
        method=name_id("id-document+liveness"),
        verified_at=NOW - 1000,
        expires_at=NOW + 10_000,
        field_names=tuple(name_id(f) for f in ATTESTED),
        field_digests=tuple(os.urandom(32) for _ in ATTESTED),
        content_ref=b"bafy",
        nonce=os.urandom(32),
        attested_at=NOW - 1000,
        ended_at=None,
        revocation_reason=None,
        superseded_by=None,
        supersedes=None,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def grant(*, key: SM2PrivateKey = CUSTOMER, max_uses: int = 0, **changes: object) -> GrantRecord:
    """Grantee GRANTEE, fields family_name and given_name, purpose account-opening, window
    [NOW - 100, NOW + 1000), recorded at NOW - 50."""
    terms = Grant(
        grantee=GRANTEE,
        attestation_id=ATTESTATION_ID,
        fields=(name_id("family_name"), name_id("given_name")),
        purposes=(name_id("account-opening"),),
        processing_method=name_id("verification"),
        not_before=NOW - 100,
        not_after=NOW + 1000,
        max_uses=max_uses,
        mode=Mode.STANDING,
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


def revocation(record: GrantRecord, when: int, key: SM2PrivateKey = CUSTOMER) -> RevocationRecord:
    revoked = Revocation(grant_id=record.grant_id, nonce=os.urandom(32))
    digest = revocation_digest(revoked, chain_id=CHAIN, contract=REGISTRY)
    signature = key.sign(digest)
    return RevocationRecord(
        revocation_id=revocation_id_of(digest, signature),
        digest=digest,
        nonce=revoked.nonce,
        signature=signature,
        relayer=OTHER,
        at=when,
    )


def view(
    *grants: GrantRecord,
    revocations: tuple[RevocationRecord, ...] = (),
    of: Attestation | None = None,
) -> ChainView:
    held = of or attestation()
    return ChainView(
        chain_id=CHAIN,
        registry=REGISTRY,
        grants={g.grant_id: ChainGrant(g, revocations, held) for g in grants},
    )


def receipt(
    record: GrantRecord,
    when: int,
    *,
    number: int,
    fields: tuple[str, ...] = ("family_name",),
    status: ReceiptStatus = ReceiptStatus.ANCHORED,
    **changes: object,
) -> SeenReceipt:
    """Receipt ``rcpt_<number as 32 hex>`` of a release under ``record`` at ``when``."""
    made = AccessReceipt(
        receipt_id=f"rcpt_{number:032x}",
        grant_id=record.grant_id,
        attestation_id=record.grant.attestation_id,
        attester=ATTESTER,
        caller=GRANTEE,
        fields=fields,
        purpose="account-opening",
        used_at=at(when),
        request_sm3=sm3(b"request %d" % number),
        mode=Mode.STANDING,
        use_authorization=None,
        chain_id=CHAIN,
        consent_registry=REGISTRY,
    )
    made = replace(made, **changes)  # type: ignore[arg-type]
    transaction = b"\x7e" * 32 if status is ReceiptStatus.ANCHORED else None
    return SeenReceipt(made, status, transaction)


def reliance(seen: SeenReceipt, *, agreement: str = "agr_1", **changes: object) -> Reliance:
    """Member GRANTEE's reliance on ``seen`` (a minute after its use)."""
    r = seen.receipt
    made = Reliance(
        agreement_id=agreement,
        attestation_id=r.attestation_id,
        grant_id=r.grant_id,
        receipt_id=r.receipt_id,
        attester=r.attester,
        member=r.caller,
        fields=r.fields,
        relied_at=at(int(r.used_at.timestamp()) + 60),
    )
    return replace(made, **changes)  # type: ignore[arg-type]
