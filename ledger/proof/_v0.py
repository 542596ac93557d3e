"""``ledger-proof/0``: one agreement anchored as one EvidenceLedger record (``anchorAgreement``).

Parties sign :class:`~ledger.agreement.SigningPayloadV0` (which covers the CID of the stored
ciphertext); the anchor stores the document digest, CID, signer key fingerprints and the digest
of the signature set (signatures in the order listed). Files of this format keep verifying.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StrictStr

from ledger import canonical
from ledger._ids import AGREEMENT_ID_PATTERN
from ledger.agreement import Document, SigningDomain, SigningPayloadV0
from ledger.chain.client import ChainClient
from ledger.chain.errors import TransactionFailed
from ledger.chain.evidence import EvidenceLedgerContract, anchor_calldata, anchor_id_of
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey
from ledger.proof import _common as c
from ledger.signature import Signature, signature_set_digest
from ledger.store.cid import cid_of

FORMAT = "ledger-proof/0"
SEAL_DOMAIN = b"ledger/proof-seal/0\x00"


class _StoredPart(c.Model):
    cid: c.CidText
    encryption: Literal["sm4-gcm"]
    ciphertext: c.Base64 | None = None


class _AgreementPart(c.Model):
    id: Annotated[StrictStr, Field(pattern=AGREEMENT_ID_PATTERN)]
    document: c.DocumentPart
    stored: _StoredPart


class _AnchorPart(c.Model):
    chain_id: c.ChainId
    contract: c.Address
    anchor_id: c.Keccak
    signature_set_digest: c.Sm3
    writer: c.Address
    transaction: c.TransactionPart
    block: c.BlockPart


class _ProofFile(c.Model):
    format: Literal["ledger-proof/0"]
    agreement: _AgreementPart
    signatures: c.Signatures
    anchor: _AnchorPart
    seal: c.SealPart


@dataclass(frozen=True)
class AnchorEvidence:
    """Where and how an agreement was anchored (``ledger-proof/0``)."""

    chain_id: int
    contract: str
    anchor_id: bytes
    writer: str
    tx_hash: bytes
    raw_transaction: bytes
    block_number: int
    block_hash: bytes


def build(
    *,
    agreement_id: str,
    document: Document,
    cid: str,
    ciphertext: bytes | None,
    signatures: Sequence[Signature],
    anchor: AnchorEvidence,
    issuer_key: SM2PrivateKey,
    include_content: bool = True,
    distid: bytes = DEFAULT_DISTID,
) -> bytes:
    """Write the proof file's bytes (and check them: a proof that would not verify is an error)."""
    stored: dict[str, Any] = {"cid": cid, "encryption": "sm4-gcm"}
    if ciphertext is not None:
        stored["ciphertext"] = canonical.b64(ciphertext)
    body: dict[str, Any] = {
        "format": FORMAT,
        "agreement": {
            "id": agreement_id,
            "document": c.document_json(
                sm3_digest=document.sm3,
                media_type=document.media_type,
                size=len(document.content),
                content=document.content if include_content else None,
            ),
            "stored": stored,
        },
        "signatures": [s.to_json() for s in signatures],
        "anchor": {
            "chain_id": anchor.chain_id,
            "contract": anchor.contract,
            "anchor_id": canonical.label("keccak256", anchor.anchor_id),
            "signature_set_digest": canonical.label("sm3", signature_set_digest(signatures)),
            "writer": anchor.writer,
            **c.chain_evidence_json(
                tx_hash=anchor.tx_hash,
                raw_transaction=anchor.raw_transaction,
                block_number=anchor.block_number,
                block_hash=anchor.block_hash,
            ),
        },
    }
    return c.seal_and_check(
        body, domain=SEAL_DOMAIN, issuer_key=issuer_key, distid=distid, verify=verify
    )


