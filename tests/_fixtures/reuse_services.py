"""Reuse across members' running services (:mod:`tests._fixtures.consent_services`): B's
service gets its request-signing and disclosure-receiving keys (the latter registered on
chain), A attests the customer through its own service, and the customer signs a grant to B
(not yet relayed); the body of B's ``POST /v1/reliances`` asks for two of the fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ledger import canonical
from ledger.chain.keys import KeyRegistryContract
from ledger.crypto.keystore import Keystore
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import ConsentDomain, CustomerWallet, SignedGrant
from ledger.settings import Settings
from tests._fixtures.consent_services import ConsentServices
from tests._fixtures.consortium import chain_time
from tests._fixtures.reuse import sign_grant


@dataclass
class Reusable:
    wallet: CustomerWallet
    domain: ConsentDomain
    attestation_id: str  # 0x hex, as A's service answered
    signed: SignedGrant  # the customer's grant to B
    reuse: dict[str, Any]  # the body of B's POST /v1/reliances
    now: int  # the chain's time when the grant was signed

    @property
    def grant_id(self) -> str:
        return canonical.hex0x(self.signed.digest)


def ok(reply: httpx.Response, status: int) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def prepare_reuse(found: ConsentServices) -> Reusable:
    members = found.members
    b = members.deployed.members[1]
    keystore = Keystore(directory=members.services[1].data_dir / "keys")
    password = Settings().keystore_password.get_secret_value().encode()
    keystore.save("request-signing", b.sm2, password)  # B's registered request key
    receiving = SM2PrivateKey.generate()
    keystore.save("disclosure-receiving", receiving, password)
    KeyRegistryContract(
        client=b.client, address=members.deployed.registry_deployment.address
    ).register("disclosure-receiving", receiving.public_key())
    wallet = CustomerWallet(key=members.customer)
    domain = ConsentDomain(chain_id=found.registry.client.chain_id, registry=found.registry.address)
    now = chain_time(found.registry.client)
    kyc = {"family_name": "李", "given_name": "四", "birth_date": "1985-05-05"}
    with members.as_member(0) as a:
        attestation_id = ok(
            a.post(
                "/v1/attestations",
                json={
                    "fields": kyc,
                    "level": "cn-aml/standard",
                    "method": "id-document+liveness",
                    "expires_at": canonical.timestamp(
                        datetime.fromtimestamp(now + 365 * 86400, UTC)
                    ),
                    "customer_key": canonical.hex0x(wallet.public_key.to_raw()),
                    "subject": {"id_type": "cn-resident-id", "id_number": "1101011985"},
                },
            ),
            201,
        )["attestation_id"]
    signed = sign_grant(
        wallet,
        domain,
        grantee=b.address,
        attestation_id=canonical.unhex0x(attestation_id),
        fields=["family_name", "given_name"],
        now=now,
    )
    reuse = {
        "grant_id": canonical.hex0x(signed.digest),
        "fields": ["given_name", "family_name"],
        "purpose": "account-opening",
        "terms": {"content": "QmV0YSBhY2NvdW50IHRlcm1z", "media_type": "text/plain"},
        "attester_url": members.services[0].url,
    }
    return Reusable(wallet, domain, attestation_id, signed, reuse, now)
