"""Real ``ledger-consent-proof/1`` files made offline: a customer's grant signed by its SM2 key
under an attestation (made-up contracts on :data:`OFFLINE_DOMAIN`'s chain), its revocation,
access receipts under it in two Merkle batches anchored offline (signed, never sent
``anchorBatch`` transactions of the dev account), and the issuer's sealing-key entry.

Typical use::

    case = consent_case(customer, issuer)
    data = case.build()                                  # a valid file
    data = case.build(revocations=[])                    # a build argument changed
    bad = reseal_consent(data, lambda p: ..., issuer)    # an edited file, sealed again
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from eth_utils.address import to_checksum_address

from ledger import canonical
from ledger.chain.attestations import Attestation
from ledger.chain.consent import GrantRecord, Mode, RevocationRecord, revocation_id_of
from ledger.consent import AccessReceipt
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey
from ledger.crypto.sm3 import sm3
from ledger.customer import ConsentDomain, CustomerWallet, SignedGrant
from ledger.merkle import MerkleTree
from ledger.proof import ProofKeys
from ledger.proof import _common as proof_common
from ledger.proof._consent_parts import SEAL_DOMAIN
from ledger.proof._v1 import BatchInclusion
from ledger.proof.consent import AnchoredReceipt, build_consent_proof
from tests._fixtures.proof_keys import DEV_ACCOUNT, OFFLINE_REGISTRY, entry
from tests._fixtures.proofs import OFFLINE_DOMAIN, offline_anchorer

#: Made-up ConsentRegistry and IdentityAttestations beside OFFLINE_DOMAIN's EvidenceLedger.
CONSENT_REGISTRY = to_checksum_address("0x" + "c0" * 20)
ATTESTATIONS = to_checksum_address("0x" + "a7" * 20)
#: The grantee member (anvil's second account); the attester anchors and seals (the dev one).
GRANTEE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
DOMAIN = ConsentDomain(chain_id=OFFLINE_DOMAIN.chain_id, registry=CONSENT_REGISTRY)
#: The grant's window starts here (after the sample keys were registered).
START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def fixed_random(seed: bytes) -> Callable[[int], bytes]:
    """Nonces that are the same on every run (so a golden file's inputs are stated once)."""
    counter: Iterator[int] = count()
    return lambda size: sm3(seed + next(counter).to_bytes(4, "big"))[:size]


@dataclass(frozen=True)
class ConsentCase:
    """Everything a consent proof is built from (:func:`build_consent_proof`'s arguments)."""

    issuer: SM2PrivateKey
    signed: SignedGrant
    record: GrantRecord
    attestation: Attestation
    revocations: list[RevocationRecord]
    receipts: list[AnchoredReceipt]
    pending: list[str] = field(default_factory=list)
    chain_time: int = _seconds(START) + 3000
    sealed_at: datetime = START + timedelta(hours=1)
    keys: ProofKeys | None = None

    def arguments(self) -> dict[str, Any]:
        return {
            "domain": self.signed.domain,
            "record": self.record,
            "attestation": self.attestation,
            "attestation_contract": ATTESTATIONS,
            "revocations": self.revocations,
            "receipts": self.receipts,
            "pending": self.pending,
            "chain_time": self.chain_time,
            "sealed_at": self.sealed_at,
            "issuer_key": self.issuer,
            "keys": self.keys,
        }

    def build(self, **overrides: Any) -> bytes:
        return build_consent_proof(**{**self.arguments(), **overrides})


def attestation_of(customer: SM2PrivateKey, *, attester: str = DEV_ACCOUNT) -> Attestation:
    """An attestation of ``customer`` on chain since a day before :data:`START`, for a year."""
    since = _seconds(START) - 86_400
    return Attestation(
        attestation_id=sm3(b"attestation of " + customer.public_key().to_raw()),
        attester=attester,
        subject=sm3(b"subject"),
        customer_key=customer.public_key(),
        level=sm3(b"level"),
        method=sm3(b"method"),
        verified_at=since - 60,
        expires_at=since + 365 * 86_400,
        field_names=(),
        field_digests=(),
        content_ref=b"bafk",
        nonce=sm3(b"nonce"),
        attested_at=since,
        ended_at=None,
        revocation_reason=None,
        superseded_by=None,
        supersedes=None,
    )


def receipt_under(
    record: GrantRecord, attestation: Attestation, *, number: int, used_at: datetime
) -> AccessReceipt:
    per_use = record.grant.mode is Mode.PER_USE
    return AccessReceipt(
        receipt_id=f"rcpt_{number:032x}",
        grant_id=record.grant_id,
        attestation_id=attestation.attestation_id,
        attester=attestation.attester,
        caller=record.grant.grantee,
        fields=("family_name", "given_name"),
        purpose="account-opening",
        used_at=used_at,
        request_sm3=sm3(b"release request %d" % number),
        mode=record.grant.mode,
        use_authorization=sm3(b"use %d" % number) if per_use else None,
        chain_id=DOMAIN.chain_id,
        consent_registry=DOMAIN.registry,
    )


def anchor_receipts(
    receipts: list[AccessReceipt], *, positions: list[int], size: int, nonce: int, block: int
) -> list[AnchoredReceipt]:
    """The receipts at ``positions`` of a tree of ``size`` leaves (the others made up),
    anchored by the dev account's ``anchorBatch`` (``nonce``) in block ``block``."""
    leaves = [sm3(b"another leaf %d" % i) for i in range(size)]
    for receipt, position in zip(receipts, positions, strict=True):
        leaves[position] = receipt.leaf_hash
    tree = MerkleTree(leaves)
    anchor = offline_anchorer(nonce=nonce, block_number=block)(OFFLINE_DOMAIN, tree.root, size)
    return [
        AnchoredReceipt(
            receipt,
            BatchInclusion(position, size, tuple(tree.inclusion_proof(position)), tree.root),
            anchor,
        )
        for receipt, position in zip(receipts, positions, strict=True)
    ]


def consent_case(
    customer: SM2PrivateKey,
    issuer: SM2PrivateKey,
    *,
    mode: Mode = Mode.PER_USE,
    revoked: bool = True,
    keys: bool = True,
    seed: bytes = b"consent proof",
) -> ConsentCase:
    """A grant of :data:`GRANTEE` (three uses at most), three uses in two batches (leaves 0
    and 2 of four, leaf 1 of two), one use pending, and (``revoked``) its revocation after the
    uses; sealed an hour after :data:`START` with the issuer's entry (``keys``)."""
    wallet = CustomerWallet(key=customer, random=fixed_random(seed))
    attestation = attestation_of(customer)
    signed = wallet.grant(
        DOMAIN,
        grantee=GRANTEE,
        attestation_id=attestation.attestation_id,
        fields=["family_name", "given_name"],
        purposes=["account-opening"],
        method="verify-and-store",
        not_before=_seconds(START),
        not_after=_seconds(START) + 30 * 86_400,
        notice_text="向 Beta Brokerage 提供您的身份信息用于开户",
        recipient_name="Beta Brokerage",
        recipient_contact="privacy@beta.example",
        categories=["identity"],
        sensitive=True,
        language="zh-CN",
        max_uses=5,
        mode=mode,
    )
    record = GrantRecord(
        grant_id=signed.digest,
        grant=signed.grant,
        customer_key_fingerprint=customer.public_key().fingerprint(),
        signature=signed.signature,
        relayer=GRANTEE,
        recorded_at=_seconds(START) + 12,
    )
    uses = [
        receipt_under(record, attestation, number=n, used_at=START + timedelta(minutes=n))
        for n in (1, 2, 3)
    ]
    receipts = anchor_receipts(uses[:2], positions=[0, 2], size=4, nonce=0, block=7)
    receipts += anchor_receipts(uses[2:], positions=[1], size=2, nonce=1, block=9)
    revocations = []
    if revoked:
        revocation = wallet.revoke(DOMAIN, signed.digest)
        revocations.append(
            RevocationRecord(
                revocation_id=revocation_id_of(revocation.digest, revocation.signature),
                digest=revocation.digest,
                nonce=revocation.revocation.nonce,
                signature=revocation.signature,
                relayer=GRANTEE,
                at=_seconds(START) + 40 * 60,
            )
        )
    case = ConsentCase(
        issuer=issuer,
        signed=signed,
        record=record,
        attestation=attestation,
        revocations=revocations,
        receipts=receipts,
        pending=[f"rcpt_{4:032x}"],
    )
    if keys:
        case = replace(
            case,
            keys=ProofKeys(
                chain_id=DOMAIN.chain_id,
                registry=OFFLINE_REGISTRY,
                sealed_at=case.sealed_at,
                seal=entry(issuer.public_key(), member=DEV_ACCOUNT),
            ),
        )
    return case


def reseal_consent(
    data: bytes, edit: Callable[[dict[str, Any]], object], issuer: SM2PrivateKey
) -> bytes:
    """``data`` edited in place by ``edit`` and sealed again by ``issuer`` (so the check the
    edit targets is the one that fails, not the seal)."""
    body = canonical.loads_canonical(data)
    edit(body)
    body["seal"] = proof_common.seal(
        body, domain=SEAL_DOMAIN, issuer_key=issuer, distid=DEFAULT_DISTID
    )
    return canonical.dumps(body)
