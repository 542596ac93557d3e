"""The signed-proof file: one canonical JSON file per agreement that verifies offline.

Format ``ledger-proof/0`` (v0: one agreement anchored as one EvidenceLedger record). The file is
RFC 8785 canonical JSON; any other spelling of the same content is refused, and every field is
covered by at least one check below, so changing any single byte makes the file invalid::

    {
      "format": "ledger-proof/0",
      "agreement": {
        "id": "agr_<32 hex>",
        "document": {"digest": "sm3:<hex>", "media_type": "...", "size": N,
                     "content": "<base64>"},            # content is optional (redacted proofs)
        "stored": {"cid": "<CIDv1 base32>", "encryption": "sm4-gcm",
                   "ciphertext": "<base64>"}            # ciphertext is optional
      },
      "signatures": [{"algorithm": "sm2-sm3", "role": ..., "signed_at": ..., "public_key": "0x04..",
                      "key_fingerprint": "sm3:..", "distid": "...", "signature": "<base64 DER>"}],
      "anchor": {"chain_id": N, "contract": "0x..", "anchor_id": "keccak256:..",
                 "signature_set_digest": "sm3:..", "writer": "0x..",
                 "transaction": {"hash": "keccak256:..", "raw": "0x.."},
                 "block": {"number": N, "hash": "keccak256:.."}},
      "seal": {"algorithm": "sm2-sm3", "public_key": "0x04..", "key_fingerprint": "sm3:..",
               "distid": "...", "signature": "<base64 DER>"}
    }

The seal is the issuing service's SM2 signature over the canonical body (everything but the seal),
like a transparency log's signed entry timestamp: it binds the fields that no offline check can
(block number and hash). Verifiers may pin the issuer's key fingerprint.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from eth_utils import is_checksum_address
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ledger import _canonical
from ledger._ids import AGREEMENT_ID_PATTERN
from ledger.agreement import REQUIRED_ROLES, Document, SigningDomain, SigningPayloadV0
from ledger.chain.client import ChainClient
from ledger.chain.errors import TransactionFailed
from ledger.chain.evidence import EvidenceLedgerContract, anchor_calldata, anchor_id_of
from ledger.chain.transaction import TransactionDecodeError, decode_signed_transaction
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.crypto.sm3 import sm3
from ledger.errors import LedgerError
from ledger.signature import ALGORITHM, Signature, signature_set_digest
from ledger.store.cid import cid_of

FORMAT = "ledger-proof/0"
_SEAL_DOMAIN = b"ledger/proof-seal/0\x00"


class ProofInvalid(LedgerError):
    """The proof does not verify; the message says which check failed."""


# --- the file's schema: strict, closed, one text form per value

_Sm3 = Annotated[StrictStr, Field(pattern=r"^sm3:[0-9a-f]{64}$")]
_Keccak = Annotated[StrictStr, Field(pattern=r"^keccak256:[0-9a-f]{64}$")]
_Address = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
_Hex = Annotated[StrictStr, Field(pattern=r"^0x(?:[0-9a-f]{2})+$")]
_PublicKey = Annotated[StrictStr, Field(pattern=r"^0x04[0-9a-f]{128}$")]
_Base64 = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$")]
_Count = Annotated[StrictInt, Field(ge=0, le=2**53 - 1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _DocumentPart(_Model):
    digest: _Sm3
    media_type: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    size: _Count
    content: _Base64 | None = None


class _StoredPart(_Model):
    cid: Annotated[StrictStr, Field(pattern=r"^b[a-z2-7]{1,127}$")]
    encryption: Literal["sm4-gcm"]
    ciphertext: _Base64 | None = None


class _AgreementPart(_Model):
    id: Annotated[StrictStr, Field(pattern=AGREEMENT_ID_PATTERN)]
    document: _DocumentPart
    stored: _StoredPart


class _SignaturePart(_Model):
    algorithm: Literal["sm2-sm3"]
    role: StrictStr
    signed_at: StrictStr
    public_key: _PublicKey
    key_fingerprint: _Sm3
    distid: Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")]
    signature: _Base64


class _TransactionPart(_Model):
    hash: _Keccak
    raw: _Hex


class _BlockPart(_Model):
    number: _Count
    hash: _Keccak


class _AnchorPart(_Model):
    chain_id: Annotated[StrictInt, Field(ge=1, le=2**53 - 1)]
    contract: _Address
    anchor_id: _Keccak
    signature_set_digest: _Sm3
    writer: _Address
    transaction: _TransactionPart
    block: _BlockPart


class _SealPart(_Model):
    algorithm: Literal["sm2-sm3"]
    public_key: _PublicKey
    key_fingerprint: _Sm3
    distid: Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")]
    signature: _Base64


class _ProofFile(_Model):
    format: Literal["ledger-proof/0"]
    agreement: _AgreementPart
    signatures: Annotated[list[_SignaturePart], Field(min_length=1, max_length=16)]
    anchor: _AnchorPart
    seal: _SealPart


# --- what the issuer knows when it writes a proof


@dataclass(frozen=True)
class AnchorEvidence:
    """Where and how an agreement was anchored."""

    chain_id: int
    contract: str
    anchor_id: bytes
    writer: str
    tx_hash: bytes
    raw_transaction: bytes
    block_number: int
    block_hash: bytes


@dataclass(frozen=True)
class VerifiedProof:
    """What a proof states, for display after it verified."""

    agreement_id: str
    document_sm3: bytes
    cid: str
    roles: tuple[str, ...]
    chain_id: int
    contract: str
    anchor_id: bytes
    signer_fingerprints: tuple[bytes, ...]
    signature_set_digest: bytes
    writer: str
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    issuer_fingerprint: bytes


def build_proof(
    *,
    agreement_id: str,
    document: Document,
    cid: str,
    ciphertext: bytes | None,
    signatures: Sequence[Signature],
    anchor: AnchorEvidence,
    issuer_key: SM2PrivateKey,
    include_content: bool = True,
    distid: bytes = b"1234567812345678",
) -> bytes:
    """Write the proof file's bytes (and check them: a proof that would not verify is an error)."""
    document_part: dict[str, Any] = {
        "digest": _canonical.label("sm3", document.sm3),
        "media_type": document.media_type,
        "size": len(document.content),
    }
    if include_content:
        document_part["content"] = _canonical.b64(document.content)
    stored: dict[str, Any] = {"cid": cid, "encryption": "sm4-gcm"}
    if ciphertext is not None:
        stored["ciphertext"] = _canonical.b64(ciphertext)
    body = {
        "format": FORMAT,
        "agreement": {"id": agreement_id, "document": document_part, "stored": stored},
        "signatures": [s.to_json() for s in signatures],
        "anchor": {
            "chain_id": anchor.chain_id,
            "contract": anchor.contract,
            "anchor_id": _canonical.label("keccak256", anchor.anchor_id),
            "signature_set_digest": _canonical.label("sm3", signature_set_digest(signatures)),
            "writer": anchor.writer,
            "transaction": {
                "hash": _canonical.label("keccak256", anchor.tx_hash),
                "raw": _canonical.hex0x(anchor.raw_transaction),
            },
            "block": {
                "number": anchor.block_number,
                "hash": _canonical.label("keccak256", anchor.block_hash),
            },
        },
    }
    issuer = issuer_key.public_key()
    body["seal"] = {
        "algorithm": ALGORITHM,
        "public_key": _canonical.hex0x(issuer.to_raw()),
        "key_fingerprint": _canonical.label("sm3", issuer.fingerprint()),
        "distid": distid.decode("ascii"),
        "signature": _canonical.b64(
            issuer_key.sign(_SEAL_DOMAIN + _canonical.dumps(_without_seal(body)), distid=distid)
        ),
    }
    data = _canonical.dumps(body)
    verify_proof(data)
    return data


