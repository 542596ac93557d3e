"""Members' services on one chain (:mod:`tests._fixtures.member_services`: A and B brokers, C
the auditor) sharing one IdentityAttestations and ConsentRegistry, deployed by member A and
recorded in every service's deployments before anything asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract
from ledger.chain.deployments import Deployments, deploy_consent_contracts
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consent import attestation_input
from tests._fixtures.consortium import chain_time
from tests._fixtures.member_services import MemberServices, member_services


@dataclass
class ConsentServices:
    members: MemberServices
    attestations: IdentityAttestationsContract  # as member A (the attester)
    registry: ConsentRegistryContract  # as member B

    def attest(self, customer: SM2PrivateKey) -> bytes:
        """Member A attests ``customer`` (valid a year); the attestation ID."""
        now = chain_time(self.attestations.client)
        return self.attestations.attest(attestation_input(customer, now=now)).attestation_id


@contextmanager
def consent_services(rpc_url: str, directory: Path, *, count: int = 3) -> Iterator[ConsentServices]:
    with member_services(rpc_url, directory, count=count) as members:
        a = members.deployed.members[0]
        deployed = deploy_consent_contracts(
            a.client,
            Deployments(directory=members.services[0].data_dir / "deployments"),
            members.deployed.consortium_deployment.address,
        )
        for service in members.services[1:]:
            recorded = Deployments(directory=service.data_dir / "deployments")
            recorded.record(a.client.chain_id, "IdentityAttestations", deployed.attestations)
            recorded.record(a.client.chain_id, "ConsentRegistry", deployed.consent_registry)
        yield ConsentServices(
            members=members,
            attestations=IdentityAttestationsContract(
                client=a.client, address=deployed.attestations.address
            ),
            registry=ConsentRegistryContract(
                client=members.deployed.members[1].client,
                address=deployed.consent_registry.address,
            ),
        )
