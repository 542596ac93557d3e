"""Random validity windows, revocations and supersessions on a real chain, each checked at every
instant around its boundaries:

- an attestation: the offline rule (``Attestation.valid_at``) is the contract's ``isValidAt``,
  whether it expires, is revoked or superseded; once it ended, no grant under it is recorded;
- a grant: ``GrantRecord.in_force_at`` (what services apply) holds inside the grant's window,
  from its recording on, until the block time of the first revocation signed by the customer,
  whatever bogus revocations members recorded before or after it.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.chain.consent import Revocation, grant_digest, revocation_digest
from ledger.chain.errors import StateConflict
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consent import (
    ConsentWorld,
    attestation_input,
    deploy_consent,
    make_grant,
    now_of,
    random32,
)
from tests._fixtures.consortium import chain_snapshot, make_consortium, mine_at, set_next_timestamp

CUSTOMER = SM2PrivateKey.generate()


@pytest.fixture(scope="module")
def world(governance_url: str, tmp_path_factory: pytest.TempPathFactory) -> ConsentWorld:
    d = make_consortium(governance_url, tmp_path_factory.mktemp("deployments"))
    return deploy_consent(d, tmp_path_factory.mktemp("consent-deployments"))


offsets = st.integers(min_value=1, max_value=500)
PROPERTY = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(
    lifetime=st.integers(min_value=200, max_value=600),  # ends well after the next block
    end=st.sampled_from(["expire", "revoke", "supersede"]),
    end_after=offsets,
)
def test_attestation_validity_is_the_contracts(
    world: ConsentWorld, lifetime: int, end: str, end_after: int
) -> None:
    a, b, _ = world.d.members
    with chain_snapshot(a.client):
        given_ = attestation_input(CUSTOMER, now=now_of(a), lifetime=lifetime)
        attestation_id = world.att(a).attest(given_).attestation_id
        ended_at = now_of(a) + end_after
        set_next_timestamp(a.client, ended_at)
        successor = None
        if end == "revoke":
            world.att(a).revoke(attestation_id, random32())
        elif end == "supersede":
            renewed = attestation_input(CUSTOMER, now=now_of(a), subject=given_.subject)
            successor = world.att(a).supersede(attestation_id, renewed).attestation_id
        else:
            mine_at(a.client, ended_at)
        stored = world.att(b).attestation(attestation_id)
        assert stored.ended_at == (None if end == "expire" else ended_at)
        assert stored.superseded_by == successor
        instants = {given_.verified_at - 1, given_.verified_at, given_.expires_at - 1}
        instants |= {given_.expires_at, ended_at - 1, ended_at, ended_at + 1}
        for t in sorted(instants):
            assert stored.valid_at(t) is world.att(b).is_valid_at(attestation_id, t), t
        if successor is not None:
            assert world.att(b).is_valid_at(successor, ended_at)
        now = now_of(a)
        if not stored.valid_at(now):
            with pytest.raises(StateConflict, match="ConsentRegistry__AttestationNotValid"):
                world.reg(a).record_grant(make_grant(b, attestation_id, now=now), b"\x30" * 70)


@PROPERTY
@given(
    window=st.tuples(st.integers(min_value=-100, max_value=100), offsets),
    revocations=st.lists(st.tuples(offsets, st.booleans()), max_size=4),
)
def test_a_grant_is_in_force_until_the_customers_first_revocation(
    world: ConsentWorld, window: tuple[int, int], revocations: list[tuple[int, bool]]
) -> None:
    a, b, auditor = world.d.members
    with chain_snapshot(a.client):
        attestation_id = (
            world.att(a).attest(attestation_input(CUSTOMER, now=now_of(a))).attestation_id
        )
        now = now_of(a)
        start, length = window
        grant = make_grant(b, attestation_id, now=now + start, lifetime=length + 200)
        registry = world.reg(a)
        domain = {"chain_id": a.client.chain_id, "contract": registry.address}
        grant_id = registry.record_grant(
            grant, CUSTOMER.sign(grant_digest(grant, **domain))
        ).record_id
        real_times = []
        at = now_of(a)
        for delay, real in revocations:
            at += delay
            set_next_timestamp(a.client, at)
            revocation = Revocation(grant_id=grant_id, nonce=random32())
            signature = (
                CUSTOMER.sign(revocation_digest(revocation, **domain)) if real else b"\x30" * 70
            )
            world.reg(b if not real else auditor).revoke(revocation, signature)
            if real:
                real_times.append(at)
        record = registry.grant(grant_id)
        recorded = registry.revocations_of(grant_id)
        assert [r.at for r in recorded] == sorted(r.at for r in recorded)
        revoked_at = min(real_times, default=None)
        start_at = max(grant.not_before, record.recorded_at)
        instants = {grant.not_before - 1, grant.not_before, grant.not_after - 1, grant.not_after}
        instants |= {record.recorded_at - 1, record.recorded_at}
        instants |= {t + d for t in (r.at for r in recorded) for d in (-1, 0)}
        for t in sorted(instants):
            expected = start_at <= t < grant.not_after and (revoked_at is None or t < revoked_at)
            in_force = record.in_force_at(
                t, customer_key=CUSTOMER.public_key(), revocations=recorded
            )
            assert in_force is expected, t
            other = SM2PrivateKey.generate().public_key()
            assert not record.in_force_at(t, customer_key=other, revocations=recorded)
