"""What both proof formats share: the error, the result, schema parts, keys, the seal, the
anchoring transaction and its on-chain confirmation. One home for each; ``_v0`` / ``_v1`` only
hold what differs between the formats."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, TypeVar

from eth_utils.address import is_checksum_address
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from ledger import canonical
from ledger.agreement import REQUIRED_ROLES
from ledger.chain.client import ChainClient
from ledger.chain.transaction import (
    DecodedTransaction,
    TransactionDecodeError,
    decode_signed_transaction,
)
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.crypto.sm3 import sm3
from ledger.errors import LedgerError
from ledger.signature import ALGORITHM, Signature

if TYPE_CHECKING:
    from ledger.proof._keys import KeyClaims


class ProofInvalid(LedgerError):
    """The proof does not verify; the message says which check failed (one line)."""


@contextmanager
def reasons() -> Iterator[None]:
    """Decoding errors of the layers below (bad base64, timestamps, keys ...) become
    :class:`ProofInvalid` with their message; anything else (bugs) propagates."""
    try:
        yield
    except ProofInvalid:
        raise
    except (LedgerError, ValueError) as exc:
        raise ProofInvalid(" ".join(str(exc).split())) from exc


# --- what a verified proof states (both formats fill it)


@dataclass(frozen=True)
class VerifiedProof:
    """What a proof states, for display after it verified, and for :func:`confirm_on_chain`.

    ``anchor_id`` is the key of the on-chain record: the anchor ID of a ``ledger-proof/0``
    file, the batch ID of a ``ledger-proof/1`` file (then equal to ``batch_id``). The batch
    fields (``batch_id``, ``leaf_index``, ``tree_size``, ``root``, ``leaf_hash``) and
    ``agreement_version`` / ``accepted_at`` are None for ``ledger-proof/0``, which has no
    batches and no versions; its ``kind`` is always ``"agreement"``.
    """

    format: str
    agreement_id: str
    agreement_version: int | None
    kind: str
    accepted_at: datetime | None
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
    batch_id: bytes | None
    leaf_index: int | None
    tree_size: int | None
    root: bytes | None
    leaf_hash: bytes | None
    #: The registry entries of the keys that signed (``ledger-proof/2``; None before: such a
    #: proof claims nothing about its keys, and no key check ran).
    keys: KeyClaims | None = None

    def chain_claims(self) -> tuple[object, ...]:
        """Everything :func:`confirm_on_chain` reads from this proof: two proofs with equal
        claims get the same verdict from the same node."""
        return (*self.anchor_claims(), self.keys)

    def anchor_claims(self) -> tuple[object, ...]:
        """What the confirmation of the anchor reads: shared by every proof of one batch (so a
        verifier may confirm it once per batch and reuse the answer for every proof of it)."""
        common = (
            self.format,
            self.chain_id,
            self.contract,
            self.anchor_id,
            self.writer,
            self.tx_hash,
            self.block_number,
            self.block_hash,
        )
        if self.batch_id is not None:  # a batch: root and size are what the chain stores
            return (*common, self.root, self.tree_size)
        return (
            *common,
            self.document_sm3,
            self.cid,
            self.signer_fingerprints,
            self.signature_set_digest,
        )


# --- the file's schema parts: strict, closed, one text form per value

Sm3 = Annotated[StrictStr, Field(pattern=r"^sm3:[0-9a-f]{64}$")]
Keccak = Annotated[StrictStr, Field(pattern=r"^keccak256:[0-9a-f]{64}$")]
Address = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
Hex = Annotated[StrictStr, Field(pattern=r"^0x(?:[0-9a-f]{2})+$")]
PublicKey = Annotated[StrictStr, Field(pattern=r"^0x04[0-9a-f]{128}$")]
Base64 = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$")]
#: The largest integer of a proof file (RFC 8785: exact in an IEEE 754 double).
MAX_COUNT = 2**53 - 1
Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
ChainId = Annotated[StrictInt, Field(ge=1, le=2**53 - 1)]
CidText = Annotated[StrictStr, Field(pattern=r"^b[a-z2-7]{1,127}$")]
DistId = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")]
MediaType = Annotated[StrictStr, Field(min_length=1, max_length=200)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DocumentPart(Model):
    digest: Sm3
    media_type: MediaType
    size: Count
    content: Base64 | None = None


class SignaturePart(Model):
    algorithm: Literal["sm2-sm3"]
    role: StrictStr
    signed_at: StrictStr
    public_key: PublicKey
    key_fingerprint: Sm3
    distid: DistId
    signature: Base64


class TransactionPart(Model):
    hash: Keccak
    raw: Hex


class BlockPart(Model):
    number: Count
    hash: Keccak


class SealPart(Model):
    algorithm: Literal["sm2-sm3"]
    public_key: PublicKey
    key_fingerprint: Sm3
    distid: DistId
    signature: Base64


#: At most 16 signatures: a bound of the proof formats (see ledger/proof/_v1.py), not the
#: agreement domain's MAX_SIGNERS, although the two coincide today.
Signatures = Annotated[list[SignaturePart], Field(min_length=1, max_length=16)]

M = TypeVar("M", bound=Model)


def load(data: bytes) -> Any:
    """The file's JSON value; only its one canonical (RFC 8785) spelling is accepted."""
    try:
        return canonical.loads_canonical(data)
    except canonical.EncodingError as exc:
        raise ProofInvalid(f"not a proof file: {exc}") from exc


