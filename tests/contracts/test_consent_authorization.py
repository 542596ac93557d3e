"""Authorization matrix of IdentityAttestations and the ConsentRegistry: every state-changing
function called as an outsider, a member voted out, an auditor and a broker; the exact custom
error, or success and its event. Attesting, revoking and superseding need the broker role now
(isAllowed); relaying a customer's grant or revocation needs membership only (isMember)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ledger.chain.consent import Revocation
from ledger.chain.consortium import role_id
from ledger.chain.errors import NotPermitted
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consent import (
    ConsentWorld,
    attestation_input,
    deploy_consent,
    make_grant,
    now_of,
    random32,
)
from tests._fixtures.consortium import Party, carry, chain_snapshot, make_consortium, refused

CALLERS = ("outsider", "removed", "auditor", "broker")
BROKER = role_id("broker")


@dataclass
class World:
    w: ConsentWorld
    callers: dict[str, Party]
    customer: SM2PrivateKey
    shared: bytes  # an attestation of the first broker, valid
    own: dict[str, bytes]  # an attestation of each broker caller (the removed one's made before)
    grant_id: bytes  # recorded under `shared`


@pytest.fixture(scope="module")
def built_world(governance_url: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    roles = (("broker",), ("broker",), ("auditor",), ("regulator",), ("broker",))
    d = make_consortium(
        governance_url, tmp_path_factory.mktemp("deployments"), founders=5, roles=roles
    )
    w = deploy_consent(d, tmp_path_factory.mktemp("consent-deployments"))
    a, b, auditor, _, leaving = d.members
    customer = SM2PrivateKey.generate()
    now = now_of(a)
    own = {
        name: w.att(party).attest(attestation_input(customer, now=now)).attestation_id
        for name, party in (("broker", b), ("removed", leaving))
    }
    shared = w.att(a).attest(attestation_input(customer, now=now)).attestation_id
    grant = make_grant(b, shared, now=now)
    grant_id = w.reg(a).record_grant(grant, b"\x30" * 70).record_id
    carry(a, [a, b], a.consortium.propose_removal(leaving.address).proposal_id)
    callers = {"outsider": d.outsiders[0], "removed": leaving, "auditor": auditor, "broker": b}
    return World(w, callers, customer, shared, own, grant_id)


@pytest.fixture
def world(built_world: World) -> Iterator[World]:
    with chain_snapshot(built_world.w.d.members[0].client):
        yield built_world


def _attestation_of(w: World, caller: str) -> bytes:
    return w.own.get(caller, w.shared)


def _re_verification(w: World, caller: str) -> Any:
    old = w.w.att(w.callers["broker"]).attestation(_attestation_of(w, caller))
    party = w.callers[caller]
    given = attestation_input(w.customer, now=now_of(party), subject=old.subject)
    return w.w.att(party).supersede(old.attestation_id, given)


def _grant(w: World, caller: str) -> Any:
    party = w.callers[caller]
    grant = make_grant(w.w.d.members[1], w.shared, now=now_of(party))
    return w.w.reg(party).record_grant(dataclasses.replace(grant, nonce=random32()), b"\x30" * 70)


#: function -> (call as ``caller`` in ``world``, the event a success emits, whether a broker
#: role is needed: else membership is enough)
FUNCTIONS: dict[str, tuple[Callable[[World, str], Any], str, bool]] = {
    "IdentityAttestations.attest": (
        lambda w, c: w.w.att(w.callers[c]).attest(
            attestation_input(w.customer, now=now_of(w.callers[c]))
        ),
        "Attested",
        True,
    ),
    "IdentityAttestations.revoke": (
        lambda w, c: w.w.att(w.callers[c]).revoke(_attestation_of(w, c), random32()),
        "AttestationRevoked",
        True,
    ),
    "IdentityAttestations.supersede": (_re_verification, "AttestationSuperseded", True),
    "ConsentRegistry.recordGrant": (_grant, "GrantRecorded", False),
    "ConsentRegistry.revoke": (
        lambda w, c: w.w.reg(w.callers[c]).revoke(
            Revocation(grant_id=w.grant_id, nonce=random32()), b"\x30" * 70
        ),
        "RevocationRecorded",
        False,
    ),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_authorization(world: World, function: str, caller: str) -> None:
    call, event, needs_broker = FUNCTIONS[function]
    contract = function.split(".")[0]
    party = world.callers[caller]
    if needs_broker and caller != "broker":
        with refused(NotPermitted, "IdentityAttestations__NotPermitted", party.address, BROKER):
            call(world, caller)
        return
    if not needs_broker and caller in ("outsider", "removed"):
        with refused(NotPermitted, "ConsentRegistry__NotMember", party.address):
            call(world, caller)
        return
    done = call(world, caller)
    binding = world.w.att(party) if contract == "IdentityAttestations" else world.w.reg(party)
    assert len(binding.events(event, done if hasattr(done, "receipt") else done.sent)) == 1
