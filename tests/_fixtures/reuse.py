"""Identity reuse on a real consortium (the governance anvil): member A attests a customer with
real Disclosures, the customer grants member B, and A's release is built exactly as A's service
answers ``POST /v1/consents/{grant_id}/releases``: an access receipt and the Disclosures sealed to
B's disclosure-receiving key (``ledger-release/1``). B's :class:`ReuseDesk` then opens and
checks it without A's HTTP service."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.agreement import Document
from ledger.attestation.kyc import PreparedAttestation, prepare, subject_commitment
from ledger.chain.attestations import Attestation
from ledger.chain.consent import Mode
from ledger.consent import AccessReceipt, new_receipt_id
from ledger.consent.envelope import ReleasedFields, seal_release
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3
from ledger.customer import ConsentDomain, CustomerWallet, SignedGrant
from ledger.db import Database
from ledger.member.reuse import CreateAgreement, ReleaseAsked, ReuseDesk
from tests._fixtures.consent import ConsentWorld, deploy_consent, now_of, random32
from tests._fixtures.consortium import DeployConsortium, Party

KYC = {
    "family_name": "王",
    "given_name": "小明",
    "id_number": "110101199003077777",
    "birth_date": "1990-03-07",
    "nationality": "CN",
    "phone": "+86 138 0000 0000",
}
ASKED = ("family_name", "given_name", "birth_date")
PURPOSE = "account-opening"
#: The account agreement's own terms, as B's broker wrote them.
TERMS = Document(b"Beta Brokerage account agreement: terms.\n")


def sign_grant(
    customer: CustomerWallet,
    domain: ConsentDomain,
    *,
    grantee: str,
    attestation_id: bytes,
    fields: list[str],
    now: int,
    lifetime: int = 30 * 86400,
    mode: Mode = Mode.STANDING,
) -> SignedGrant:
    """The customer's grant to ``grantee`` of ``fields`` for account opening (5 uses), from
    ``now`` for ``lifetime`` seconds, with a full notice."""
    return customer.grant(
        domain,
        grantee=grantee,
        attestation_id=attestation_id,
        fields=fields,
        purposes=[PURPOSE],
        method="verify-and-store",
        not_before=now,
        not_after=now + lifetime,
        notice_text="向 Beta Brokerage 提供您的身份信息用于开户",
        recipient_name="Beta Brokerage",
        recipient_contact="privacy@beta.example",
        categories=["identity"],
        sensitive=True,
        language="zh-CN",
        max_uses=5,
        mode=mode,
    )


@dataclass
class ReuseWorld:
    consent: ConsentWorld
    customer: CustomerWallet
    prepared: PreparedAttestation
    attestation_id: bytes
    disclosure_key: SM2PrivateKey  # B's disclosure-receiving key

    @property
    def a(self) -> Party:
        return self.consent.d.members[0]

    @property
    def b(self) -> Party:
        return self.consent.d.members[1]

    @property
    def domain(self) -> ConsentDomain:
        registry = self.consent.reg(self.b)
        return ConsentDomain(chain_id=registry.client.chain_id, registry=registry.address)

    def attestation(self) -> Attestation:
        return self.consent.att(self.a).attestation(self.attestation_id)

    def grant(
        self,
        *,
        grantee: Party | None = None,
        mode: Mode = Mode.STANDING,
        lifetime: int = 86400,
        attestation_id: bytes | None = None,
    ) -> SignedGrant:
        """A grant of ASKED (and the phone) for account opening, recorded on chain."""
        signed = sign_grant(
            self.customer,
            self.domain,
            grantee=(grantee or self.b).address,
            attestation_id=attestation_id or self.attestation_id,
            fields=[*ASKED, "phone"],
            now=now_of(self.a),
            lifetime=lifetime,
            mode=mode,
        )
        self.consent.reg(self.b).record_grant(signed.grant, signed.signature)
        return signed

    def receipt(
        self, grant_id: bytes, fields: tuple[str, ...] = ASKED, **changes: Any
    ) -> AccessReceipt:
        """The receipt A's service writes for a release of ``fields`` to B."""
        registry = self.consent.reg(self.a)
        values: dict[str, Any] = {
            "receipt_id": new_receipt_id(),
            "grant_id": grant_id,
            "attestation_id": registry.grant(grant_id).grant.attestation_id,
            "attester": self.a.address,
            "caller": self.b.address,
            "fields": fields,
            "purpose": PURPOSE,
            "used_at": datetime.fromtimestamp(now_of(self.a), UTC),
            "request_sm3": sm3(b"the request as B sent it"),
            "mode": Mode.STANDING,
            "use_authorization": None,
            "chain_id": registry.client.chain_id,
            "consent_registry": registry.address,
            **changes,
        }
        return AccessReceipt(**values)

    def reply(
        self,
        receipt: AccessReceipt,
        *,
        disclosed: tuple[str, ...] | None = None,
        to: SM2PrivateKey | None = None,
    ) -> dict[str, Any]:
        """A's 201 reply: the receipt and the Disclosures of ``disclosed`` (default: the
        receipt's fields) sealed to B's disclosure key (or ``to``)."""
        released = ReleasedFields(
            attestation_id=receipt.attestation_id,
            grant_id=receipt.grant_id,
            receipt_id=receipt.receipt_id,
            disclosures=self.prepared.select(disclosed or receipt.fields),
        )
        recipient = (to or self.disclosure_key).public_key()
        return {
            "receipt": json.loads(receipt.to_bytes()),
            "envelope": seal_release(released, recipient=recipient),
        }

    def desk(self, database: Database, create_agreement: CreateAgreement) -> ReuseDesk:
        return ReuseDesk(
            database=database,
            create_agreement=create_agreement,
            find_contracts=lambda: (self.consent.att(self.b), self.consent.reg(self.b)),
            member=self.b.address,
            disclosure_key=lambda: self.disclosure_key,
            request_key=lambda: self.b.sm2,
        )


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def asked(grant_id: bytes, fields: tuple[str, ...] = ASKED) -> ReleaseAsked:
    return ReleaseAsked(grant_id=grant_id, fields=fields, purpose=PURPOSE)


