"""Records as a service and the chain hold them, for the reconciliation's unit tests: the
chain's view of grants (:mod:`tests._fixtures.consent_records` makes them, with real SM2
signatures), access receipts, reliances."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from eth_utils.address import to_checksum_address

from ledger.audit.records import ChainGrant, ChainView, Reliance, SeenReceipt, includes
from ledger.chain.attestations import Attestation
from ledger.chain.consent import GrantRecord, Mode, RevocationRecord
from ledger.consent import AccessReceipt
from ledger.crypto.sm3 import sm3
from ledger.db.records import ReceiptStatus
from tests._fixtures.consent_records import (
    ATTESTATION_ID,
    CHAIN,
    NOW,
    REGISTRY,
    attestation,
    grant,
    revocation,
)

ATTESTER, GRANTEE, OTHER = (
    to_checksum_address(a) for a in ("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20)
)

__all__ = [
    "ATTESTATION_ID",
    "ATTESTER",
    "CHAIN",
    "GRANTEE",
    "NOW",
    "OTHER",
    "REGISTRY",
    "at",
    "attestation",
    "grant",
    "receipt",
    "reliance",
    "revocation",
    "view",
]


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


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
    """Receipt ``rcpt_<number as 32 hex>`` of a release under ``record`` at ``when`` (in the
    grant's mode)."""
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
        mode=record.grant.mode,
        use_authorization=sm3(b"use %d" % number) if record.grant.mode is Mode.PER_USE else None,
        chain_id=CHAIN,
        consent_registry=REGISTRY,
    )
    made = replace(made, **changes)  # type: ignore[arg-type]
    if status is not ReceiptStatus.ANCHORED:
        return SeenReceipt(made, status)
    # anchored alone in its batch: the root is its leaf hash, the path empty
    proven = includes(made, index=0, tree_size=1, path=(), root=made.leaf_hash)
    return SeenReceipt(made, status, b"\x7e" * 32, proven)


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