def _without_seal(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "seal"}


# --- verification


def verify_proof(data: bytes, *, trusted_issuers: Collection[bytes] | None = None) -> VerifiedProof:
    """Check everything in the proof that needs no network. Raise ProofInvalid on any failure.

    ``trusted_issuers``: SM3 fingerprints of issuer keys to accept; None accepts any issuer whose
    seal verifies (the proof is then self-consistent, and ``--rpc`` confirms it on chain).
    """
    try:
        return _verify(data, trusted_issuers)
    except ProofInvalid:
        raise
    except (LedgerError, ValueError) as exc:  # decoding errors from the layers below
        raise ProofInvalid(str(exc)) from exc


def _verify(data: bytes, trusted_issuers: Collection[bytes] | None) -> VerifiedProof:
    # 1. the bytes are canonical JSON of exactly the v0 schema
    try:
        raw = _canonical.loads_canonical(data)
    except _canonical.EncodingError as exc:
        raise ProofInvalid(f"not a proof file: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else None
        raise ProofInvalid(f"unsupported proof format {found!r} (this verifier reads {FORMAT})")
    try:
        proof = _ProofFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProofInvalid(f"malformed proof at {where}: {first['msg']}") from exc

    agreement, anchor = proof.agreement, proof.anchor
    document_sm3 = _canonical.unlabel("sm3", agreement.document.digest)

    # 2. the document, when included, is the one whose digest was signed
    if agreement.document.content is not None:
        content = _canonical.unb64(agreement.document.content)
        if len(content) != agreement.document.size:
            raise ProofInvalid("document size does not match its content")
        if sm3(content) != document_sm3:
            raise ProofInvalid("document content does not match its SM3 digest")

    # 3. the encrypted document, when included, has the content ID that was signed and anchored
    if agreement.stored.ciphertext is not None:
        ciphertext = _canonical.unb64(agreement.stored.ciphertext)
        if cid_of(ciphertext) != agreement.stored.cid:
            raise ProofInvalid("stored ciphertext does not have the stated CID")

    # 4. every signature is a valid SM2 signature of its role over the domain-bound payload
    domain = SigningDomain(chain_id=anchor.chain_id, contract=_checksummed(anchor.contract))
    signatures = []
    for part in proof.signatures:
        signature = _signature_from(part)
        payload = SigningPayloadV0(
            agreement_id=agreement.id,
            document_sm3=document_sm3,
            document_cid=agreement.stored.cid,
            role=signature.role,
            signed_at=signature.signed_at,
            domain=domain,
        )
        try:
            signature.verify(payload)
        except CryptoError as exc:
            raise ProofInvalid(f"signature of {signature.role!r} does not verify: {exc}") from exc
        signatures.append(signature)
    roles = [s.role for s in signatures]
    if len(set(roles)) != len(roles):
        raise ProofInvalid(f"a role signed twice: {roles}")
    missing = [r for r in REQUIRED_ROLES if r not in roles]
    if missing:
        raise ProofInvalid(f"required signatures missing: {missing}")

    # 5. the anchor commits to exactly this document, content ID and signature set
    sigset = signature_set_digest(signatures)
    if _canonical.unlabel("sm3", anchor.signature_set_digest) != sigset:
        raise ProofInvalid("signature set digest does not match the signatures")
    fingerprints = [s.key_fingerprint for s in signatures]
    anchor_id = anchor_id_of(
        chain_id=anchor.chain_id,
        contract=domain.contract,
        document_digest=document_sm3,
        cid=agreement.stored.cid,
        signer_fingerprints=fingerprints,
        signature_set_digest=sigset,
    )
    if _canonical.unlabel("keccak256", anchor.anchor_id) != anchor_id:
        raise ProofInvalid("anchor ID does not match the anchored contents")

    # 6. the anchoring transaction: its hash, sender, target, chain and call data
    raw_tx = _canonical.unhex0x(anchor.transaction.raw)
    try:
        tx = decode_signed_transaction(raw_tx)
    except TransactionDecodeError as exc:
        raise ProofInvalid(f"anchoring transaction: {exc}") from exc
    if tx.tx_hash != _canonical.unlabel("keccak256", anchor.transaction.hash):
        raise ProofInvalid("transaction hash does not match the raw transaction")
    if tx.sender != anchor.writer:
        raise ProofInvalid(f"transaction was sent by {tx.sender}, not the writer {anchor.writer}")
    if tx.to != domain.contract or tx.chain_id != anchor.chain_id:
        raise ProofInvalid("transaction targets another contract or chain")
    expected_call = anchor_calldata(
        document_digest=document_sm3,
        cid=agreement.stored.cid,
        signer_fingerprints=fingerprints,
        signature_set_digest=sigset,
    )
    if tx.data != expected_call:
        raise ProofInvalid("transaction call data does not anchor these contents")

    # 7. the issuer's seal covers the whole body
    issuer = _public_key(proof.seal.public_key, proof.seal.key_fingerprint, "issuer")
    if trusted_issuers is not None and issuer.fingerprint() not in trusted_issuers:
        raise ProofInvalid(f"issuer key sm3:{issuer.fingerprint().hex()} is not trusted")
    sealed = _SEAL_DOMAIN + _canonical.dumps(_without_seal(raw))
    try:
        issuer.verify(_canonical.unb64(proof.seal.signature), sealed, distid=_distid(proof.seal))
    except CryptoError as exc:
        raise ProofInvalid(f"issuer seal does not verify: {exc}") from exc

    return VerifiedProof(
        agreement_id=agreement.id,
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
        block_hash=_canonical.unlabel("keccak256", anchor.block.hash),
        issuer_fingerprint=issuer.fingerprint(),
    )


def confirm_on_chain(proof: VerifiedProof, *, client: ChainClient) -> None:
    """Check a verified proof against a chain node. Raise ProofInvalid if the chain disagrees.

    Node failures raise :class:`~ledger.chain.errors.NodeError` (not a verdict on the proof).
    """
    # 8. the node serves the proof's chain
    if client.chain_id != proof.chain_id:
        raise ProofInvalid(f"node serves chain {client.chain_id}, proof is for {proof.chain_id}")
    # 9. the contract holds this anchor with these contents
    ledger = EvidenceLedgerContract(client=client, address=proof.contract)
    try:
        stored = ledger.get_anchor(proof.anchor_id)
    except TransactionFailed as exc:
        raise ProofInvalid(f"anchor not found on chain: {exc}") from exc
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
        raise ProofInvalid("the anchor on chain differs from the proof")
    # 10. the anchoring transaction succeeded in the stated block
    receipt = client.receipt(proof.tx_hash)
    if receipt is None or receipt["status"] != 1:
        raise ProofInvalid("anchoring transaction not found on chain, or it failed")
    if (int(receipt["blockNumber"]), bytes(receipt["blockHash"])) != (
        proof.block_number,
        proof.block_hash,
    ):
        raise ProofInvalid("anchoring transaction is in another block than the proof states")
    # 11. that block is on the node's canonical chain
    if client.block_hash(proof.block_number) != proof.block_hash:
        raise ProofInvalid(f"block {proof.block_number} on chain has another hash")


def _signature_from(part: _SignaturePart) -> Signature:
    return Signature(
        role=part.role,
        signed_at=_canonical.parse_timestamp(part.signed_at),
        public_key=_public_key(part.public_key, part.key_fingerprint, part.role),
        value=_canonical.unb64(part.signature),
        distid=_distid(part),
    )


def _public_key(hex_key: str, fingerprint: str, who: str) -> SM2PublicKey:
    try:
        key = SM2PublicKey.from_raw(_canonical.unhex0x(hex_key, size=65))
    except CryptoError as exc:
        raise ProofInvalid(f"public key of {who!r} is not an SM2 point: {exc}") from exc
    if key.fingerprint() != _canonical.unlabel("sm3", fingerprint):
        raise ProofInvalid(f"key fingerprint of {who!r} does not match its public key")
    return key


def _distid(part: _SignaturePart | _SealPart) -> bytes:
    return part.distid.encode("ascii")


def _checksummed(address: str) -> str:
    if not is_checksum_address(address):
        raise ProofInvalid(f"address {address} is not in checksummed form")
    return address