def attest(
    consent: ConsentWorld,
    customer: CustomerWallet,
    prepared: PreparedAttestation,
    *,
    lifetime: int,
    subject: bytes | None = None,
    supersedes: bytes | None = None,
) -> bytes:
    """Member A attests ``customer`` with ``prepared``'s Disclosures (verified a minute ago,
    valid ``lifetime`` seconds from then), or re-verifies ``supersedes``; the new ID."""
    a = consent.d.members[0]
    now = now_of(a)
    if subject is None:
        subject = subject_commitment(
            id_type="cn-resident-id", id_number=KYC["id_number"], salt=random32()
        )
    given = prepared.attestation_input(
        subject=subject,
        customer_key=customer.public_key,
        level="cn-aml/standard",
        method="id-document+liveness",
        verified_at=now - 60,
        expires_at=now - 60 + lifetime,
        content_ref=b"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    )
    if supersedes is not None:
        return consent.att(a).supersede(supersedes, given).attestation_id
    return consent.att(a).attest(given).attestation_id


def reuse_world(
    deploy_consortium: DeployConsortium, directory: Path, *, lifetime: int = 365 * 86400
) -> ReuseWorld:
    """A consortium with the consent contracts; A attests a fresh customer with KYC's real
    Disclosures (valid ``lifetime`` seconds from a minute ago)."""
    consent = deploy_consent(deploy_consortium(), directory)
    a = consent.d.members[0]
    # the customer's clock is the chain's: governance tests move the node's clock on
    customer = CustomerWallet(key=SM2PrivateKey.generate(), clock=lambda: _at(now_of(a)))
    prepared = prepare(KYC)
    return ReuseWorld(
        consent=consent,
        customer=customer,
        prepared=prepared,
        attestation_id=attest(consent, customer, prepared, lifetime=lifetime),
        disclosure_key=SM2PrivateKey.generate(),
    )
