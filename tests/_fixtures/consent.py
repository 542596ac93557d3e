"""IdentityAttestations and a ConsentRegistry over a test consortium, with customers' keys and
sample attestations and grants (no personal data: subjects and digests are random)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ledger.chain._binding import name_id
from ledger.chain.attestations import AttestationInput, IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract, Grant, Mode, Notice, Revocation
from ledger.chain.deployments import Deployments, deploy_consent_contracts
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3
from tests._fixtures.consortium import Deployed, Party, chain_time

#: The sample attestations' fields (name IDs are keccak256 of these names).
FIELD_NAMES = (
    "family_name",
    "given_name",
    "id_number",
    "birth_date",
    "nationality",
    "address",
    "phone",
    "id_document_expiry",
)
FIELDS = tuple(name_id(n) for n in FIELD_NAMES)
LEVEL = name_id("cn-aml/standard")
METHOD = name_id("id-document+liveness")
DAY = 24 * 3600
YEAR = 365 * DAY


def random32() -> bytes:
    return os.urandom(32)


@dataclass
class ConsentWorld:
    """Views of both contracts per party (same order as the consortium's)."""

    d: Deployed
    attestations: dict[str, IdentityAttestationsContract]
    registries: dict[str, ConsentRegistryContract]

    def att(self, party: Party) -> IdentityAttestationsContract:
        return self.attestations[party.address]

    def reg(self, party: Party) -> ConsentRegistryContract:
        return self.registries[party.address]


def deploy_consent(d: Deployed, directory: Path) -> ConsentWorld:
    """Deploy both contracts over ``d``'s consortium (as its first member)."""
    first = d.members[0]
    deployed = deploy_consent_contracts(
        first.client, Deployments(directory=directory), d.consortium_deployment.address
    )
    parties = [*d.members, *d.outsiders]
    return ConsentWorld(
        d=d,
        attestations={
            p.address: IdentityAttestationsContract(
                client=p.client, address=deployed.attestations.address
            )
            for p in parties
        },
        registries={
            p.address: ConsentRegistryContract(
                client=p.client, address=deployed.consent_registry.address
            )
            for p in parties
        },
    )


def attestation_input(
    customer: SM2PrivateKey,
    *,
    now: int,
    subject: bytes | None = None,
    fields: int = len(FIELDS),
    lifetime: int = YEAR,
) -> AttestationInput:
    """A verification done a minute before ``now``, valid ``lifetime`` seconds."""
    return AttestationInput(
        subject=subject or sm3(random32() + b"110101199003077777"),
        customer_key=customer.public_key(),
        level=LEVEL,
        method=METHOD,
        verified_at=now - 60,
        expires_at=now - 60 + lifetime,
        field_names=FIELDS[:fields],
        field_digests=tuple(random32() for _ in range(fields)),
        content_ref=b"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
        nonce=random32(),
    )


NOTICE = Notice(
    recipient_name="Beta Brokerage Co., Ltd.",
    recipient_contact="privacy@beta.example, +86 21 5555 0100",
    data_categories=(name_id("identity"), name_id("contact")),
    sensitive=True,
    notice_digest=sm3("向 Beta Brokerage 提供您的身份信息用于开户".encode()),
    language="zh-Hans-CN",
    separate_consent=True,
)


def make_grant(
    grantee: Party,
    attestation_id: bytes,
    *,
    now: int,
    fields: tuple[bytes, ...] = FIELDS[:3],
    mode: Mode = Mode.STANDING,
    lifetime: int = 30 * DAY,
) -> Grant:
    return Grant(
        grantee=grantee.address,
        attestation_id=attestation_id,
        fields=fields,
        purposes=(name_id("account-opening"),),
        processing_method=name_id("verify-and-store"),
        not_before=now,
        not_after=now + lifetime,
        max_uses=3,
        mode=mode,
        nonce=random32(),
        notice=replace(NOTICE, recipient_name=f"Member {grantee.address[:8]}"),
    )


def wallet_grant(
    *, grantee: str, attestation_id: bytes, now: int, **changes: Any
) -> dict[str, Any]:
    """The options of :meth:`ledger.customer.CustomerWallet.grant` for a standing grant of two
    fields for account opening, valid 30 days from ``now``, three uses (``changes`` win)."""
    return {
        "grantee": grantee,
        "attestation_id": attestation_id,
        "fields": ["family_name", "given_name"],
        "purposes": ["account-opening"],
        "method": "verify-and-store",
        "not_before": now,
        "not_after": now + 30 * DAY,
        "notice_text": "向 Beta Brokerage 提供您的身份信息用于开户",
        "recipient_name": "Beta Brokerage",
        "recipient_contact": "privacy@beta.example",
        "categories": ["identity"],
        "sensitive": True,
        "language": "zh-CN",
        "max_uses": 3,
        "mode": Mode.STANDING,
        **changes,
    }


def now_of(party: Party) -> int:
    return chain_time(party.client)


__all__ = [
    "DAY",
    "FIELDS",
    "LEVEL",
    "METHOD",
    "NOTICE",
    "ConsentWorld",
    "Revocation",
    "attestation_input",
    "deploy_consent",
    "make_grant",
    "now_of",
    "random32",
    "wallet_grant",
]
