"""Real ``ledger-proof/1`` files for tests: parties with SM2 keys, signed agreement versions,
Merkle batches anchored offline (a signed, never sent ``anchorBatch`` transaction) or on a real
chain (``EvidenceLedgerContract.anchor_batch``), and proofs of every leaf.

Typical use::

    versions = [sign_version(parties, domain) for _ in range(5)]
    batch = anchor_offline(versions)                    # or anchor_on_chain(versions, ledger)
    data = batch.proof(2, parties.issuer)               # bytes of a valid ledger-proof/1
    bad = reseal(data, lambda p: ..., parties.issuer)   # an edited proof, sealed again

Fixtures: ``proof_parties`` (session: issuer, customer and broker keys).
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from ledger import canonical
from ledger.agreement import (
    REQUIRED_ROLES,
    Document,
    LeafEntry,
    SigningDomain,
    SigningPayload,
    new_agreement_id,
)
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.chain.evidence import (
    EvidenceLedgerContract,
    anchor_calldata,
    anchor_id_of,
    batch_calldata,
)
from ledger.chain.transaction import decode_signed_transaction
from ledger.crypto import sm4
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey
from ledger.merkle import MerkleTree
from ledger.proof import AnchorEvidence, BatchAnchor, BatchInclusion, build_batch_proof, build_proof
from ledger.proof import _common as proof_common
from ledger.proof import _v1 as proof_v1
from ledger.signature import Signature, in_role_order, sign, signature_set_digest
from ledger.store import EmbeddedStore, car_bytes, cid_of

#: A domain for proofs that never touch a chain (anvil's chain ID, a made-up contract).
OFFLINE_DOMAIN = SigningDomain(chain_id=31337, contract=to_checksum_address("0x" + "5e" * 20))
#: When the sample versions were signed and accepted.
SIGNED_AT = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Parties:
    """The issuing service's key and one SM2 key per signing role."""

    issuer: SM2PrivateKey
    keys: dict[str, SM2PrivateKey]

    @classmethod
    def generate(cls, roles: Sequence[str] = REQUIRED_ROLES) -> Parties:
        return cls(
            issuer=SM2PrivateKey.generate(), keys={r: SM2PrivateKey.generate() for r in roles}
        )

    def with_role(self, role: str) -> Parties:
        return Parties(issuer=self.issuer, keys={**self.keys, role: SM2PrivateKey.generate()})


@dataclass(frozen=True)
class SignedVersion:
    """An accepted agreement version: its leaf entry, signatures (role order), the document,
    the stored ciphertext and the ciphertext's CAR."""

    entry: LeafEntry
    signatures: tuple[Signature, ...]
    content: bytes
    ciphertext: bytes
    car: bytes


