"""``ledger-consent-proof/1`` on chain: checks 12 to 16 of :mod:`ledger.proof.consent`, as
steps a verifier of many files runs once each."""

from __future__ import annotations

from functools import partial

from ledger import canonical
from ledger.chain.attestations import CONTRACT_NAME as ATTESTATIONS
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.client import ChainClient
from ledger.chain.consent import CONTRACT_NAME as CONSENT_REGISTRY
from ledger.chain.consent import ConsentRegistryContract
from ledger.chain.deployments import holds_this_build
from ledger.chain.errors import ContractRefused, InvalidAttestation, TransactionFailed
from ledger.chain.evidence import CONTRACT_NAME as EVIDENCE_LEDGER
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.chain.keys import CONTRACT_NAME as KEY_REGISTRY
from ledger.chain.keys import KeyRegistryContract
from ledger.proof import _common as c
from ledger.proof import _keys
from ledger.proof._consent_parts import ProvenReceipt, VerifiedConsentProof
from ledger.proof._keys import Step


def confirmation_steps(proof: VerifiedConsentProof) -> list[Step]:
    """Checks 12 to 16 as steps, each with the claims its verdict depends on (a verifier of
    many files runs each distinct step once)."""
    registry = proof.domain.registry
    steps: list[Step] = [
        (
            ("consent", proof.domain, proof.record, tuple(r for r, _ in proof.revocations)),
            partial(_confirm_grant, proof),
        ),
        (("attestation", proof.domain, proof.attestation), partial(_confirm_attestation, proof)),
    ]
    seen: set[bytes] = set()
    for receipt in proof.receipts:
        if receipt.batch_id not in seen:
            seen.add(receipt.batch_id)
            step = ("consent-batch", registry, *receipt.anchor_claims())
            steps.append((step, partial(_confirm_batch, registry, receipt)))
    if proof.keys is not None:
        step = ("consent-registry-keys", registry, proof.keys.registry)
        steps.append((step, partial(_confirm_key_registry, registry, proof.keys.registry)))
        for key in proof.keys.entries:
            step = ("key", proof.keys.chain_id, proof.keys.registry, key)
            steps.append((step, partial(_keys.confirm_entry, proof.keys.registry, key)))
    return steps


def _registry(proof: VerifiedConsentProof, client: ChainClient) -> ConsentRegistryContract:
    if client.chain_id != proof.domain.chain_id:
        raise c.ProofInvalid(
            f"node serves chain {client.chain_id}, proof is for {proof.domain.chain_id}"
        )
    address = proof.domain.registry
    if not holds_this_build(client, CONSENT_REGISTRY, address):
        raise c.ProofInvalid(f"no {CONSENT_REGISTRY} of this build at {address}")
    return ConsentRegistryContract(client=client, address=address)


def _confirm_grant(proof: VerifiedConsentProof, client: ChainClient) -> None:
    # 12. the node and the registry; 13. the grant and its first revocations as recorded
    registry = _registry(proof, client)
    shown = canonical.hex0x(proof.record.grant_id)
    try:
        recorded = registry.grant(proof.record.grant_id)
    except ContractRefused as exc:
        raise c.ProofInvalid(f"grant {shown} is not recorded: {exc}") from exc
    if recorded != proof.record:
        raise c.ProofInvalid(f"grant {shown} is recorded otherwise than the proof states")
    stated = [r for r, _ in proof.revocations]
    revocations = registry.revocations_of(proof.record.grant_id)
    since = revocations[len(stated) :]
    if revocations[: len(stated)] != stated or any(r.at <= proof.chain_time for r in since):
        raise c.ProofInvalid(f"the revocations of grant {shown} on chain differ from the proof's")


def _confirm_attestation(proof: VerifiedConsentProof, client: ChainClient) -> None:
    # 14. the registry's IdentityAttestations, and the attestation as stated
    stated = proof.attestation
    if _registry(proof, client).attestations() != stated.contract:
        raise c.ProofInvalid(f"the ConsentRegistry relies on another {ATTESTATIONS} contract")
    if not holds_this_build(client, ATTESTATIONS, stated.contract):
        raise c.ProofInvalid(f"no {ATTESTATIONS} of this build at {stated.contract}")
    contract = IdentityAttestationsContract(client=client, address=stated.contract)
    shown = canonical.hex0x(stated.attestation_id)
    try:
        found = contract.attestation(stated.attestation_id)
    except (ContractRefused, InvalidAttestation) as exc:
        raise c.ProofInvalid(f"attestation {shown} is not on chain as stated: {exc}") from exc
    same = (
        found.attester,
        found.customer_key.to_raw(),
        found.verified_at,
        found.expires_at,
        found.attested_at,
    ) == (
        stated.attester,
        stated.customer_key,
        stated.verified_at,
        stated.expires_at,
        stated.attested_at,
    )
    end = (found.ended_at, found.revoked, found.superseded_by)
    if stated.ended_at is None:  # it may have ended since the chain time the issuer read at
        ended = found.ended_at is None or found.ended_at > proof.chain_time
    else:
        ended = end == (stated.ended_at, stated.revoked, stated.superseded_by)
    if not (same and ended):
        raise c.ProofInvalid(f"attestation {shown} on chain differs from the proof's")


def _consortium_of_registry(client: ChainClient, registry: str) -> str:
    return ConsentRegistryContract(client=client, address=registry).consortium()


def _confirm_batch(registry: str, receipt: ProvenReceipt, client: ChainClient) -> None:
    # 15. the EvidenceLedger of the consortium stores the batch; the transaction is in the block
    c.confirm_node(receipt, client)
    if not holds_this_build(client, EVIDENCE_LEDGER, receipt.contract):
        raise c.ProofInvalid(f"no {EVIDENCE_LEDGER} of this build at {receipt.contract}")
    ledger = EvidenceLedgerContract(client=client, address=receipt.contract)
    if ledger.consortium() != _consortium_of_registry(client, registry):
        raise c.ProofInvalid(
            f"the {EVIDENCE_LEDGER} {receipt.contract} belongs to another consortium than the"
            f" {CONSENT_REGISTRY}"
        )
    try:
        stored = ledger.get_batch(receipt.batch_id)
    except TransactionFailed as exc:
        raise c.ProofInvalid(f"batch not found on chain: {exc}") from exc
    found = (stored.root, stored.size, stored.writer, stored.block_number)
    if found != (receipt.root, receipt.tree_size, receipt.writer, receipt.block_number):
        raise c.ProofInvalid("the batch on chain differs from the proof")
    c.confirm_transaction(receipt, client)


def _confirm_key_registry(registry: str, keys_registry: str, client: ChainClient) -> None:
    # 16. the KeyRegistry of the consortium (its entry is confirmed as ledger-proof/2's are)
    if not holds_this_build(client, KEY_REGISTRY, keys_registry):
        raise c.ProofInvalid(f"no {KEY_REGISTRY} of this build at {keys_registry}")
    keys = KeyRegistryContract(client=client, address=keys_registry)
    if keys.consortium() != _consortium_of_registry(client, registry):
        raise c.ProofInvalid(
            f"the key registry {keys_registry} belongs to another consortium than the"
            f" {CONSENT_REGISTRY}"
        )
