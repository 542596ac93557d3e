"""Members' services on one chain (:mod:`tests._fixtures.member_services`: A and B brokers, C
the auditor) sharing one IdentityAttestations and ConsentRegistry, deployed by member A and
recorded in every service's deployments before anything asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract, GrantRecord, Mode
from ledger.chain.deployments import Deployments, deploy_consent_contracts
from ledger.consent import AccessReceipt, new_receipt_id
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3
from ledger.db import open_database
from ledger.settings import Settings
from tests._fixtures.consent import attestation_input
from tests._fixtures.consortium import chain_time
from tests._fixtures.member_services import MemberServices, member_services


@dataclass
class ConsentServices:
    members: MemberServices
    attestations: IdentityAttestationsContract  # as member A (the attester)
    registry: ConsentRegistryContract  # as member B

    def record_use(
        self, record: GrantRecord, *, service: int = 0, request: bytes = b"release request"
    ) -> AccessReceipt:
        """An access receipt under ``record`` written into ``service``'s database (member A's:
        the attester's) as its release path writes one (now, the grant's mode, one field)."""
        per_use = record.grant.mode is Mode.PER_USE
        receipt = AccessReceipt(
            receipt_id=new_receipt_id(),
            grant_id=record.grant_id,
            attestation_id=record.grant.attestation_id,
            attester=self.attestations.client.address,
            caller=record.grant.grantee,
            fields=("family_name",),
            purpose="account-opening",
            used_at=datetime.now(UTC).replace(microsecond=0),
            request_sm3=sm3(request),
            mode=record.grant.mode,
            use_authorization=sm3(b"use of " + request) if per_use else None,
            chain_id=self.registry.client.chain_id,
            consent_registry=self.registry.address,
        )
        data_dir = self.members.services[service].data_dir
        database = open_database(Settings(data_dir=data_dir).resolved_database_url)
        try:
            database.record_receipt(receipt, max_uses=record.grant.max_uses or None)
        finally:
            database.close()
        return receipt

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
