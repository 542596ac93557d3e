"""Gas of each consent operation, from real receipts, held under ceilings (about 10% above what
was measured when the contracts were written: a regression guard, not a benchmark). Run with
``-s`` to see the numbers."""

from __future__ import annotations

from pathlib import Path

from ledger.chain.client import SentTransaction
from ledger.chain.consent import Revocation, grant_digest, revocation_digest
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consent import (
    attestation_input,
    deploy_consent,
    make_grant,
    now_of,
    random32,
)
from tests._fixtures.consortium import DeployConsortium

#: operation -> most gas it may use
CEILINGS = {
    "attest (8 fields)": 830_000,  # measured 753_515
    "supersede (8 fields)": 880_000,  # 797_629
    "revoke attestation": 70_000,  # 62_239
    "recordGrant (3 fields)": 910_000,  # 827_954
    "revoke grant": 240_000,  # 217_906
}


def _gas(sent: SentTransaction) -> int:
    return int(sent.receipt["gasUsed"])


def test_gas_of_each_operation(deploy_consortium: DeployConsortium, tmp_path: Path) -> None:
    world = deploy_consent(deploy_consortium(), tmp_path / "consent-deployments")
    a, b, _ = world.d.members
    customer = SM2PrivateKey.generate()
    first = attestation_input(customer, now=now_of(a))
    attested = world.att(a).attest(first)
    renewed = attestation_input(customer, now=now_of(a), subject=first.subject)
    superseded = world.att(a).supersede(attested.attestation_id, renewed)
    other = world.att(a).attest(attestation_input(customer, now=now_of(a)))
    revoked = world.att(a).revoke(other.attestation_id, random32())
    registry = world.reg(b)
    domain = {"chain_id": b.client.chain_id, "contract": registry.address}
    grant = make_grant(b, superseded.attestation_id, now=now_of(a))
    recorded = registry.record_grant(grant, customer.sign(grant_digest(grant, **domain)))
    revocation = Revocation(grant_id=recorded.record_id, nonce=random32())
    revocation_signed = registry.revoke(
        revocation, customer.sign(revocation_digest(revocation, **domain))
    )
    measured = {
        "attest (8 fields)": _gas(attested.sent),
        "supersede (8 fields)": _gas(superseded.sent),
        "revoke attestation": _gas(revoked),
        "recordGrant (3 fields)": _gas(recorded.sent),
        "revoke grant": _gas(revocation_signed.sent),
    }
    for name, gas in measured.items():
        print(f"{name}: {gas} gas")
    assert all(gas <= CEILINGS[name] for name, gas in measured.items()), measured
