"""The ``/v1/consents`` endpoints for the HTTP authorization matrix. The service under test
runs on the dev chain's one-member consortium (its own account, a broker), so that account
attests the matrix's customer, and every grant is to it: the operator reads grants as grantee
and attester; other members (brokers A and B, the member without roles) are neither. Each cell
builds a fresh grant the customer signed (a revocation cell records its grant on chain first,
directly)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ledger import canonical
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.consent import ConsentRegistryContract
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import CustomerWallet, SignedGrant, to_bytes
from ledger.member.consents import ConsentRelay
from tests._fixtures.consent import attestation_input
from tests._fixtures.consortium import chain_time

Built = tuple[str, str, Any]
#: A route of the matrix: (the running service's relay, the customer's key) -> request.
Build = Callable[[ConsentRelay, SM2PrivateKey], Built]

_attested: dict[tuple[str, bytes], bytes] = {}


def _attestation(relay: ConsentRelay, customer: SM2PrivateKey) -> bytes:
    """The service's account's attestation of ``customer`` (made once per registry)."""
    attestations, registry = relay.contracts()
    cached = (registry.address, customer.public_key().to_raw())
    if cached not in _attested:
        on_chain = IdentityAttestationsContract(client=relay.client, address=attestations.address)
        made = on_chain.attest(attestation_input(customer, now=chain_time(relay.client)))
        _attested[cached] = made.attestation_id
    return _attested[cached]


def _grant(relay: ConsentRelay, customer: SM2PrivateKey) -> SignedGrant:
    now = chain_time(relay.client)
    return CustomerWallet(key=customer).grant(
        relay.domain(),
        grantee=relay.client.address,
        attestation_id=_attestation(relay, customer),
        fields=["family_name"],
        purposes=["account-opening"],
        method="verify-and-store",
        not_before=now,
        not_after=now + 30 * 24 * 3600,
        notice_text="notice",
        recipient_name="dev broker",
        recipient_contact="dev@example",
        categories=["identity"],
        sensitive=False,
        language="en",
    )


def _recorded(relay: ConsentRelay, customer: SM2PrivateKey) -> SignedGrant:
    signed = _grant(relay, customer)
    registry = ConsentRegistryContract(client=relay.client, address=relay.contracts()[1].address)
    registry.record_grant(signed.grant, signed.signature)
    return signed


def _relay_grant(relay: ConsentRelay, customer: SM2PrivateKey) -> Built:
    return "POST", "/v1/consents", json.loads(to_bytes(_grant(relay, customer)))


def _relay_revocation(relay: ConsentRelay, customer: SM2PrivateKey) -> Built:
    grant_id = _recorded(relay, customer).digest
    revocation = CustomerWallet(key=customer).revoke(relay.domain(), grant_id)
    path = f"/v1/consents/{canonical.hex0x(grant_id)}/revocations"
    return "POST", path, json.loads(to_bytes(revocation))


def _read_grant(relay: ConsentRelay, customer: SM2PrivateKey) -> Built:
    return "GET", f"/v1/consents/{canonical.hex0x(_recorded(relay, customer).digest)}", None


def _grant_receipts(relay: ConsentRelay, customer: SM2PrivateKey) -> Built:
    grant_id = canonical.hex0x(_recorded(relay, customer).digest)
    return "GET", f"/v1/consents/{grant_id}/receipts", None


def _list_grants(relay: ConsentRelay, customer: SM2PrivateKey) -> Built:
    query = f"attestation={canonical.hex0x(_attestation(relay, customer))}"
    return "GET", f"/v1/consents?{query}", None


ROUTES: dict[str, Build] = {
    "list-grants": _list_grants,
    "relay-grant": _relay_grant,
    "relay-revocation": _relay_revocation,
    "read-grant": _read_grant,
    "grant-receipts": _grant_receipts,
}
ENDPOINTS = {
    "list-grants": ("GET", "/v1/consents"),
    "relay-grant": ("POST", "/v1/consents"),
    "relay-revocation": ("POST", "/v1/consents/{grant_id}/revocations"),
    "read-grant": ("GET", "/v1/consents/{grant_id}"),
    "grant-receipts": ("GET", "/v1/consents/{grant_id}/receipts"),
}
#: Who reads a grant to the operator under its attestation of the customer.
READERS = {"auditor", "regulator", "customer", "operator"}


def expected(caller: str, route: str) -> tuple[int, str | None]:
    """(status, problem type or None) of an authenticated ``caller`` on ``route``: the customer
    and every member relay (the customer's signature is the authorization); readers read; a
    list shows each caller what it may read (perhaps nothing)."""
    if route == "list-grants":
        return 200, None
    if route in ("read-grant", "grant-receipts"):
        return (200, None) if caller in READERS else (404, "not-found")
    return 201, None