def parse(model: type[M], raw: Any) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProofInvalid(f"malformed proof at {where}: {first['msg']}") from exc


# --- the parts both formats write and check the same way


def document_json(
    *, sm3_digest: bytes, media_type: str, size: int, content: bytes | None
) -> dict[str, Any]:
    part: dict[str, Any] = {
        "digest": canonical.label("sm3", sm3_digest),
        "media_type": media_type,
        "size": size,
    }
    if content is not None:
        part["content"] = canonical.b64(content)
    return part


def check_document(part: DocumentPart) -> bytes:
    """The document's SM3; when the content is included, it must be the one with that digest."""
    digest = canonical.unlabel("sm3", part.digest)
    if part.content is not None:
        content = canonical.unb64(part.content)
        if len(content) != part.size:
            raise ProofInvalid("document size does not match its content")
        if sm3(content) != digest:
            raise ProofInvalid("document content does not match its SM3 digest")
    return digest


def signature_from(part: SignaturePart) -> Signature:
    return Signature(
        role=part.role,
        signed_at=canonical.parse_timestamp(part.signed_at),
        public_key=public_key(part.public_key, part.key_fingerprint, part.role),
        value=canonical.unb64(part.signature),
        distid=distid(part),
    )


@lru_cache(maxsize=4096)
def _sm2_key(raw: bytes) -> SM2PublicKey:
    """Loading (and validating) a point costs more than a verification, and a directory of
    proofs repeats the same issuer and signer keys: load each once (keys are immutable and
    safe to share between threads; failures are not cached)."""
    return SM2PublicKey.from_raw(raw)


@lru_cache(maxsize=256)
def _decoded(raw: bytes) -> DecodedTransaction:
    """Every proof of a batch carries the same anchoring transaction: decode it once."""
    return decode_signed_transaction(raw)


def public_key(hex_key: str, fingerprint: str, who: str) -> SM2PublicKey:
    try:
        key = _sm2_key(canonical.unhex0x(hex_key, size=65))
    except CryptoError as exc:
        raise ProofInvalid(f"public key of {who!r} is not an SM2 point: {exc}") from exc
    if key.fingerprint() != canonical.unlabel("sm3", fingerprint):
        raise ProofInvalid(f"key fingerprint of {who!r} does not match its public key")
    return key


def distid(part: SignaturePart | SealPart) -> bytes:
    return part.distid.encode("ascii")


def checksummed(address: str) -> str:
    if not is_checksum_address(address):
        raise ProofInvalid(f"address {address} is not in checksummed form")
    return address


def check_roles(roles: Sequence[str]) -> None:
    """Each role signed once, and the roles every agreement needs are there."""
    if len(set(roles)) != len(roles):
        raise ProofInvalid(f"a role signed twice: {list(roles)}")
    missing = [r for r in REQUIRED_ROLES if r not in roles]
    if missing:
        raise ProofInvalid(f"required signatures missing: {missing}")


def verify_signature(signature: Signature, payload: Any) -> None:
    try:
        signature.verify(payload)
    except CryptoError as exc:
        raise ProofInvalid(f"signature of {signature.role!r} does not verify: {exc}") from exc


def check_transaction(
    part: TransactionPart,
    *,
    writer: str,
    contract: str,
    chain_id: int,
    call_data: bytes,
    call_mismatch: str,
) -> DecodedTransaction:
    """The raw anchoring transaction: its hash, sender, target, chain and exact call data."""
    try:
        tx = _decoded(canonical.unhex0x(part.raw))
    except TransactionDecodeError as exc:
        raise ProofInvalid(f"anchoring transaction: {exc}") from exc
    if tx.tx_hash != canonical.unlabel("keccak256", part.hash):
        raise ProofInvalid("transaction hash does not match the raw transaction")
    if tx.sender != writer:
        raise ProofInvalid(f"transaction was sent by {tx.sender}, not the writer {writer}")
    if tx.to != contract or tx.chain_id != chain_id:
        raise ProofInvalid("transaction targets another contract or chain")
    if tx.data != call_data:
        raise ProofInvalid(call_mismatch)
    return tx