def sample_document(agreement_id: str, version: int, *, size: int = 1024) -> bytes:
    """A plain-text agreement of exactly ``size`` bytes."""
    head = f"SECURITIES ACCOUNT AGREEMENT {agreement_id} version {version}\n".encode()
    body = b"The customer confirms the risk disclosure. " * (size // 44 + 1)
    return (head + body)[:size]


def car_of(ciphertext: bytes) -> bytes:
    """The CAR the service exports for a stored ciphertext (through a real embedded store)."""
    with tempfile.TemporaryDirectory(prefix="proof-car-") as directory:
        store = EmbeddedStore(root=directory, fsync=False)
        return car_bytes(store, store.put(ciphertext))


def sign_version(
    parties: Parties,
    domain: SigningDomain = OFFLINE_DOMAIN,
    *,
    agreement_id: str | None = None,
    version: int = 1,
    kind: str = "agreement",
    content: bytes | None = None,
    media_type: str = "text/plain; charset=utf-8",
    roles: Sequence[str] | None = None,
    signed_at: datetime = SIGNED_AT,
    distid: bytes = DEFAULT_DISTID,
) -> SignedVersion:
    """Every role of ``roles`` (default: all of ``parties``) signs payload v1; the document is
    SM4-GCM encrypted; the leaf entry commits to all of it."""
    agreement_id = agreement_id or new_agreement_id()
    content = sample_document(agreement_id, version) if content is None else content
    roles = tuple(parties.keys) if roles is None else tuple(roles)
    document = Document(content, media_type)
    signatures = in_role_order(
        [
            sign(
                parties.keys[role],
                SigningPayload(
                    agreement_id=agreement_id,
                    agreement_version=version,
                    document_sm3=document.sm3,
                    role=role,
                    signed_at=signed_at + timedelta(seconds=i),
                    domain=domain,
                ),
                distid=distid,
            )
            for i, role in enumerate(roles)
        ]
    )
    ciphertext = sm4.encrypt(sm4.generate_key(), content, aad=agreement_id.encode())
    car = car_of(ciphertext)
    entry = LeafEntry(
        agreement_id=agreement_id,
        agreement_version=version,
        kind=kind,
        document_sm3=document.sm3,
        document_cid=cid_of(ciphertext),
        media_type=media_type,
        size=len(content),
        required_roles=roles,
        signature_set_digest=signature_set_digest(signatures),
        accepted_at=signed_at + timedelta(minutes=1),
        domain=domain,
    )
    return SignedVersion(entry, tuple(signatures), content, ciphertext, car)


def filler_leaves(count: int) -> list[bytes]:
    """Leaf hashes of other (unsigned, made-up) entries, to grow a batch cheaply."""
    return [keccak(secrets.token_bytes(16)) for _ in range(count)]


@dataclass(frozen=True)
class AnchoredBatch:
    """Signed versions at leaves ``0..len(versions)-1`` of one Merkle tree, and its anchor."""

    versions: list[SignedVersion]
    tree: MerkleTree
    anchor: BatchAnchor
    domain: SigningDomain

    def inclusion(self, index: int) -> BatchInclusion:
        return BatchInclusion(
            leaf_index=index,
            tree_size=self.tree.size,
            path=tuple(self.tree.inclusion_proof(index)),
            root=self.tree.root,
        )

    def proof(
        self,
        index: int,
        issuer: SM2PrivateKey,
        *,
        include_content: bool = True,
        include_car: bool = True,
        **overrides: Any,
    ) -> bytes:
        """The ``ledger-proof/1`` of leaf ``index`` (``overrides``: build_batch_proof
        arguments, e.g. ``inclusion=`` or ``content=``)."""
        version = self.versions[index]
        arguments: dict[str, Any] = {
            "entry": version.entry,
            "signatures": version.signatures,
            "inclusion": self.inclusion(index),
            "anchor": self.anchor,
            "issuer_key": issuer,
            "content": version.content if include_content else None,
            "car": version.car if include_car else None,
        }
        return build_batch_proof(**{**arguments, **overrides})


Anchorer = Callable[[SigningDomain, bytes, int], BatchAnchor]


def build_batch(
    versions: Sequence[SignedVersion], anchorer: Anchorer, *, extra_leaves: int = 0
) -> AnchoredBatch:
    """Put the versions (then ``extra_leaves`` made-up leaves) in one tree and anchor its root."""
    domains = {v.entry.domain for v in versions}
    assert len(domains) == 1, "one batch, one domain"
    domain = domains.pop()
    tree = MerkleTree([v.entry.leaf_hash for v in versions] + filler_leaves(extra_leaves))
    return AnchoredBatch(list(versions), tree, anchorer(domain, tree.root, tree.size), domain)


def offline_anchorer(
    *,
    private_key: str = DEV_PRIVATE_KEY,
    nonce: int = 0,
    block_number: int = 7,
    to: str | None = None,
    data: bytes | None = None,
) -> Anchorer:
    """Sign ``anchorBatch(root, size)`` like the batcher would, but never send it; the block is
    made up (offline checks cannot tell; ``confirm_on_chain`` can)."""

    def anchor(domain: SigningDomain, root: bytes, size: int) -> BatchAnchor:
        signed = Account.sign_transaction(
            {
                "type": 2,
                "chainId": domain.chain_id,
                "nonce": nonce,
                "to": to or domain.contract,
                "value": 0,
                "data": data if data is not None else batch_calldata(root=root, size=size),
                "gas": 120_000,
                "maxFeePerGas": 2_000_000_000,
                "maxPriorityFeePerGas": 1_000_000_000,
            },
            private_key,
        )
        return BatchAnchor(
            raw_transaction=bytes(signed.raw_transaction),
            tx_hash=bytes(signed.hash),
            block_number=block_number,
            block_hash=keccak(b"block %d" % block_number),
        )

    return anchor


def anchor_offline(versions: Sequence[SignedVersion], *, extra_leaves: int = 0) -> AnchoredBatch:
    return build_batch(versions, offline_anchorer(), extra_leaves=extra_leaves)


def chain_anchorer(ledger: EvidenceLedgerContract) -> Anchorer:
    """Anchor for real: ``anchorBatch`` sent to ``ledger`` and mined; its receipt's block."""

    def anchor(domain: SigningDomain, root: bytes, size: int) -> BatchAnchor:
        assert (domain.chain_id, domain.contract) == (ledger.client.chain_id, ledger.address)
        sent = ledger.anchor_batch(root=root, size=size)
        return BatchAnchor(
            raw_transaction=sent.raw_transaction,
            tx_hash=sent.tx_hash,
            block_number=sent.block_number,
            block_hash=sent.block_hash,
        )

    return anchor


def anchor_on_chain(
    versions: Sequence[SignedVersion], ledger: EvidenceLedgerContract, *, extra_leaves: int = 0
) -> AnchoredBatch:
    return build_batch(versions, chain_anchorer(ledger), extra_leaves=extra_leaves)


def domain_of(ledger: EvidenceLedgerContract) -> SigningDomain:
    return SigningDomain(chain_id=ledger.client.chain_id, contract=ledger.address)


def reseal(
    data: bytes,
    edit: Callable[[dict[str, Any]], object],
    issuer: SM2PrivateKey,
    *,
    distid: bytes = DEFAULT_DISTID,
) -> bytes:
    """``data`` (a v1 proof) edited in place by ``edit`` and sealed again by ``issuer``: so
    that the check the edit targets is the one that fails, not the seal."""
    body = canonical.loads_canonical(data)
    edit(body)
    body["seal"] = proof_common.seal(
        body, domain=proof_v1.SEAL_DOMAIN, issuer_key=issuer, distid=distid
    )
    return canonical.dumps(body)


@pytest.fixture(scope="session")
def proof_parties() -> Parties:
    """Issuer, customer and broker keys, shared by the whole session."""
    return Parties.generate()


def offline_v0_proof(
    parties: Parties,
    *,
    agreement_id: str,
    document: Document,
    cid: str,
    ciphertext: bytes,
    signatures: Sequence[Signature],
    block_hash: bytes,
) -> bytes:
    """A ``ledger-proof/0`` file anchored offline: ``anchorAgreement`` signed by the dev account
    (nonce 3) on :data:`OFFLINE_DOMAIN`, recorded as mined in block 3 (``block_hash``)."""
    fingerprints = [s.key_fingerprint for s in signatures]
    sigset = signature_set_digest(signatures)
    signed = Account.sign_transaction(
        {
            "type": 2,
            "chainId": OFFLINE_DOMAIN.chain_id,
            "nonce": 3,
            "to": OFFLINE_DOMAIN.contract,
            "value": 0,
            "data": anchor_calldata(
                document_digest=document.sm3,
                cid=cid,
                signer_fingerprints=fingerprints,
                signature_set_digest=sigset,
            ),
            "gas": 300_000,
            "maxFeePerGas": 2_000_000_000,
            "maxPriorityFeePerGas": 1_000_000_000,
        },
        DEV_PRIVATE_KEY,
    )
    raw = bytes(signed.raw_transaction)
    return build_proof(
        agreement_id=agreement_id,
        document=document,
        cid=cid,
        ciphertext=ciphertext,
        signatures=signatures,
        anchor=AnchorEvidence(
            chain_id=OFFLINE_DOMAIN.chain_id,
            contract=OFFLINE_DOMAIN.contract,
            anchor_id=anchor_id_of(
                chain_id=OFFLINE_DOMAIN.chain_id,
                contract=OFFLINE_DOMAIN.contract,
                document_digest=document.sm3,
                cid=cid,
                signer_fingerprints=fingerprints,
                signature_set_digest=sigset,
            ),
            writer=decode_signed_transaction(raw).sender,
            tx_hash=bytes(signed.hash),
            raw_transaction=raw,
            block_number=3,
            block_hash=block_hash,
        ),
        issuer_key=parties.issuer,
    )
