"""The offline rule (``KeyEntry.valid_at``, what ``ledger verify`` applies to a proof's registry
entry) agrees with the KeyRegistry's own ``isValidAt`` and ``validKeysAt`` for random windows,
rotations and revocations, at every instant around their boundaries."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consortium import Deployed, chain_snapshot, chain_time, make_consortium

SIGNING = "request-signing"
KEYS = [SM2PrivateKey.generate().public_key() for _ in range(2)]


@pytest.fixture(scope="module")
def deployed(governance_url: str, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    return make_consortium(governance_url, tmp_path_factory.mktemp("deployments"))


offsets = st.integers(min_value=1, max_value=500)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    start=offsets,
    length=st.one_of(st.none(), offsets),
    rotate_after=st.one_of(st.none(), st.integers(min_value=0, max_value=600)),
    revoke_after=st.one_of(st.none(), st.integers(min_value=0, max_value=600)),
)
def test_offline_rule_is_the_contracts(
    deployed: Deployed,
    start: int,
    length: int | None,
    rotate_after: int | None,
    revoke_after: int | None,
) -> None:
    party = deployed.members[0]
    with chain_snapshot(party.client):
        now = chain_time(party.client)
        not_before = now + start
        not_after = None if length is None else not_before + length
        first = party.keys.register(
            SIGNING, KEYS[0], not_before=not_before, not_after=not_after
        ).key_id
        instants = {not_before - 1, not_before, now + 1200}
        if not_after is not None:
            instants |= {not_after - 1, not_after}
        if rotate_after is not None and (length is None or rotate_after < length):
            at = not_before + rotate_after
            party.keys.rotate(first, KEYS[1], not_before=at)
            instants |= {at - 1, at}
        if revoke_after is not None:
            at = not_before + revoke_after
            party.keys.revoke(first, effective_at=at)
            instants |= {at - 1, at}
        entries = party.keys.keys_of(party.address, SIGNING)
        for t in sorted(instants):
            for entry in entries:
                on_chain = party.keys.is_valid_at(party.address, SIGNING, entry.fingerprint, t)
                assert entry.valid_at(t) is on_chain, (t, entry)
            valid = [e.key_id for e in party.keys.valid_keys_at(party.address, SIGNING, t)]
            assert valid == [e.key_id for e in entries if e.valid_at(t)]
