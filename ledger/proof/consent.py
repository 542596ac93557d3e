"""``ledger-consent-proof/1``: the proof of consent a customer downloads, one file per grant.

It carries the customer's signed grant exactly as recorded on chain (the record, its signing
domain and signature: the customer's own ``consent-grant`` document), what the ConsentRegistry
recorded with it, the identity attestation it is under (the fields a verifier needs, as the
chain held them when the issuer read it), every revocation recorded for the grant (the
customer's ``consent-revocation`` documents), and every access receipt
(:class:`~ledger.consent.AccessReceipt`) the issuing service wrote under the grant and anchored,
each with its Merkle inclusion proof and the ``anchorBatch`` transaction and block, as agreement
proofs carry theirs. Receipts not anchored yet are not proven: only their IDs are listed, in
``pending`` (the issuer's word; ask again once they are anchored). Like ``ledger-proof/2`` it is
sealed by the issuing service (its SM2 signature over the canonical body under the domain
``ledger/consent-proof-seal/1``), with the KeyRegistry entry of its sealing key when the key is
registered (``keys``)::

    {"format": "ledger-consent-proof/1",
     "sealed_at": "2026-11-29T04:00:00Z", "chain_time": <latest block's time when read>,
     "grant": {"type": "consent-grant", "version": 1, "domain": {"chain_id", "registry"},
               "grant": {...}, "signature": b64},
     "recorded": {"grant_id": "0x..", "customer_key_fingerprint": "sm3:..", "relayer",
                  "recorded_at"},
     "attestation": {"contract", "attestation_id", "attester", "customer_key": "0x04..",
                     "verified_at", "expires_at", "attested_at", "ended_at"?, "revoked",
                     "superseded_by"?},
     "revocations": [{"document": {"type": "consent-revocation", ...}, "revocation_id",
                      "relayer", "at"}],
     "receipts": [{"receipt": {... ledger/access-receipt v1 ...},
                   "inclusion": {"leaf", "leaf_index", "tree_size", "path", "root"},
                   "anchor": {"chain_id", "contract", "batch_id", "writer",
                              "transaction": {"hash", "raw"}, "block": {"number", "hash"}}}],
     "pending": ["rcpt_.."],
     "keys"?: {"registry": {"chain_id", "contract"}, "seal": {... as in ledger-proof/2 ...}},
     "seal": {...}}

Offline checks, in order: (1) canonical JSON of the closed schema, no nulls outside the receipts
(a receipt's ``use_authorization`` is null in standing mode); (2) the grant document parses and
is in its one canonical form, and its digest (:func:`ledger.chain.consent.grant_digest`, domain
included) is the recorded grant ID; (3) the attestation's customer key is an SM2 point whose SM3
is the recorded fingerprint, the grant is under this attestation, and its end is stated
consistently (ended iff revoked or superseded, not both); (4) the customer's signature of the
grant ID verifies under that key (else the grant is inert: no consent to prove); (5) each
revocation is a canonical document of this grant and domain, its ID is
``keccak256(abi.encode(digest, signature))`` as the contract computes it, listed in chain order;
whether its signature verifies is reported (the chain records revocations unchecked; the
effective one is the earliest that verifies); (6) each receipt is a canonical access receipt
naming this grant, attestation, attester, chain and registry, listed by use time then ID, each
once; pending IDs sorted, each once, none of them proven; (7) each receipt's leaf hash is its
inclusion's leaf and the RFC 9162 path leads to the root; (8) the batch ID is the
EvidenceLedger's ID of root and size on the grant's chain, receipts of one batch state the same
anchor, and (9) its raw transaction hashes to its hash, was sent by the writer to the contract
on that chain and calls ``anchorBatch(root, size)``; (10) the seal; (11) ``keys``, when present:
the registry is on the grant's chain, the entry's key ID is the registry's, it is the seal's key
for ``proof-sealing``, its window holds ``sealed_at``, and its member anchored every batch.

:func:`confirmation_steps` (``ledger verify --rpc``): (12) the node serves the grant's chain and
the ConsentRegistry holds this build's code; (13) the grant is recorded as the file states
(record, signature, fingerprint, relayer, time) and the revocations stated are the first ones
recorded, and every one recorded at or before ``chain_time`` is stated (later ones may have
come since); (14) the registry's IdentityAttestations is the stated one, of this build, and
holds the attestation as stated (an end stated is the one on chain; one not stated may have
come after ``chain_time``); (15) each batch: the EvidenceLedger holds this
build's code and belongs to the ConsentRegistry's consortium, stores the batch with this root,
size, writer and block, and the transaction succeeded in that block, which is canonical;
(16) with ``keys``, the KeyRegistry holds this build's code and belongs to the same consortium,
and the entry is on chain as stated with a window that still holds ``sealed_at``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from ledger import canonical
from ledger.chain.attestations import Attestation
from ledger.chain.consent import (
    GrantRecord,
    RevocationRecord,
    effective_revocation,
    revocation_id_of,
    signs,
)
from ledger.chain.evidence import batch_calldata, batch_id_of
from ledger.consent import AccessReceipt
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey
from ledger.customer.documents import ConsentDomain, SignedGrant, SignedRevocation, parse
from ledger.proof import _common as c
from ledger.proof import _keys, _v1
from ledger.proof._consent_chain import confirmation_steps
from ledger.proof._consent_parts import (
    FORMAT,
    SEAL_DOMAIN,
    AnchoredReceipt,
    AttestationClaims,
    ProofFile,
    ProvenReceipt,
    VerifiedConsentProof,
    body_json,
    keys_json,
)
from ledger.proof._keys import KeyClaims, ProofKeys

__all__ = [
    "FORMAT",
    "AnchoredReceipt",
    "AttestationClaims",
    "ProvenReceipt",
    "VerifiedConsentProof",
    "build_consent_proof",
    "confirmation_steps",
    "verify",
]


def build_consent_proof(
    *,
    domain: ConsentDomain,
    record: GrantRecord,
    attestation: Attestation,
    attestation_contract: str,
    revocations: Sequence[RevocationRecord],
    receipts: Sequence[AnchoredReceipt],
    pending: Sequence[str],
    chain_time: int,
    sealed_at: datetime,
    issuer_key: SM2PrivateKey,
    keys: ProofKeys | None = None,
    distid: bytes = DEFAULT_DISTID,
) -> bytes:
    """Write the consent proof of a recorded grant (``keys``: the registry entry of
    ``issuer_key``, read at ``sealed_at``; its ``broker`` is not used); :class:`ProofInvalid`
    if it would not verify (an inert grant, a receipt of another grant ...)."""
    body = body_json(
        domain=domain,
        record=record,
        attestation=attestation,
        attestation_contract=attestation_contract,
        revocations=revocations,
        receipts=receipts,
        pending=pending,
        chain_time=chain_time,
        sealed_at=canonical.timestamp(sealed_at),
    )
    if keys is not None:
        if canonical.whole_seconds(keys.sealed_at) != canonical.whole_seconds(sealed_at):
            raise ValueError("the keys were read for another sealing time")
        body["keys"] = keys_json(keys)
    return c.seal_and_check(
        body, domain=SEAL_DOMAIN, issuer_key=issuer_key, distid=distid, verify=verify
    )


# --- offline


def verify(
    raw: dict[str, Any], *, trusted_issuers: Collection[bytes] | None
) -> VerifiedConsentProof:
    """Check a parsed ``ledger-consent-proof/1`` file offline (checks 1 to 11, module
    docstring); :class:`ProofInvalid` naming the first that fails."""
    # 1. the closed schema; no nulls but a receipt's own (its JSON is checked in 6)
    _v1.no_nulls({k: v for k, v in raw.items() if k != "receipts"})
    for index, part in enumerate(raw.get("receipts") or []):
        if isinstance(part, dict):
            _v1.no_nulls({k: v for k, v in part.items() if k != "receipt"}, f"receipts.{index}")
    proof = c.parse(ProofFile, raw)
    sealed_at = canonical.parse_timestamp(proof.sealed_at)
    signed, record = _check_grant(proof)
    attestation = _check_attestation(proof, record)
    key = c.public_key(
        proof.attestation.customer_key, proof.recorded.customer_key_fingerprint, "customer"
    )
    # 4. the customer's signature of the grant, under the key the attestation binds
    if not record.signed_by(key):
        raise c.ProofInvalid(
            "the grant's signature does not verify under the key the attestation binds: the"
            " grant is inert"
        )
    revocations = _check_revocations(proof, signed)
    receipts = _check_receipts(proof, signed.domain, record, attestation)
    # 10. the issuer's seal covers the whole body
    issuer = c.check_seal(raw, proof.seal, domain=SEAL_DOMAIN, trusted_issuers=trusted_issuers)
    claims = None
    if proof.keys is not None:
        claims = _check_keys(proof, signed.domain, issuer, sealed_at, receipts)
    effective = effective_revocation(revocations, key)
    return VerifiedConsentProof(
        format=FORMAT,
        domain=signed.domain,
        record=record,
        attestation=attestation,
        revocations=tuple((r, signs(key, r.digest, r.signature)) for r in revocations),
        revoked_at=None if effective is None else effective.at,
        receipts=receipts,
        pending=tuple(proof.pending),
        chain_time=proof.chain_time,
        sealed_at=sealed_at,
        issuer_fingerprint=issuer,
        keys=claims,
    )


def _canonical_document(raw: dict[str, Any], signed: SignedGrant | SignedRevocation) -> None:
    if signed.to_json() != raw:
        raise c.ProofInvalid(f"the {signed.TYPE} document is not in its canonical form")


def _check_grant(proof: ProofFile) -> tuple[SignedGrant, GrantRecord]:
    # 2. the customer's grant document; its digest (domain included) is the recorded grant ID
    signed = parse(proof.grant, SignedGrant)
    _canonical_document(proof.grant, signed)
    recorded = proof.recorded
    if canonical.unhex0x(recorded.grant_id) != signed.digest:
        raise c.ProofInvalid("the grant ID is not the digest of the grant and its domain")
    return signed, GrantRecord(
        grant_id=signed.digest,
        grant=signed.grant,
        customer_key_fingerprint=canonical.unlabel("sm3", recorded.customer_key_fingerprint),
        signature=signed.signature,
        relayer=c.checksummed(recorded.relayer),
        recorded_at=recorded.recorded_at,
    )


def _check_attestation(proof: ProofFile, record: GrantRecord) -> AttestationClaims:
    # 3. the attestation the grant is under, its customer key (checked by the caller against
    #    the recorded fingerprint) and its end stated consistently
    part = proof.attestation
    claims = AttestationClaims(
        contract=c.checksummed(part.contract),
        attestation_id=canonical.unhex0x(part.attestation_id),
        attester=c.checksummed(part.attester),
        customer_key=canonical.unhex0x(part.customer_key),
        verified_at=part.verified_at,
        expires_at=part.expires_at,
        attested_at=part.attested_at,
        ended_at=part.ended_at,
        revoked=part.revoked,
        superseded_by=None if part.superseded_by is None else canonical.unhex0x(part.superseded_by),
    )
    if claims.attestation_id != record.grant.attestation_id:
        raise c.ProofInvalid("the grant is under another attestation than the one stated")
    superseded = claims.superseded_by is not None
    if (claims.ended_at is not None) != (claims.revoked or superseded) or (
        claims.revoked and superseded
    ):
        raise c.ProofInvalid(
            "the attestation's end is stated inconsistently (it ends when revoked or"
            " superseded, and by one of them)"
        )
    return claims


def _check_revocations(proof: ProofFile, signed: SignedGrant) -> list[RevocationRecord]:
    # 5. each revocation: a canonical document of this grant and domain, under the ID the
    #    contract gives it, in chain order
    records: list[RevocationRecord] = []
    for index, part in enumerate(proof.revocations):
        revocation = parse(part.document, SignedRevocation)
        _canonical_document(part.document, revocation)
        if revocation.domain != signed.domain or revocation.revocation.grant_id != signed.digest:
            raise c.ProofInvalid(f"revocation {index} is not of this grant and domain")
        if canonical.unhex0x(part.revocation_id) != revocation_id_of(
            revocation.digest, revocation.signature
        ):
            raise c.ProofInvalid(f"revocation {index}'s ID is not that of its digest and signature")
        if records and part.at < records[-1].at:
            raise c.ProofInvalid("revocations are not in chain order")
        records.append(
            RevocationRecord(
                revocation_id=canonical.unhex0x(part.revocation_id),
                digest=revocation.digest,
                nonce=revocation.revocation.nonce,
                signature=revocation.signature,
                relayer=c.checksummed(part.relayer),
                at=part.at,
            )
        )
    return records


def _check_receipts(
    proof: ProofFile,
    domain: ConsentDomain,
    record: GrantRecord,
    attestation: AttestationClaims,
) -> tuple[ProvenReceipt, ...]:
    proven: list[ProvenReceipt] = []
    anchors: dict[bytes, Any] = {}
    for part in proof.receipts:
        # 6. a canonical access receipt under this grant, attestation, attester and domain
        receipt = AccessReceipt.from_bytes(canonical.dumps(part.receipt))
        who = receipt.receipt_id
        named = (
            receipt.grant_id,
            receipt.attestation_id,
            receipt.attester,
            receipt.chain_id,
            receipt.consent_registry,
        )
        expected = (
            record.grant_id,
            attestation.attestation_id,
            attestation.attester,
            domain.chain_id,
            domain.registry,
        )
        if named != expected:
            raise c.ProofInvalid(
                f"receipt {who} names another grant, attestation, attester, chain or registry"
            )
        if proven and (receipt.used_at, who) <= (
            proven[-1].receipt.used_at,
            proven[-1].receipt.receipt_id,
        ):
            raise c.ProofInvalid("receipts are not listed once each, by use time then ID")
        proven.append(_check_anchored(part, receipt, domain, anchors))
    pending = list(proof.pending)
    if pending != sorted(set(pending)):
        raise c.ProofInvalid("pending receipt IDs are not listed once each, in order")
    if set(pending) & {p.receipt.receipt_id for p in proven}:
        raise c.ProofInvalid("a receipt is listed both proven and pending")
    return tuple(proven)


def _check_anchored(
    part: Any, receipt: AccessReceipt, domain: ConsentDomain, anchors: dict[bytes, Any]
) -> ProvenReceipt:
    inclusion, anchor, who = part.inclusion, part.anchor, receipt.receipt_id
    # 7. the receipt's leaf, and the path from it to the batch root
    leaf = canonical.unlabel("sm3", inclusion.leaf)
    if leaf != receipt.leaf_hash:
        raise c.ProofInvalid(f"receipt {who}: the leaf hash is not the receipt's")
    try:
        root = _v1.check_path(inclusion, leaf)
    except c.ProofInvalid as exc:
        raise c.ProofInvalid(f"receipt {who}: {exc}") from exc
    # 8. the batch on the grant's chain, its ID, one anchor per batch
    contract = c.checksummed(anchor.contract)
    if anchor.chain_id != domain.chain_id:
        raise c.ProofInvalid(f"receipt {who} is anchored on another chain than the grant's")
    batch_id = batch_id_of(
        chain_id=anchor.chain_id, contract=contract, root=root, size=inclusion.tree_size
    )
    if canonical.unlabel("keccak256", anchor.batch_id) != batch_id:
        raise c.ProofInvalid(f"receipt {who}: the batch ID is not that of its root and size")
    if anchors.setdefault(batch_id, anchor) != anchor:
        raise c.ProofInvalid(f"receipt {who}: receipts of one batch state different anchors")
    # 9. the anchoring transaction
    tx = c.check_transaction(
        anchor.transaction,
        writer=c.checksummed(anchor.writer),
        contract=contract,
        chain_id=anchor.chain_id,
        call_data=batch_calldata(root=root, size=inclusion.tree_size),
        call_mismatch=f"receipt {who}: the transaction does not anchor its root and tree size",
    )
    return ProvenReceipt(
        receipt=receipt,
        leaf_index=inclusion.leaf_index,
        tree_size=inclusion.tree_size,
        root=root,
        chain_id=anchor.chain_id,
        contract=contract,
        batch_id=batch_id,
        writer=anchor.writer,
        tx_hash=tx.tx_hash,
        block_number=anchor.block.number,
        block_hash=canonical.unlabel("keccak256", anchor.block.hash),
    )


def _check_keys(
    proof: ProofFile,
    domain: ConsentDomain,
    issuer: bytes,
    sealed_at: datetime,
    receipts: Sequence[ProvenReceipt],
) -> KeyClaims:
    # 11. the sealing key's registry entry: on the grant's chain, the seal's key, for proof
    #     sealing, valid when it sealed, of the member that anchored every batch
    assert proof.keys is not None
    registry = c.checksummed(proof.keys.registry.contract)
    if proof.keys.registry.chain_id != domain.chain_id:
        raise c.ProofInvalid("the key registry is on another chain than the grant")
    seal = _keys.claim("seal", proof.keys.seal, registry, domain.chain_id, issuer, sealed_at)
    if any(r.writer != seal.member for r in receipts):
        raise c.ProofInvalid(
            f"the seal key is registered to {seal.member}, a batch was anchored by another"
        )
    return KeyClaims(
        chain_id=domain.chain_id, registry=registry, sealed_at=sealed_at, entries=(seal,)
    )
