"""Authorization matrix of the Consortium and the KeyRegistry: every state-changing function called
as an outsider, a member voted out, an auditor and a broker; the exact custom error, or success
and its event. Governance and keys are open to every member whatever its roles (auditors and the
regulator vote and sign requests too); roles gate what other contracts allow (isAllowed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ledger.chain.client import SentTransaction
from ledger.chain.consortium import ProposalKind, Proposed, Thresholds
from ledger.chain.errors import NotPermitted
from ledger.chain.keys import Registered
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consortium import (
    Deployed,
    Party,
    carry,
    chain_snapshot,
    make_consortium,
    refused,
)

CALLERS = ("outsider", "removed", "auditor", "broker")


@dataclass
class World:
    d: Deployed
    callers: dict[str, Party]
    open_vote: bytes  # Active, proposed by the first broker
    executable: bytes  # Succeeded
    own_proposal: dict[str, bytes]  # per member caller (and the removed one, made before)
    own_key: dict[str, bytes]  # a key of each member caller (and of the removed one)


@pytest.fixture(scope="module")
def built_world(governance_url: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    """Built once for the module; each test runs on a chain snapshot of it."""
    roles = (("broker",), ("broker",), ("auditor",), ("regulator",), ("broker",))
    d = make_consortium(
        governance_url,
        tmp_path_factory.mktemp("deployments"),
        founders=5,
        thresholds=Thresholds(2, 2, 2, 2, 2),
        roles=roles,
    )
    a, b, auditor, _, leaving = d.members
    own_proposal = {
        "auditor": auditor.consortium.propose_threshold(ProposalKind.GRANT_ROLE, 3).proposal_id,
        "broker": b.consortium.propose_threshold(ProposalKind.REVOKE_ROLE, 3).proposal_id,
        "removed": leaving.consortium.propose_threshold(ProposalKind.GRANT_ROLE, 4).proposal_id,
    }
    own_key = {
        name: party.keys.register("request-signing", party.sm2.public_key()).key_id
        for name, party in (("auditor", auditor), ("broker", b), ("removed", leaving))
    }
    removal = a.consortium.propose_removal(leaving.address)
    carry(a, [a, b], removal.proposal_id)
    open_vote = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 3).proposal_id
    executable = a.consortium.propose_threshold(ProposalKind.CHANGE_THRESHOLD, 3).proposal_id
    a.consortium.vote(executable)
    d.members[3].consortium.vote(executable)
    callers = {"outsider": d.outsiders[0], "removed": leaving, "auditor": auditor, "broker": b}
    return World(d, callers, open_vote, executable, own_proposal, own_key)


@pytest.fixture
def world(built_world: World) -> Iterator[World]:
    with chain_snapshot(built_world.d.members[0].client):
        yield built_world


def _fresh() -> Any:
    return SM2PrivateKey.generate().public_key()


#: function -> (call as ``caller`` in ``world``, the event a success emits)
FUNCTIONS: dict[str, tuple[Callable[[World, str], Any], str]] = {
    "Consortium.proposeAdmission": (
        lambda w, c: w.callers[c].consortium.propose_admission(w.d.spec_for(w.d.outsiders[1])),
        "ProposalCreated",
    ),
    "Consortium.proposeRemoval": (
        lambda w, c: w.callers[c].consortium.propose_removal(w.d.members[3].address),
        "ProposalCreated",
    ),
    "Consortium.proposeThreshold": (
        lambda w, c: w.callers[c].consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 1),
        "ProposalCreated",
    ),
    "Consortium.proposeGrantRole": (
        lambda w, c: w.callers[c].consortium.propose_grant_role(w.d.members[0].address, "auditor"),
        "ProposalCreated",
    ),
    "Consortium.proposeRevokeRole": (
        lambda w, c: w.callers[c].consortium.propose_revoke_role(w.d.members[0].address, "broker"),
        "ProposalCreated",
    ),
    "Consortium.vote": (lambda w, c: w.callers[c].consortium.vote(w.open_vote), "VoteCast"),
    "Consortium.execute": (
        lambda w, c: w.callers[c].consortium.execute(w.executable),
        "ProposalExecuted",
    ),
    "Consortium.cancel": (
        lambda w, c: w.callers[c].consortium.cancel(w.own_proposal.get(c, w.open_vote)),
        "ProposalCanceled",
    ),
    "KeyRegistry.registerKey": (
        lambda w, c: w.callers[c].keys.register("proof-sealing", _fresh()),
        "KeyRegistered",
    ),
    "KeyRegistry.rotateKey": (
        lambda w, c: w.callers[c].keys.rotate(w.own_key.get(c, w.open_vote), _fresh()),
        "KeyRotated",
    ),
    "KeyRegistry.revokeKey": (
        lambda w, c: w.callers[c].keys.revoke(w.own_key.get(c, w.open_vote)),
        "KeyRevoked",
    ),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_authorization(world: World, function: str, caller: str) -> None:
    call, event = FUNCTIONS[function]
    contract = function.split(".")[0]
    party = world.callers[caller]
    if caller in ("outsider", "removed"):
        with refused(NotPermitted, f"{contract}__NotMember", party.address):
            call(world, caller)
        return
    done = call(world, caller)
    sent: SentTransaction = done.sent if isinstance(done, Proposed | Registered) else done
    binding = party.consortium if contract == "Consortium" else party.keys
    assert len(binding.events(event, sent)) == 1