# --- the issuer's seal over the canonical body


def chain_evidence_json(
    *, tx_hash: bytes, raw_transaction: bytes, block_number: int, block_hash: bytes
) -> dict[str, Any]:
    """The ``transaction`` and ``block`` parts of an ``anchor`` (both formats)."""
    return {
        "transaction": {
            "hash": canonical.label("keccak256", tx_hash),
            "raw": canonical.hex0x(raw_transaction),
        },
        "block": {"number": block_number, "hash": canonical.label("keccak256", block_hash)},
    }


def seal_and_check(
    body: dict[str, Any],
    *,
    domain: bytes,
    issuer_key: SM2PrivateKey,
    distid: bytes,
    verify: Callable[..., object],
) -> bytes:
    """Seal ``body``, encode it, and verify the result: a proof that would not verify is an
    error of the builder, not something to hand out."""
    body["seal"] = seal(body, domain=domain, issuer_key=issuer_key, distid=distid)
    data = canonical.dumps(body)
    with reasons():
        verify(load(data), trusted_issuers=None)
    return data


def without_seal(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "seal"}


def seal(
    body: dict[str, Any], *, domain: bytes, issuer_key: SM2PrivateKey, distid: bytes
) -> dict[str, Any]:
    """The seal part: the issuer's SM2 signature over ``domain`` + the canonical body."""
    issuer = issuer_key.public_key()
    signed = domain + canonical.dumps(without_seal(body))
    return {
        "algorithm": ALGORITHM,
        "public_key": canonical.hex0x(issuer.to_raw()),
        "key_fingerprint": canonical.label("sm3", issuer.fingerprint()),
        "distid": distid.decode("ascii"),
        "signature": canonical.b64(issuer_key.sign(signed, distid=distid)),
    }


def check_seal(
    raw: dict[str, Any],
    part: SealPart,
    *,
    domain: bytes,
    trusted_issuers: Collection[bytes] | None,
) -> bytes:
    """Verify the seal over the whole body; return the issuer's key fingerprint."""
    issuer = public_key(part.public_key, part.key_fingerprint, "issuer")
    if trusted_issuers is not None and issuer.fingerprint() not in trusted_issuers:
        raise ProofInvalid(f"issuer key sm3:{issuer.fingerprint().hex()} is not trusted")
    sealed = domain + canonical.dumps(without_seal(raw))
    try:
        issuer.verify(canonical.unb64(part.signature), sealed, distid=distid(part))
    except CryptoError as exc:
        raise ProofInvalid(f"issuer seal does not verify: {exc}") from exc
    return issuer.fingerprint()


# --- on chain: the parts of the confirmation every format shares


class Anchored(Protocol):
    """What the shared confirmations read of a proof (an agreement proof, or one receipt's
    anchor in a consent proof)."""

    @property
    def chain_id(self) -> int: ...
    @property
    def contract(self) -> str: ...
    @property
    def tx_hash(self) -> bytes: ...
    @property
    def block_number(self) -> int: ...
    @property
    def block_hash(self) -> bytes: ...


def confirm_node(proof: Anchored, client: ChainClient) -> None:
    """The node serves the proof's chain, and the proof's contract exists there."""
    if client.chain_id != proof.chain_id:
        raise ProofInvalid(f"node serves chain {client.chain_id}, proof is for {proof.chain_id}")
    if not client.code_at(proof.contract):
        raise ProofInvalid(f"no contract at {proof.contract} on chain {proof.chain_id}")


def confirm_transaction(proof: Anchored, client: ChainClient) -> None:
    """The anchoring transaction succeeded in the stated block, on the canonical chain."""
    receipt = client.receipt(proof.tx_hash)
    if receipt is None or receipt["status"] != 1:
        raise ProofInvalid("anchoring transaction not found on chain, or it failed")
    if (int(receipt["blockNumber"]), bytes(receipt["blockHash"])) != (
        proof.block_number,
        proof.block_hash,
    ):
        raise ProofInvalid("anchoring transaction is in another block than the proof states")
    if client.block_hash(proof.block_number) != proof.block_hash:
        raise ProofInvalid(f"block {proof.block_number} on chain has another hash")
