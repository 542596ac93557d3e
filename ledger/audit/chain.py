"""The chain's view of the grants an audit names: each grant, its revocations and its
attestation read once (a grant's attestation is shared by its customer's other grants), from
the ConsentRegistry and IdentityAttestations contracts as they are now.

A grant the registry does not hold, or whose attestation cannot be relied on (its stated key
fingerprint is not its key's), is in :attr:`ChainView.unknown` with the reason; any other
failure of the node is the chain's error (:mod:`ledger.chain.errors`), for the caller to report.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.audit.records import ChainGrant, ChainView
from ledger.chain.attestations import Attestation, IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract
from ledger.chain.errors import InvalidAttestation, StateConflict

__all__ = ["ChainReader"]


class ChainReader:
    """Reads grants from ``registry`` and their attestations from ``attestations`` (by default
    the one the registry names)."""

    def __init__(
        self,
        *,
        registry: ConsentRegistryContract,
        attestations: IdentityAttestationsContract | None = None,
    ) -> None:
        self.registry = registry
        self.attestations = attestations or IdentityAttestationsContract(
            client=registry.client, address=registry.attestations()
        )

    def read(self, grant_ids: Iterable[bytes]) -> ChainView:
        grants: dict[bytes, ChainGrant] = {}
        unknown: dict[bytes, str] = {}
        attestations: dict[bytes, Attestation | str] = {}
        for grant_id in dict.fromkeys(grant_ids):
            try:
                record = self.registry.grant(grant_id)
            except StateConflict as exc:
                if exc.error != "ConsentRegistry__UnknownGrant":
                    raise
                unknown[grant_id] = "the ConsentRegistry holds no such grant"
                continue
            attestation_id = record.grant.attestation_id
            if attestation_id not in attestations:
                attestations[attestation_id] = self._attestation(attestation_id)
            attestation = attestations[attestation_id]
            if isinstance(attestation, str):
                unknown[grant_id] = attestation
                continue
            revocations = tuple(self.registry.revocations_of(grant_id))
            grants[grant_id] = ChainGrant(record, revocations, attestation)
        return ChainView(
            chain_id=self.registry.client.chain_id,
            registry=self.registry.address,
            grants=grants,
            unknown=unknown,
        )

    def _attestation(self, attestation_id: bytes) -> Attestation | str:
        try:
            return self.attestations.attestation(attestation_id)
        except InvalidAttestation as exc:
            return f"its attestation cannot be relied on: {exc}"
        except StateConflict as exc:
            if exc.error != "IdentityAttestations__UnknownAttestation":
                raise
            return f"its attestation 0x{attestation_id.hex()} is not on chain"
