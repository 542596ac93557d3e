"""``GET /v1/consents/{grant_id}/proof`` for the HTTP authorization matrix: as the consents'
routes (:mod:`tests.integration.api._consent_routes`), a fresh grant the matrix's customer
signed, recorded on chain directly, to the operator under its own attestation. Its readers get
the proof file; every other authenticated caller 404, as for no grant."""

from __future__ import annotations

from ledger import canonical
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.member.consents import ConsentRelay
from tests.integration.api._consent_routes import READERS, Build, Built, _recorded


def _consent_proof(relay: ConsentRelay, customer: SM2PrivateKey) -> Built:
    grant_id = canonical.hex0x(_recorded(relay, customer).digest)
    return "GET", f"/v1/consents/{grant_id}/proof", None


ROUTES: dict[str, Build] = {"consent-proof": _consent_proof}
ENDPOINTS = {"consent-proof": ("GET", "/v1/consents/{grant_id}/proof")}


def expected(caller: str, route: str) -> tuple[int, str | None]:
    """(status, problem type or None) of an authenticated ``caller``: the grant's readers get
    the file, anyone else the grant's 404."""
    assert route in ROUTES
    return (200, None) if caller in READERS else (404, "not-found")
