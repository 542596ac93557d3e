"""Three members' services (A and B brokers, C the auditor: real ``python -m api`` processes, one
anvil node of the module's own) for the attestation and release API tests: member A attests
customers through its service, member B registered a ``disclosure-receiving`` key and is
granted to, the customer (registered in every service's members file) signs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from ledger import canonical
from ledger.chain.keys import KeyRegistryContract
from ledger.client import LedgerClient
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import ConsentDomain, CustomerWallet, to_bytes
from tests._fixtures.consent import wallet_grant
from tests._fixtures.consent_services import ConsentServices, consent_services
from tests._fixtures.consortium import chain_time

YEAR = 365 * 24 * 3600
FIELDS = {"family_name": "李", "given_name": "四", "birth_date": "1985-05-05", "nationality": "CN"}


def ok(reply: httpx.Response, status: int) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


@dataclass
class AttesterWorld:
    found: ConsentServices
    receiving: SM2PrivateKey  # B's disclosure-receiving key
    wallet: CustomerWallet
    domain: ConsentDomain

    @property
    def members(self) -> Any:
        return self.found.members

    def account(self, member: int) -> str:
        return str(self.members.deployed.members[member].address)

    def now(self) -> int:
        return chain_time(self.found.registry.client)

    def tick(self) -> None:
        """Mine a block at the wall clock's time (the chain's clock is never moved ahead)."""
        self.found.registry.client.json_rpc("evm_mine")

    def as_member(self, member: int, *, at: int = 0) -> LedgerClient:
        return self.members.as_member(member, at=at)  # type: ignore[no-any-return]

    def as_customer(self, at: int = 0) -> LedgerClient:
        return self.members.client(at, self.members.customer)  # type: ignore[no-any-return]

    def attestation_body(self, **changes: Any) -> dict[str, Any]:
        expires = datetime.fromtimestamp(self.now() + YEAR, UTC)
        return {
            "fields": FIELDS,
            "level": "cn-aml/standard",
            "method": "id-document+liveness",
            "expires_at": canonical.timestamp(expires),
            "customer_key": canonical.hex0x(self.wallet.public_key.to_raw()),
            "subject": {"id_type": "cn-resident-id", "id_number": "110101198505055555"},
            **changes,
        }

    def attest(self) -> str:
        """Member A attests the customer through its service; the attestation ID."""
        with self.as_member(0) as a:
            return str(
                ok(a.post("/v1/attestations", json=self.attestation_body()), 201)["attestation_id"]
            )

    def grant(self, attestation_id: str, *, grantee: int = 1, **changes: Any) -> str:
        """The customer grants ``grantee`` (relayed through B's service); the grant ID."""
        options = wallet_grant(
            grantee=self.account(grantee),
            attestation_id=canonical.unhex0x(attestation_id),
            now=self.now(),
            max_uses=5,
            **changes,
        )
        signed = self.wallet.grant(self.domain, **options)
        with self.as_member(1, at=1) as b:
            ok(b.post("/v1/consents", json=json.loads(to_bytes(signed))), 201)
        return canonical.hex0x(signed.digest)

    def receipts(self, grant_id: str) -> list[dict[str, Any]]:
        """The receipts A's service recorded under the grant (as the customer reads them)."""
        with self.as_customer(0) as customer:
            return list(ok(customer.get(f"/v1/consents/{grant_id}/receipts"), 200)["receipts"])


@contextmanager
def attester_world(rpc_url: str, directory: Path) -> Iterator[AttesterWorld]:
    with consent_services(rpc_url, directory) as found:
        members = found.members
        b = members.deployed.members[1]
        receiving = SM2PrivateKey.generate()
        KeyRegistryContract(
            client=b.client, address=members.deployed.registry_deployment.address
        ).register("disclosure-receiving", receiving.public_key())
        yield AttesterWorld(
            found=found,
            receiving=receiving,
            wallet=CustomerWallet(key=members.customer),
            domain=ConsentDomain(
                chain_id=found.registry.client.chain_id, registry=found.registry.address
            ),
        )
