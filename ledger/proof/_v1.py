"""``ledger-proof/1``: one agreement version, a leaf of a Merkle batch anchored by one
``anchorBatch(root, size)`` transaction.

Parties sign :class:`~ledger.agreement.SigningPayload` (version 1: agreement ID and version,
document digest, role, time, chain, contract). The service commits to the accepted version with a
:class:`~ledger.agreement.LeafEntry` (which also binds the CID of the ciphertext, media type,
size, required roles, the signature-set digest in role order and the acceptance time); the
entry's leaf hash is included in the batch's SM3 Merkle tree, whose root and size the contract
stores under ``batchIdOf(root, size)``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr

from ledger import canonical
from ledger._ids import AGREEMENT_ID_PATTERN, ROLE_PATTERN
from ledger.agreement import REQUIRED_ROLES, LeafEntry, SigningDomain, SigningPayload
from ledger.chain.client import ChainClient
from ledger.chain.errors import TransactionFailed
from ledger.chain.evidence import EvidenceLedgerContract, batch_calldata, batch_id_of
from ledger.chain.transaction import decode_signed_transaction
from ledger.merkle import InclusionProofInvalid, verify_inclusion
from ledger.proof import _common as c
from ledger.signature import Signature, in_role_order, signature_set_digest
from ledger.store import CarError, InvalidCid, car_of, cid_of, verify_car

FORMAT = "ledger-proof/1"
SEAL_DOMAIN = b"ledger/proof-seal/1\x00"

#: The contract stores a batch's size as uint32, so a path has at most 32 hashes.
MAX_TREE_SIZE = 2**32 - 1


# --- the file's schema

_Role = Annotated[StrictStr, Field(pattern=ROLE_PATTERN)]


class _StoredPart(c.Model):
    cid: c.CidText
    encryption: Literal["sm4-gcm"]
    car: c.Base64 | None = None


class _AgreementPart(c.Model):
    # The limits below belong to the ledger-proof/1 format, not to today's agreement rules
    # (ledger.agreement): a proof written once must verify forever, so a later change of the
    # domain (a new version kind, more signers) is a new format version, never a silent change of
    # what this one accepts. Today they coincide with VERSION_KINDS, MAX_VERSION and MAX_SIGNERS;
    # tests/unit/proof/test_v1_limits.py holds each bound.
    id: Annotated[StrictStr, Field(pattern=AGREEMENT_ID_PATTERN)]
    version: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
    kind: Literal["agreement", "void"]
    required_roles: Annotated[list[_Role], Field(min_length=1, max_length=16)]
    accepted_at: StrictStr
    document: c.DocumentPart
    stored: _StoredPart


class _InclusionPart(c.Model):
    leaf: c.Sm3
    leaf_index: Annotated[StrictInt, Field(ge=0, le=MAX_TREE_SIZE - 1)]
    tree_size: Annotated[StrictInt, Field(ge=1, le=MAX_TREE_SIZE)]
    path: Annotated[list[c.Sm3], Field(max_length=32)]
    root: c.Sm3


class _AnchorPart(c.Model):
    chain_id: c.ChainId
    contract: c.Address
    batch_id: c.Keccak
    writer: c.Address
    transaction: c.TransactionPart
    block: c.BlockPart


class _ProofFile(c.Model):
    format: Literal["ledger-proof/1"]
    agreement: _AgreementPart
    signatures: c.Signatures
    inclusion: _InclusionPart
    anchor: _AnchorPart
    seal: c.SealPart


# --- what the issuer knows when it writes a proof


@dataclass(frozen=True)
class BatchInclusion:
    """Where the version's leaf sits in its batch: RFC 9162 inclusion proof (``path`` bottom-up,
    as :meth:`ledger.merkle.MerkleTree.inclusion_proof` returns it) and the batch root."""

    leaf_index: int
    tree_size: int
    path: Sequence[bytes]
    root: bytes

    @classmethod
    def of(cls, stored: Any) -> BatchInclusion:
        """From a stored inclusion record (an anchored version's or access receipt's)."""
        return cls(stored.leaf_index, stored.tree_size, tuple(stored.path), stored.root)


@dataclass(frozen=True)
class BatchAnchor:
    """The batch's ``anchorBatch(root, size)`` transaction (signed bytes) and its block.

    Chain and contract are the leaf entry's domain; the writer is the transaction's sender.
    """

    raw_transaction: bytes
    tx_hash: bytes
    block_number: int
    block_hash: bytes

    @classmethod
    def of(cls, stored: Any) -> BatchAnchor:
        """From a stored inclusion record (its batch's transaction and block)."""
        return cls(stored.raw_tx, stored.tx_hash, stored.block_number, stored.block_hash)


def build_body(
    format_name: str,
    *,
    entry: LeafEntry,
    signatures: Sequence[Signature],
    inclusion: BatchInclusion,
    anchor: BatchAnchor,
    content: bytes | None,
    car: bytes | None,
) -> dict[str, Any]:
    """The unsealed body of a batch proof (v1; v2 before its ``keys``). ``signatures`` may come
    in any order (they are written in role order); ``content`` is the document (None for a
    redacted proof), ``car`` the CARv1 of the stored ciphertext
    (:func:`ledger.store.car.car_bytes`)."""
    with c.reasons():
        writer = decode_signed_transaction(anchor.raw_transaction).sender
    return {
        "format": format_name,
        "agreement": {
            "id": entry.agreement_id,
            "version": entry.agreement_version,
            "kind": entry.kind,
            "required_roles": list(entry.required_roles),
            "accepted_at": canonical.timestamp(entry.accepted_at),
            "document": c.document_json(
                sm3_digest=entry.document_sm3,
                media_type=entry.media_type,
                size=entry.size,
                content=content,
            ),
            "stored": _stored_json(entry.document_cid, car),
        },
        "signatures": [s.to_json() for s in in_role_order(signatures)],
        "inclusion": {
            "leaf": canonical.label("sm3", entry.leaf_hash),
            "leaf_index": inclusion.leaf_index,
            "tree_size": inclusion.tree_size,
            "path": [canonical.label("sm3", node) for node in inclusion.path],
            "root": canonical.label("sm3", inclusion.root),
        },
        "anchor": {
            "chain_id": entry.domain.chain_id,
            "contract": entry.domain.contract,
            "batch_id": canonical.label(
                "keccak256",
                batch_id_of(
                    chain_id=entry.domain.chain_id,
                    contract=entry.domain.contract,
                    root=inclusion.root,
                    size=inclusion.tree_size,
                ),
            ),
            "writer": writer,
            **c.chain_evidence_json(
                tx_hash=anchor.tx_hash,
                raw_transaction=anchor.raw_transaction,
                block_number=anchor.block_number,
                block_hash=anchor.block_hash,
            ),
        },
    }


def _stored_json(cid: str, car: bytes | None) -> dict[str, Any]:
    stored: dict[str, Any] = {"cid": cid, "encryption": "sm4-gcm"}
    if car is not None:
        stored["car"] = canonical.b64(car)
    return stored


# --- verification


def verify(raw: dict[str, Any], *, trusted_issuers: Collection[bytes] | None) -> c.VerifiedProof:
    """Check a parsed ``ledger-proof/1`` file offline (numbered checks below)."""
    # 1. the value (canonical JSON, checked by the caller) is exactly the v1 schema; optional
    #    parts are absent, never null (one spelling per content)
    no_nulls(raw)
    proof = c.parse(_ProofFile, raw)
    return check_body(
        raw, proof, format_name=FORMAT, seal_domain=SEAL_DOMAIN, trusted_issuers=trusted_issuers
    )


def check_body(
    raw: dict[str, Any],
    proof: Any,
    *,
    format_name: str,
    seal_domain: bytes,
    trusted_issuers: Collection[bytes] | None,
) -> c.VerifiedProof:
    """Checks 2 to 9 of a batch proof (v1, and v2 before its keys): ``proof`` is the parsed
    file (its ``agreement``, ``signatures``, ``inclusion``, ``anchor`` and ``seal`` parts)."""
    agreement, inclusion, anchor = proof.agreement, proof.inclusion, proof.anchor
    domain = SigningDomain(chain_id=anchor.chain_id, contract=c.checksummed(anchor.contract))
    accepted_at = canonical.parse_timestamp(agreement.accepted_at)

    # 2. the document, when included, is the one whose digest and size were signed and anchored
    document_sm3 = c.check_document(agreement.document)

    # 3. the CAR of the encrypted document, when included, carries a file with exactly the CID
    #    the leaf commits to, and is that file's one canonical CAR (every byte accounted for)
    if agreement.stored.car is not None:
        _check_car(canonical.unb64(agreement.stored.car), agreement.stored.cid)

    # 4. exactly the required roles signed, once each, listed in role order; the required roles
    #    include those of every agreement; each signature is SM2 over the v1 signing payload
    required = list(agreement.required_roles)
    if len(set(required)) != len(required):
        raise c.ProofInvalid(f"required roles are listed twice: {required}")
    missing = [r for r in REQUIRED_ROLES if r not in required]
    if missing:
        raise c.ProofInvalid(f"required roles lack {missing}")
    signatures = [c.signature_from(part) for part in proof.signatures]
    roles = [s.role for s in signatures]
    c.check_roles(roles)
    if set(roles) != set(required):
        raise c.ProofInvalid(f"signed roles {sorted(roles)} are not the required {required}")
    if roles != [s.role for s in in_role_order(signatures)]:
        raise c.ProofInvalid(f"signatures are not in role order: {roles}")
    for signature in signatures:
        payload = SigningPayload(
            agreement_id=agreement.id,
            agreement_version=agreement.version,
            document_sm3=document_sm3,
            role=signature.role,
            signed_at=signature.signed_at,
            domain=domain,
        )
        c.verify_signature(signature, payload)

    # 5. the leaf is the hash of the entry the service committed to for this version
    sigset = signature_set_digest(signatures)
    entry = LeafEntry(
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        kind=agreement.kind,
        document_sm3=document_sm3,
        document_cid=agreement.stored.cid,
        media_type=agreement.document.media_type,
        size=agreement.document.size,
        required_roles=tuple(required),
        signature_set_digest=sigset,
        accepted_at=accepted_at,
        domain=domain,
    )
    leaf = entry.leaf_hash
    if canonical.unlabel("sm3", inclusion.leaf) != leaf:
        raise c.ProofInvalid("leaf hash does not match the agreement version and its signatures")

    # 6. the inclusion proof leads from the leaf to the batch root
    root = check_path(inclusion, leaf)

    # 7. the batch ID is the contract's ID of this root and size on this chain and contract
    batch_id = batch_id_of(
        chain_id=anchor.chain_id, contract=domain.contract, root=root, size=inclusion.tree_size
    )
    if canonical.unlabel("keccak256", anchor.batch_id) != batch_id:
        raise c.ProofInvalid("batch ID does not match the chain, contract, root and tree size")

    # 8. the anchoring transaction: its hash, sender, target, chain and call data
    tx = c.check_transaction(
        anchor.transaction,
        writer=anchor.writer,
        contract=domain.contract,
        chain_id=anchor.chain_id,
        call_data=batch_calldata(root=root, size=inclusion.tree_size),
        call_mismatch="transaction call data does not anchor this root and tree size",
    )

    # 9. the issuer's seal covers the whole body
    issuer = c.check_seal(raw, proof.seal, domain=seal_domain, trusted_issuers=trusted_issuers)

    return c.VerifiedProof(
        format=format_name,
        agreement_id=agreement.id,
        agreement_version=agreement.version,
        kind=agreement.kind,
        accepted_at=accepted_at,
        document_sm3=document_sm3,
        cid=agreement.stored.cid,
        roles=tuple(roles),
        chain_id=anchor.chain_id,
        contract=domain.contract,
        anchor_id=batch_id,
        signer_fingerprints=tuple(s.key_fingerprint for s in signatures),
        signature_set_digest=sigset,
        writer=anchor.writer,
        tx_hash=tx.tx_hash,
        block_number=anchor.block.number,
        block_hash=canonical.unlabel("keccak256", anchor.block.hash),
        issuer_fingerprint=issuer,
        batch_id=batch_id,
        leaf_index=inclusion.leaf_index,
        tree_size=inclusion.tree_size,
        root=root,
        leaf_hash=leaf,
    )


def check_path(inclusion: _InclusionPart, leaf: bytes) -> bytes:
    """The batch root, once the RFC 9162 path of ``inclusion`` leads to it from ``leaf``."""
    root = canonical.unlabel("sm3", inclusion.root)
    try:
        verify_inclusion(
            leaf_hash_value=leaf,
            index=inclusion.leaf_index,
            tree_size=inclusion.tree_size,
            path=[canonical.unlabel("sm3", node) for node in inclusion.path],
            root=root,
        )
    except InclusionProofInvalid as exc:
        raise c.ProofInvalid(str(exc)) from exc
    return root


def no_nulls(value: Any, where: str = "") -> None:
    if value is None:
        raise c.ProofInvalid(f"malformed proof at {where or 'top level'}: null is not allowed")
    if isinstance(value, dict):
        for key, item in value.items():
            no_nulls(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            no_nulls(item, f"{where}.{index}")


def _check_car(car: bytes, cid: str) -> None:
    try:
        ciphertext = verify_car(car, cid)
    except (CarError, InvalidCid) as exc:
        raise c.ProofInvalid(f"stored CAR does not verify: {exc}") from exc
    if cid_of(ciphertext) != cid:
        raise c.ProofInvalid("stored CAR's ciphertext does not have the stated CID")
    if car != car_of(ciphertext):
        raise c.ProofInvalid("stored CAR is not the canonical CAR of its ciphertext")


def confirm(proof: c.VerifiedProof, client: ChainClient) -> None:
    """Check a verified v1 proof against a chain node (numbered checks continue from 9)."""
    assert proof.batch_id is not None  # a v1 proof always names its batch
    # 10. the node serves the proof's chain, and the contract is there
    c.confirm_node(proof, client)
    # 11. the contract holds this batch: root, size, writer and block as the proof states
    ledger = EvidenceLedgerContract(client=client, address=proof.contract)
    try:
        stored = ledger.get_batch(proof.batch_id)
    except TransactionFailed as exc:
        raise c.ProofInvalid(f"batch not found on chain: {exc}") from exc
    expected = (proof.root, proof.tree_size, proof.writer, proof.block_number)
    found = (stored.root, stored.size, stored.writer, stored.block_number)
    if found != expected:
        raise c.ProofInvalid("the batch on chain differs from the proof")
    # 12. the anchoring transaction succeeded in the stated block, 13. which is canonical
    c.confirm_transaction(proof, client)
