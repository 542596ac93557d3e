"""A running member service (its database SQLite or PostgreSQL) on a real anvil node of its own,
as the attester: the dev chain's one-member consortium, whose member (the service's account,
a broker) attests customers, is granted to, and registered a ``disclosure-receiving`` key.
The node is the module's own: tests that need a grant or attestation to end let the wall clock
pass and mine a block (the chain's clock is never moved ahead of the customer's)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import CustomerWallet, SignedGrant
from ledger.httpsig import Caller, KeyTable
from ledger.member.attestations import Made, NewAttestation, Reverification
from ledger.service import RunningService, running_service
from ledger.settings import Settings
from tests._fixtures.consent import wallet_grant
from tests._fixtures.consortium import chain_time
from tests._fixtures.database import PostgresServer

#: The customer's verified fields (synthetic).
FIELDS: dict[str, object] = {
    "family_name": "张",
    "given_name": "三",
    "id_number": "110101199003077777",
    "birth_date": "1990-03-07",
    "nationality": "CN",
    "phone": "+86 138 0000 0000",
}
YEAR = 365 * 24 * 3600
DAY = 24 * 3600


def caller_of(member_id: str, *roles: str, key: SM2PrivateKey | None = None) -> Caller:
    public = (key or SM2PrivateKey.generate()).public_key()
    return Caller(
        keyid=f"test:{member_id}",
        member_id=member_id,
        roles=frozenset(roles),
        public_key=public,
        created=datetime.now(UTC).replace(microsecond=0),
    )


@dataclass
class ReleaseWorld:
    service: RunningService
    receiving: SM2PrivateKey  # the member's disclosure-receiving key
    wallet: CustomerWallet = field(
        default_factory=lambda: CustomerWallet(key=SM2PrivateKey.generate())
    )

    @property
    def account(self) -> str:
        return self.service.attestations.account

    @property
    def operator(self) -> Caller:
        """A broker of the member that runs the service (the grantee of every grant)."""
        return caller_of(self.account, "broker")

    def now(self) -> int:
        return chain_time(self.service.chain)

    def tick(self, seconds: float = 0) -> int:
        """Let ``seconds`` of wall time pass, then mine a block (at the wall clock's time)."""
        time.sleep(seconds)
        self.service.chain.json_rpc("evm_mine")
        return self.now()

    def attest(self, *, lifetime: int = YEAR, wallet: CustomerWallet | None = None) -> Made:
        wallet = wallet or self.wallet
        return self.service.attestations.attest(
            self.operator,
            NewAttestation(
                customer_key=wallet.public_key,
                id_type="cn-resident-id",
                id_number="110101199003077777",
                verification=Reverification(
                    fields=FIELDS,
                    level="cn-aml/standard",
                    method="id-document+liveness",
                    expires_at=self.now() + lifetime,
                ),
            ),
        )

    def grant(
        self,
        attestation_id: bytes,
        *,
        wallet: CustomerWallet | None = None,
        record: bool = True,
        **changes: Any,
    ) -> SignedGrant:
        """A grant to the service's member signed by the customer, relayed (``record``)."""
        options = wallet_grant(
            grantee=self.account,
            attestation_id=attestation_id,
            now=self.now(),
            fields=["family_name", "given_name", "birth_date"],
            **changes,
        )
        signed = (wallet or self.wallet).grant(self.service.consents.domain(), **options)
        if record:
            self.service.consents.relay_grant(self.operator, signed)
        return signed

    def use(
        self, grant_id: bytes, fields: list[str], *, wallet: CustomerWallet | None = None
    ) -> dict[str, Any]:
        signed = (wallet or self.wallet).authorize_use(
            self.service.consents.domain(),
            grant_id=grant_id,
            grantee=self.account,
            fields=fields,
            purpose="account-opening",
        )
        return signed.to_json()


def body(
    fields: list[str], *, use: dict[str, Any] | None = None, purpose: str = "account-opening"
) -> bytes:
    return json.dumps({"fields": fields, "purpose": purpose, "use": use}).encode()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, own_chain_url: str
) -> Iterator[ReleaseWorld]:
    data = tmp_path_factory.mktemp(f"attester-{request.param}")
    dropped = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = server.create_database()
        url = server.url(name)
        dropped = (server, name)
    else:
        url = f"sqlite:///{data / 'ledger.db'}"
    settings = Settings(
        data_dir=data / "data",
        chain_rpc_url=own_chain_url,
        chain_private_key=DEV_PRIVATE_KEY,
        database_url=url,
        batch_max_wait_s=0.1,
    )
    try:
        with running_service(settings, directory=KeyTable()) as service:
            receiving = SM2PrivateKey.generate()
            service.governance.register_key("disclosure-receiving", receiving.public_key())
            yield ReleaseWorld(service=service, receiving=receiving)
    finally:
        if dropped is not None:
            dropped[0].drop_database(dropped[1])
