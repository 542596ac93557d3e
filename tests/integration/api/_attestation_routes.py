"""The ``/v1/attestations`` endpoints and the release endpoint for the HTTP authorization
matrix. The service under test runs on the dev chain's one-member consortium (its own account,
a broker): only that member (the matrix's ``operator``) attests, supersedes and revokes through
it (other brokers, auditors, the regulator, customers: 403); its attestations of the matrix's
customer are read by the operator (the attester), the customer, auditors and the regulator
(others: 404). Every grant is to the operator, which registered a ``disclosure-receiving``
key: it alone is released to (anyone else: 403 ``not-grantee``). Each cell builds what it
needs afresh (an attestation to supersede or revoke, a grant to release under)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ledger import canonical
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import CustomerWallet
from ledger.httpsig import Caller
from ledger.member.attestations import NewAttestation, Reverification
from ledger.service import RunningService
from tests._fixtures.consent import wallet_grant
from tests._fixtures.consortium import chain_time

Built = tuple[str, str, Any]
#: A route of the matrix: (the running service, the customer's key) -> request.
Build = Callable[[RunningService, SM2PrivateKey], Built]

YEAR = 365 * 24 * 3600
_receiving: set[str] = set()  # registries where the operator registered its receiving key


def _later(service: RunningService, seconds: int) -> str:
    return canonical.timestamp(datetime.fromtimestamp(chain_time(service.chain) + seconds, UTC))


def _verification(service: RunningService) -> dict[str, Any]:
    return {
        "fields": {"family_name": "王", "given_name": "五", "birth_date": "1988-08-08"},
        "level": "cn-aml/standard",
        "method": "id-document+liveness",
        "expires_at": _later(service, YEAR),
    }


def _operator(service: RunningService) -> Caller:
    key = SM2PrivateKey.generate().public_key()
    now = datetime.now(UTC).replace(microsecond=0)
    account = service.attestations.account
    return Caller(
        keyid="matrix", member_id=account, roles=frozenset({"broker"}), public_key=key, created=now
    )


def _attested(service: RunningService, customer: SM2PrivateKey) -> bytes:
    """A fresh attestation of ``customer`` by the service's member."""
    made = service.attestations.attest(
        _operator(service),
        NewAttestation(
            customer_key=customer.public_key(),
            id_type="cn-resident-id",
            id_number="110101198808088888",
            verification=Reverification(
                fields={"family_name": "王", "given_name": "五"},
                level="cn-aml/standard",
                method="id-document+liveness",
                expires_at=chain_time(service.chain) + YEAR,
            ),
        ),
    )
    return made.attestation_id


def _attest(service: RunningService, customer: SM2PrivateKey) -> Built:
    body = {
        **_verification(service),
        "customer_key": canonical.hex0x(customer.public_key().to_raw()),
        "subject": {"id_type": "cn-resident-id", "id_number": "110101198808088888"},
    }
    return "POST", "/v1/attestations", body


def _read(service: RunningService, customer: SM2PrivateKey) -> Built:
    return "GET", f"/v1/attestations/{canonical.hex0x(_attested(service, customer))}", None


def _supersede(service: RunningService, customer: SM2PrivateKey) -> Built:
    path = f"/v1/attestations/{canonical.hex0x(_attested(service, customer))}/supersede"
    return "POST", path, _verification(service)


def _revoke(service: RunningService, customer: SM2PrivateKey) -> Built:
    path = f"/v1/attestations/{canonical.hex0x(_attested(service, customer))}/revocation"
    return "POST", path, {"reason": "document-forged"}


def _release(service: RunningService, customer: SM2PrivateKey) -> Built:
    registry = service.governance.contracts()[1].address
    if registry not in _receiving:
        service.governance.register_key(
            "disclosure-receiving", SM2PrivateKey.generate().public_key()
        )
        _receiving.add(registry)
    options = wallet_grant(
        grantee=service.attestations.account,
        attestation_id=_attested(service, customer),
        now=chain_time(service.chain),
        fields=["given_name"],
    )
    signed = CustomerWallet(key=customer).grant(service.consents.domain(), **options)
    service.consents.relay_grant(_operator(service), signed)
    path = f"/v1/consents/{canonical.hex0x(signed.digest)}/releases"
    return "POST", path, {"fields": ["given_name"], "purpose": "account-opening", "use": None}


ROUTES: dict[str, Build] = {
    "attest": _attest,
    "read-attestation": _read,
    "supersede-attestation": _supersede,
    "revoke-attestation": _revoke,
    "release": _release,
}
ENDPOINTS = {
    "attest": ("POST", "/v1/attestations"),
    "read-attestation": ("GET", "/v1/attestations/{attestation_id}"),
    "supersede-attestation": ("POST", "/v1/attestations/{attestation_id}/supersede"),
    "revoke-attestation": ("POST", "/v1/attestations/{attestation_id}/revocation"),
    "release": ("POST", "/v1/consents/{grant_id}/releases"),
}
SUCCESS = {"attest": 201, "supersede-attestation": 201, "revoke-attestation": 200}
#: Who reads the operator's attestation of the customer.
READERS = {"auditor", "regulator", "customer", "operator"}


def expected(caller: str, route: str) -> tuple[int, str | None]:
    """(status, problem type or None) of an authenticated ``caller`` on ``route``."""
    if route == "read-attestation":
        return (200, None) if caller in READERS else (404, "not-found")
    if route == "release":
        return (201, None) if caller == "operator" else (403, "not-grantee")
    return (SUCCESS[route], None) if caller == "operator" else (403, "forbidden")
