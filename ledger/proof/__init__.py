"""The signed-proof file: one canonical JSON file per agreement (version) that verifies offline.

Two formats, told apart by their ``format`` field; :func:`verify_proof` and
:func:`confirm_on_chain` read both. Every file is RFC 8785 canonical JSON: any other spelling of
the same content is refused, and every field is covered by at least one check, so changing any
single byte makes the file invalid. The ``seal`` is the issuing service's SM2 signature over the
canonical body (everything but the seal), under a per-format domain string; like a transparency
log's signed entry timestamp it binds what no offline check can (block number and hash).
Verifiers may pin the issuer's key fingerprint (``trusted_issuers``).

``ledger-proof/0`` (:func:`build_proof`): one agreement anchored as one EvidenceLedger record
(``anchorAgreement``); parties signed payload v0, which covers the ciphertext's CID::

    {"format": "ledger-proof/0",
     "agreement": {"id": "agr_<32 hex>",
                   "document": {"digest": "sm3:<hex>", "media_type", "size", "content"?: b64},
                   "stored": {"cid": "<CIDv1 base32>", "encryption": "sm4-gcm",
                              "ciphertext"?: b64}},
     "signatures": [{"algorithm": "sm2-sm3", "role", "signed_at", "public_key": "0x04..",
                     "key_fingerprint": "sm3:..", "distid", "signature": b64 DER}],
     "anchor": {"chain_id", "contract", "anchor_id": "keccak256:..",
                "signature_set_digest": "sm3:..", "writer",
                "transaction": {"hash": "keccak256:..", "raw": "0x.."},
                "block": {"number", "hash": "keccak256:.."}},
     "seal": {"algorithm": "sm2-sm3", "public_key", "key_fingerprint", "distid", "signature"}}

``ledger-proof/1`` (:func:`build_batch_proof`): one agreement version, a leaf of a Merkle batch
anchored by ``anchorBatch(root, size)``; parties signed payload v1 (agreement ID and version,
document digest, role, time, chain, contract), the leaf is the SM3 leaf hash of the
:class:`~ledger.agreement.LeafEntry` the service committed to (which binds the CID)::

    {"format": "ledger-proof/1",
     "agreement": {"id", "version": N, "kind": "agreement" | "void", "required_roles": [..],
                   "accepted_at": "2026-01-31T12:00:00Z",
                   "document": {"digest", "media_type", "size", "content"?: b64},
                   "stored": {"cid", "encryption": "sm4-gcm", "car"?: b64 CARv1}},
     "signatures": [... as in v0, in role order],
     "inclusion": {"leaf": "sm3:..", "leaf_index", "tree_size", "path": ["sm3:.."],
                   "root": "sm3:.."},
     "anchor": {"chain_id", "contract", "batch_id": "keccak256:..", "writer",
                "transaction": {"hash", "raw"}, "block": {"number", "hash"}},
     "seal": {... as in v0, domain "ledger/proof-seal/1"}}

Offline checks of v1, in order: (1) canonical JSON of the closed schema; (2) content against
digest and size; (3) CAR against the CID (and it is the canonical CAR of its ciphertext);
(4) signatures over payload v1: exactly the required roles, each once, in role order, the
required roles including ``customer`` and ``broker``; (5) the recomputed leaf entry hashes to
``inclusion.leaf``; (6) the RFC 9162 path leads from the leaf to the root; (7) the batch ID is
``batchIdOf(chain, contract, root, size)``; (8) the raw transaction hashes to its hash, was sent
by the writer to the contract on the chain, and calls ``anchorBatch(root, size)``; (9) the seal.
:func:`confirm_on_chain` adds: the node's chain ID, the contract exists, the batch stored under
the batch ID has this root, size, writer and block, the transaction succeeded in that block, and
the block is on the node's canonical chain.

``ledger-proof/2`` (:func:`build_batch_proof` given ``keys``): a v1 body, seal domain
``ledger/proof-seal/2``, plus the KeyRegistry entries of the keys that signed, as the issuer read
them when it sealed (times in UNIX seconds as the registry holds them; ``not_after`` absent for
an open-ended key, ``revoked_at`` absent for a key not revoked then)::

    {"format": "ledger-proof/2", ... v1's agreement, signatures, inclusion, anchor ...,
     "keys": {"registry": {"chain_id", "contract"},
              "sealed_at": "2026-01-31T12:05:00Z",
              "seal": {"key_id": "keccak256:..", "member": "0x..", "purpose": "proof-sealing",
                       "fingerprint": "sm3:..", "not_before", "not_after"?, "revoked_at"?,
                       "registered_at"},
              "broker"?: {... the same, "purpose": "request-signing"}},
     "seal": {...}}

A new format rather than an optional part of v1: v1's closed schema stays what it was (a v1
reader refuses a v2 file instead of ignoring claims it cannot check), and a file says by its
format alone whether it claims anything about its keys. Proofs are sealed when they are asked
for, not when the batch is anchored (a proof asked for after a rotation is sealed with the new
key), so the seal's signing time is ``sealed_at``, which the issuer states and the seal covers;
offline it is only bounded below (by ``accepted_at``): like every signing time in these files
(the parties' ``signed_at``) it is the signer's word, and a key revoked as compromised can lie
about it within its window. The broker's entry is present when the broker signed with a key the
registry holds for it (the key it signs its requests with, purpose ``request-signing``).

Offline checks of v2: v1's (1) to (9), with v2's schema and seal domain; then (10) the registry
is on the anchor's chain and ``sealed_at`` is not before ``accepted_at``; (11) each entry's key ID
is the registry's ``keyIdOf(chain, registry, member, purpose, fingerprint)``; (12) the seal entry
is of the seal's key, for ``proof-sealing``, of the member that sent the anchoring transaction,
and its window ``[not_before, min(not_after, revoked_at))`` holds ``sealed_at``; (13) the broker
entry, when present, is of the broker signature's key, for ``request-signing``, and its window
holds the broker's ``signed_at``. Offline, ``registered_at`` and the broker's ``member`` are
bound by the seal (and the key ID) only, as the block is in v1. :func:`confirm_on_chain` does
v1's confirmation (its 10 to 13, here 14 to 17), then (18) the registry holds this build's
KeyRegistry code (so a KeyRegistry of a later build must be added here for old proofs to keep
confirming), (19) its consortium is the one the EvidenceLedger asks before each write, (20) each
entry is on chain with the same member, purpose, fingerprint, ``not_before`` and
``registered_at``; its end no later than stated (a rotation ends a key early), a revocation
stated is the one on chain; and the window on chain *now* still holds the signing time: a
revocation effective after it leaves the proof valid, one effective at or before it makes the
proof invalid (the issue's rule: a signature made before a revocation stays valid).

The service writes v2 where its sealing key is registered and v1 where it is not (it never
writes a ``keys`` part it could not read from the chain): :mod:`ledger.service._proof_keys`.
:attr:`VerifiedProof.keys` is None for v0 and v1: those files claim nothing about their keys,
and no key check ran on them (``ledger verify`` says so).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ledger.agreement import LeafEntry
from ledger.chain.client import ChainClient
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey
from ledger.proof import _common, _keys, _v0, _v1, _v2, consent
from ledger.proof._common import ProofInvalid, VerifiedProof
from ledger.proof._keys import ClaimedKey, KeyClaims, ProofKeys
from ledger.proof._v0 import AnchorEvidence
from ledger.proof._v1 import BatchAnchor, BatchInclusion
from ledger.proof.consent import VerifiedConsentProof
from ledger.signature import Signature

__all__ = [
    "FORMATS",
    "FORMAT_CONSENT",
    "FORMAT_V0",
    "FORMAT_V1",
    "FORMAT_V2",
    "AnchorEvidence",
    "BatchAnchor",
    "BatchInclusion",
    "ClaimedKey",
    "KeyClaims",
    "ProofInvalid",
    "ProofKeys",
    "VerifiedConsentProof",
    "VerifiedProof",
    "build_batch_proof",
    "build_proof",
    "confirm_on_chain",
    "confirmation_steps",
    "verify_file",
    "verify_proof",
]

FORMAT_V0 = _v0.FORMAT
FORMAT_V1 = _v1.FORMAT
FORMAT_V2 = _v2.FORMAT
FORMAT_CONSENT = consent.FORMAT
#: The agreement proof formats this verifier reads (:func:`verify_proof`).
FORMATS = (FORMAT_V0, FORMAT_V1, FORMAT_V2)
#: Every format :func:`verify_file` reads: the agreement proofs', and the proof of consent's.
ALL_FORMATS = (*FORMATS, FORMAT_CONSENT)

_Verifier = Callable[..., VerifiedProof]
_VERIFIERS: dict[str, _Verifier] = {
    FORMAT_V0: _v0.verify,
    FORMAT_V1: _v1.verify,
    FORMAT_V2: _v2.verify,
}
#: The confirmation of the anchor (a v2 file's is v1's; its keys are confirmed after it).
_CONFIRMERS: dict[str, Callable[[VerifiedProof, ChainClient], None]] = {
    FORMAT_V0: _v0.confirm,
    FORMAT_V1: _v1.confirm,
    FORMAT_V2: _v1.confirm,
}

#: ``ledger-proof/0``: write the file of one agreement anchored as one record.
build_proof = _v0.build


def build_batch_proof(
    *,
    entry: LeafEntry,
    signatures: Sequence[Signature],
    inclusion: BatchInclusion,
    anchor: BatchAnchor,
    issuer_key: SM2PrivateKey,
    keys: ProofKeys | None = None,
    content: bytes | None = None,
    car: bytes | None = None,
    distid: bytes = DEFAULT_DISTID,
) -> bytes:
    """Write the file of one agreement version anchored in a Merkle batch: ``ledger-proof/2``
    with ``keys`` (the registry entries of the keys that signed), else ``ledger-proof/1``;
    :class:`ProofInvalid` if it would not verify. ``signatures`` in any order; ``content`` the
    document (None: redacted), ``car`` the CARv1 of the stored ciphertext."""
    fmt = _v1 if keys is None else _v2
    body = _v1.build_body(
        fmt.FORMAT,
        entry=entry,
        signatures=signatures,
        inclusion=inclusion,
        anchor=anchor,
        content=content,
        car=car,
    )
    if keys is not None:
        body["keys"] = _keys.keys_json(keys)
    return _common.seal_and_check(
        body, domain=fmt.SEAL_DOMAIN, issuer_key=issuer_key, distid=distid, verify=fmt.verify
    )


def verify_proof(data: bytes, *, trusted_issuers: Collection[bytes] | None = None) -> VerifiedProof:
    """Check everything in a proof file (either format) that needs no network.

    Raise :class:`ProofInvalid` (one-line reason) on any failure. ``trusted_issuers``: SM3
    fingerprints of issuer keys to accept; None accepts any issuer whose seal verifies (the
    proof is then self-consistent, and :func:`confirm_on_chain` confirms it on chain).
    """
    verified = verify_file(data, trusted_issuers=trusted_issuers)
    if isinstance(verified, VerifiedConsentProof):
        raise ProofInvalid(f"a {FORMAT_CONSENT} file is a proof of consent, not of an agreement")
    return verified


def verify_file(
    data: bytes, *, trusted_issuers: Collection[bytes] | None = None
) -> VerifiedProof | VerifiedConsentProof:
    """:func:`verify_proof` of an agreement proof, or the offline checks of a proof of consent
    (``ledger-consent-proof/1``, :mod:`ledger.proof.consent`); :class:`ProofInvalid`."""
    with _common.reasons():
        raw: Any = _common.load(data)
        found = raw.get("format") if isinstance(raw, dict) else None
        if found == FORMAT_CONSENT:
            return consent.verify(raw, trusted_issuers=trusted_issuers)
        verifier = _VERIFIERS.get(found) if isinstance(found, str) else None
        if verifier is None:
            raise ProofInvalid(
                f"unsupported proof format {found!r} (this verifier reads {', '.join(ALL_FORMATS)})"
            )
        return verifier(raw, trusted_issuers=trusted_issuers)


def confirm_on_chain(proof: VerifiedProof | VerifiedConsentProof, *, client: ChainClient) -> None:
    """Check a verified proof (any format) against a chain node.

    Raise :class:`ProofInvalid` if the chain disagrees. Node failures raise
    :class:`~ledger.chain.errors.NodeError` (not a verdict on the proof). The verdict depends
    only on :meth:`VerifiedProof.chain_claims` and the node.
    """
    for _, step in confirmation_steps(proof):
        step(client)


def confirmation_steps(proof: VerifiedProof | VerifiedConsentProof) -> list[_keys.Step]:
    """:func:`confirm_on_chain` as steps to run in order, each with the claims its verdict
    depends on (with the node): the anchor's (:meth:`VerifiedProof.anchor_claims`), then for a
    ``ledger-proof/2`` file the registry's and each key entry's. A verifier of many proofs runs
    each distinct step once and reuses its verdict (one anchor step per batch, one registry step
    per registry, one entry step per key and signing time). A proof of consent's are
    :func:`ledger.proof.consent.confirmation_steps`."""
    if isinstance(proof, VerifiedConsentProof):
        return consent.confirmation_steps(proof)
    steps: list[_keys.Step] = [
        (("anchor", *proof.anchor_claims()), functools.partial(_CONFIRMERS[proof.format], proof))
    ]
    if proof.keys is not None:
        steps += _keys.confirmation_steps(proof.keys, proof.contract)
    return steps