def verify(raw: dict[str, Any], *, trusted_issuers: Collection[bytes] | None) -> c.VerifiedProof:
    """Check a parsed ``ledger-proof/0`` file offline (numbered checks below)."""
    # 1. the value (canonical JSON, checked by the caller) is exactly the v0 schema
    proof = c.parse(_ProofFile, raw)
    agreement, anchor = proof.agreement, proof.anchor

    # 2. the document, when included, is the one whose digest was signed
    document_sm3 = c.check_document(agreement.document)

    # 3. the encrypted document, when included, has the content ID that was signed and anchored
    if agreement.stored.ciphertext is not None:
        ciphertext = canonical.unb64(agreement.stored.ciphertext)
        if cid_of(ciphertext) != agreement.stored.cid:
            raise c.ProofInvalid("stored ciphertext does not have the stated CID")

    # 4. every signature is a valid SM2 signature of its role over the domain-bound payload
    domain = SigningDomain(chain_id=anchor.chain_id, contract=c.checksummed(anchor.contract))
    signatures = []
    for part in proof.signatures:
        signature = c.signature_from(part)
        payload = SigningPayloadV0(
            agreement_id=agreement.id,
            document_sm3=document_sm3,
            document_cid=agreement.stored.cid,
            role=signature.role,
            signed_at=signature.signed_at,
            domain=domain,
        )
        c.verify_signature(signature, payload)
        signatures.append(signature)
    roles = [s.role for s in signatures]
    c.check_roles(roles)

    # 5. the anchor commits to exactly this document, content ID and signature set
    sigset = signature_set_digest(signatures)
    if canonical.unlabel("sm3", anchor.signature_set_digest) != sigset:
        raise c.ProofInvalid("signature set digest does not match the signatures")
    fingerprints = [s.key_fingerprint for s in signatures]
    anchor_id = anchor_id_of(
        chain_id=anchor.chain_id,
        contract=domain.contract,
        document_digest=document_sm3,
        cid=agreement.stored.cid,
        signer_fingerprints=fingerprints,
        signature_set_digest=sigset,
    )
    if canonical.unlabel("keccak256", anchor.anchor_id) != anchor_id:
        raise c.ProofInvalid("anchor ID does not match the anchored contents")

    # 6. the anchoring transaction: its hash, sender, target, chain and call data
    tx = c.check_transaction(
        anchor.transaction,
        writer=anchor.writer,
        contract=domain.contract,
        chain_id=anchor.chain_id,
        call_data=anchor_calldata(
            document_digest=document_sm3,
            cid=agreement.stored.cid,
            signer_fingerprints=fingerprints,
            signature_set_digest=sigset,
        ),
        call_mismatch="transaction call data does not anchor these contents",
    )

    # 7. the issuer's seal covers the whole body
    issuer = c.check_seal(raw, proof.seal, domain=SEAL_DOMAIN, trusted_issuers=trusted_issuers)

    return c.VerifiedProof(
        format=FORMAT,
        agreement_id=agreement.id,
        agreement_version=None,
        kind="agreement",
        accepted_at=None,
        document_sm3=document_sm3,
        cid=agreement.stored.cid,
        roles=tuple(roles),
        chain_id=anchor.chain_id,
        contract=domain.contract,
        anchor_id=anchor_id,
        signer_fingerprints=tuple(fingerprints),
        signature_set_digest=sigset,
        writer=anchor.writer,
        tx_hash=tx.tx_hash,
        block_number=anchor.block.number,
        block_hash=canonical.unlabel("keccak256", anchor.block.hash),
        issuer_fingerprint=issuer,
        batch_id=None,
        leaf_index=None,
        tree_size=None,
        root=None,
        leaf_hash=None,
    )


def confirm(proof: c.VerifiedProof, client: ChainClient) -> None:
    """Check a verified v0 proof against a chain node (numbered checks continue from 7)."""
    # 8. the node serves the proof's chain, and the contract is there
    c.confirm_node(proof, client)
    # 9. the contract holds this anchor with these contents
    ledger = EvidenceLedgerContract(client=client, address=proof.contract)
    try:
        stored = ledger.get_anchor(proof.anchor_id)
    except TransactionFailed as exc:
        raise c.ProofInvalid(f"anchor not found on chain: {exc}") from exc
    expected = (
        proof.document_sm3,
        proof.cid,
        proof.signer_fingerprints,
        proof.signature_set_digest,
        proof.writer,
        proof.block_number,
    )
    found = (
        stored.document_digest,
        stored.cid,
        stored.signer_fingerprints,
        stored.signature_set_digest,
        stored.writer,
        stored.block_number,
    )
    if found != expected:
        raise c.ProofInvalid("the anchor on chain differs from the proof")
    # 10. the anchoring transaction succeeded in the stated block, 11. which is canonical
    c.confirm_transaction(proof, client)
