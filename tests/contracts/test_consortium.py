"""Consortium on a real anvil node: deployment, each kind of proposal, every proposal state, the
events each change emits (with their arguments) and the proposal IDs computed offline."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode as abi_encode
from eth_account import Account

from ledger.chain.client import ChainClient
from ledger.chain.consortium import (
    MAX_ENDPOINT_LENGTH,
    MAX_MEMBERS,
    MAX_NAME_LENGTH,
    MAX_PERIOD_S,
    ROLE_IDS,
    ProposalKind,
    ProposalState,
    Thresholds,
    encode_change,
    proposal_id_of,
)
from ledger.chain.errors import StateConflict
from tests._fixtures.consortium import (
    ANVIL_KEYS,
    DeployConsortium,
    advance,
    carry,
    chain_time,
    refused,
)

ZERO = b"\0" * 32


def test_founders_roles_and_thresholds_as_deployed(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium(founders=4, thresholds=Thresholds(3, 2, 4, 2, 1), voting_period_s=600)
    view = d.members[0].consortium
    members = view.members()
    assert [m.account for m in members] == [p.address for p in d.members]
    assert [m.name for m in members] == [s.name for s in d.specs]
    assert [m.endpoint for m in members] == [s.endpoint for s in d.specs]
    assert [m.key_fingerprint for m in members] == [
        p.sm2.public_key().fingerprint() for p in d.members
    ]
    assert [m.roles for m in members] == [("broker",), ("broker",), ("auditor",), ("regulator",)]
    assert view.member_count() == 4
    assert view.thresholds() == Thresholds(3, 2, 4, 2, 1)
    assert (view.voting_delay(), view.voting_period()) == (0, 600)
    assert view.proposal_ids() == []
    assert view.is_allowed(d.members[0].address, "broker")
    assert not view.is_allowed(d.members[0].address, "auditor")
    assert view.is_allowed(d.members[2].address, "auditor")
    assert view.is_allowed(d.members[3].address, "regulator")
    assert not view.is_member(d.outsiders[0].address)
    assert not view.is_allowed(d.outsiders[0].address, "broker")


def test_deployment_events(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium(founders=2, thresholds=Thresholds(1, 1, 2, 1, 2))
    client = d.members[0].client
    sent = client.wait(bytes.fromhex(d.consortium_deployment.tx_hash[2:]))
    view = d.members[0].consortium
    admitted = view.events("MemberAdmitted", sent)
    assert admitted == [
        {
            "account": spec.account,
            "proposalId": ZERO,
            "name": spec.name,
            "endpoint": spec.endpoint,
            "keyFingerprint": spec.key_fingerprint,
            "roles": [ROLE_IDS["broker"]],
        }
        for spec in d.specs
    ]
    assert view.events("RoleGranted", sent) == [
        {"account": spec.account, "role": ROLE_IDS["broker"], "proposalId": ZERO}
        for spec in d.specs
    ]
    assert view.events("ThresholdChanged", sent) == [
        {"kind": kind, "oldThreshold": 0, "newThreshold": value, "proposalId": ZERO}
        for kind, value in zip(ProposalKind, (1, 1, 2, 1, 2), strict=True)
    ]


def test_admission_from_proposal_to_execution(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium(voting_period_s=1000)
    a, b, c = d.members
    newcomer = d.outsiders[0]
    spec = d.spec_for(newcomer, roles=("broker", "auditor"))

    proposed = a.consortium.propose_admission(spec)
    block_time = chain_time(a.client)
    data = encode_change(ProposalKind.ADMIT_MEMBER, spec)
    expected_id = proposal_id_of(
        chain_id=a.client.chain_id,
        contract=a.consortium.address,
        number=1,
        kind=ProposalKind.ADMIT_MEMBER,
        data=data,
    )
    assert proposed.proposal_id == expected_id
    assert a.consortium.events("ProposalCreated", proposed.sent) == [
        {
            "proposalId": expected_id,
            "proposer": a.address,
            "kind": ProposalKind.ADMIT_MEMBER,
            "number": 1,
            "data": data,
            "voteStart": block_time,
            "voteEnd": block_time + 1000,
        }
    ]
    proposal = a.consortium.proposal(expected_id)
    assert (proposal.state, proposal.approvals, proposal.threshold) == (ProposalState.ACTIVE, 0, 2)
    assert proposal.data == data
    assert proposal.describe() == (
        f'admit-member {newcomer.address} "{spec.name}" {spec.endpoint} broker,auditor'
    )

    first = b.consortium.vote(expected_id)
    assert b.consortium.events("VoteCast", first) == [
        {"proposalId": expected_id, "voter": b.address, "approvals": 1}
    ]
    assert a.consortium.state(expected_id) is ProposalState.ACTIVE
    second = c.consortium.vote(expected_id)
    assert c.consortium.events("VoteCast", second)[0]["approvals"] == 2
    assert a.consortium.state(expected_id) is ProposalState.SUCCEEDED
    assert not newcomer.consortium.is_member(newcomer.address)  # not before execution

    executed = a.consortium.execute(expected_id)
    assert a.consortium.events("MemberAdmitted", executed) == [
        {
            "account": newcomer.address,
            "proposalId": expected_id,
            "name": spec.name,
            "endpoint": spec.endpoint,
            "keyFingerprint": spec.key_fingerprint,
            "roles": [ROLE_IDS["broker"], ROLE_IDS["auditor"]],
        }
    ]
    assert a.consortium.events("ProposalExecuted", executed) == [
        {"proposalId": expected_id, "executor": a.address}
    ]
    assert a.consortium.state(expected_id) is ProposalState.EXECUTED
    member = a.consortium.member(newcomer.address)
    assert member.roles == ("broker", "auditor")
    assert member.joined_at == chain_time(a.client)
    assert a.consortium.is_allowed(newcomer.address, "auditor")
    assert a.consortium.member_count() == 4
    # the new member votes at once
    again = newcomer.consortium.propose_removal(c.address)
    newcomer.consortium.vote(again.proposal_id)
    assert a.consortium.proposal(again.proposal_id).approvals == 1


def test_removal_drops_member_and_roles(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, c = d.members
    proposed = a.consortium.propose_removal(c.address)
    a.consortium.vote(proposed.proposal_id)
    b.consortium.vote(proposed.proposal_id)
    executed = b.consortium.execute(proposed.proposal_id)
    assert a.consortium.events("MemberRemoved", executed) == [
        {"account": c.address, "proposalId": proposed.proposal_id}
    ]
    assert not a.consortium.is_member(c.address)
    assert not a.consortium.is_allowed(c.address, "auditor")
    assert [m.account for m in a.consortium.members()] == [a.address, b.address]
    with refused(StateConflict, "Consortium__UnknownMember", c.address):
        a.consortium.member(c.address)
    assert a.consortium.member_count() == 2


def test_removal_of_a_middle_member_keeps_the_list_whole(
    deploy_consortium: DeployConsortium,
) -> None:
    d = deploy_consortium(founders=4, thresholds=Thresholds(2, 2, 2, 2, 2))
    a, b, _, _ = d.members
    proposed = a.consortium.propose_removal(b.address)
    carry(a, [a, b], proposed.proposal_id)
    assert [m.account for m in a.consortium.members()] == [
        d.members[0].address,
        d.members[3].address,
        d.members[2].address,
    ]


def test_threshold_change(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    proposed = a.consortium.propose_threshold(ProposalKind.GRANT_ROLE, 3)
    assert (
        a.consortium.proposal(proposed.proposal_id).describe() == "change-threshold grant-role -> 3"
    )
    a.consortium.vote(proposed.proposal_id)
    b.consortium.vote(proposed.proposal_id)
    executed = a.consortium.execute(proposed.proposal_id)
    assert a.consortium.events("ThresholdChanged", executed) == [
        {
            "kind": ProposalKind.GRANT_ROLE,
            "oldThreshold": 2,
            "newThreshold": 3,
            "proposalId": proposed.proposal_id,
        }
    ]
    assert a.consortium.threshold(ProposalKind.GRANT_ROLE) == 3
    assert a.consortium.thresholds() == Thresholds(2, 2, 2, 3, 2)


def test_grant_and_revoke_role(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, c = d.members
    grant = a.consortium.propose_grant_role(c.address, "regulator")
    assert a.consortium.proposal(grant.proposal_id).describe() == (
        f"grant-role {c.address} regulator"
    )
    carry(a, [a, b], grant.proposal_id)
    assert a.consortium.member(c.address).roles == ("auditor", "regulator")
    assert a.consortium.is_allowed(c.address, "regulator")

    revoke = b.consortium.propose_revoke_role(c.address, "auditor")
    b.consortium.vote(revoke.proposal_id)
    c.consortium.vote(revoke.proposal_id)
    executed = c.consortium.execute(revoke.proposal_id)
    assert a.consortium.events("RoleRevoked", executed) == [
        {"account": c.address, "role": ROLE_IDS["auditor"], "proposalId": revoke.proposal_id}
    ]
    assert a.consortium.member(c.address).roles == ("regulator",)
    assert not a.consortium.is_allowed(c.address, "auditor")
    assert a.consortium.is_member(c.address)


def test_pending_until_the_voting_delay_passes(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium(voting_delay_s=100, voting_period_s=1000)
    a, b, _ = d.members
    proposed = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 3)
    created = chain_time(a.client)
    proposal = a.consortium.proposal(proposed.proposal_id)
    assert (proposal.vote_start, proposal.vote_end) == (created + 100, created + 1100)
    assert proposal.state is ProposalState.PENDING
    with refused(
        StateConflict,
        "Consortium__ProposalNotActive",
        proposed.proposal_id,
        ProposalState.PENDING,
    ):
        b.consortium.vote(proposed.proposal_id)
    advance(a.client, 100)
    assert a.consortium.state(proposed.proposal_id) is ProposalState.ACTIVE
    b.consortium.vote(proposed.proposal_id)


def test_cancel_by_the_proposer(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    proposed = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 3)
    a.consortium.vote(proposed.proposal_id)
    b.consortium.vote(proposed.proposal_id)
    assert a.consortium.state(proposed.proposal_id) is ProposalState.SUCCEEDED
    sent = a.consortium.cancel(proposed.proposal_id)
    assert a.consortium.events("ProposalCanceled", sent) == [{"proposalId": proposed.proposal_id}]
    assert a.consortium.state(proposed.proposal_id) is ProposalState.CANCELED
    with refused(
        StateConflict,
        "Consortium__ProposalNotSucceeded",
        proposed.proposal_id,
        ProposalState.CANCELED,
    ):
        b.consortium.execute(proposed.proposal_id)
    assert a.consortium.threshold(ProposalKind.ADMIT_MEMBER) == 2


@pytest.mark.parametrize(
    ("votes", "final"), [(1, ProposalState.DEFEATED), (2, ProposalState.EXPIRED)]
)
def test_deadline_ends_the_vote(
    deploy_consortium: DeployConsortium, votes: int, final: ProposalState
) -> None:
    d = deploy_consortium(voting_period_s=500)
    proposer = d.members[0]
    proposed = proposer.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 3)
    for voter in d.members[:votes]:
        voter.consortium.vote(proposed.proposal_id)
    proposal = proposer.consortium.proposal(proposed.proposal_id)
    # the last second of the vote is still inside it ...
    advance(proposer.client, proposal.vote_end - chain_time(proposer.client) - 1)
    assert proposer.consortium.state(proposed.proposal_id) in (
        ProposalState.ACTIVE,
        ProposalState.SUCCEEDED,
    )
    # ... the deadline itself is not
    advance(proposer.client, 1)
    assert proposer.consortium.state(proposed.proposal_id) is final
    with refused(StateConflict, "Consortium__ProposalNotSucceeded", proposed.proposal_id, final):
        proposer.consortium.execute(proposed.proposal_id)
    with refused(StateConflict, "Consortium__ProposalNotActive", proposed.proposal_id, final):
        d.members[2].consortium.vote(proposed.proposal_id)
    with refused(StateConflict, "Consortium__ProposalNotCancelable", proposed.proposal_id, final):
        proposer.consortium.cancel(proposed.proposal_id)
    assert proposer.consortium.threshold(ProposalKind.ADMIT_MEMBER) == 2


def test_votes_of_removed_members_stop_counting(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium(founders=4, thresholds=Thresholds(3, 2, 2, 2, 2))
    a, b, c, _ = d.members
    admission = a.consortium.propose_admission(d.spec_for(d.outsiders[0]))
    a.consortium.vote(admission.proposal_id)
    c.consortium.vote(admission.proposal_id)
    removal = a.consortium.propose_removal(c.address)
    carry(a, [a, b], removal.proposal_id)
    proposal = a.consortium.proposal(admission.proposal_id)
    assert (proposal.approvals, proposal.state) == (1, ProposalState.ACTIVE)
    assert a.consortium.has_voted(admission.proposal_id, c.address)
    b.consortium.vote(admission.proposal_id)
    assert a.consortium.state(admission.proposal_id) is ProposalState.ACTIVE


def test_raising_the_threshold_reopens_a_succeeded_proposal(
    deploy_consortium: DeployConsortium,
) -> None:
    d = deploy_consortium()
    a, b, c = d.members
    grant = a.consortium.propose_grant_role(a.address, "auditor")
    a.consortium.vote(grant.proposal_id)
    b.consortium.vote(grant.proposal_id)
    assert a.consortium.state(grant.proposal_id) is ProposalState.SUCCEEDED
    raise_it = b.consortium.propose_threshold(ProposalKind.GRANT_ROLE, 3)
    carry(b, [b, c], raise_it.proposal_id)
    assert a.consortium.state(grant.proposal_id) is ProposalState.ACTIVE
    c.consortium.vote(grant.proposal_id)
    a.consortium.execute(grant.proposal_id)
    assert a.consortium.is_allowed(a.address, "auditor")


def test_proposal_ids_list_every_proposal(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    first = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 1)
    second = b.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 1)  # same change again
    assert first.proposal_id != second.proposal_id
    assert a.consortium.proposal_ids() == [first.proposal_id, second.proposal_id]
    assert [p.number for p in a.consortium.proposals()] == [1, 2]
    on_chain = a.client.call(
        a.consortium._contract.functions.proposalIdOf(
            2,
            int(ProposalKind.CHANGE_THRESHOLD),
            abi_encode(["uint8", "uint256"], [int(ProposalKind.ADMIT_MEMBER), 1]),
        ),
        a.consortium.artifact,
    )
    assert bytes(on_chain) == second.proposal_id


def test_the_bindings_limits_are_the_contracts(deploy_consortium: DeployConsortium) -> None:
    view = deploy_consortium().members[0].consortium
    functions = view._contract.functions
    on_chain = [
        view._call(getattr(functions, name)())
        for name in ("MAX_MEMBERS", "MAX_NAME_LENGTH", "MAX_ENDPOINT_LENGTH", "MAX_PERIOD")
    ]
    assert on_chain == [MAX_MEMBERS, MAX_NAME_LENGTH, MAX_ENDPOINT_LENGTH, MAX_PERIOD_S]
    roles = [bytes(view._call(getattr(functions, f"{name.upper()}_ROLE")())) for name in ROLE_IDS]
    assert roles == list(ROLE_IDS.values())


def test_the_anvil_keys_are_anvils_funded_accounts(governance_url: str) -> None:
    client = ChainClient(rpc_url=governance_url)
    accounts = client.json_rpc("eth_accounts")
    assert [Account.from_key(k).address.lower() for k in ANVIL_KEYS] == [
        a.lower() for a in accounts
    ]
