"""Every custom error of the Consortium with its exact arguments: at deployment, when proposing,
voting, executing and cancelling, and when a change's preconditions no longer hold at execution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from eth_utils.crypto import keccak

from ledger.chain.artifact import load_artifact
from ledger.chain.client import ChainClient
from ledger.chain.consortium import (
    MAX_MEMBERS,
    ROLE_IDS,
    ConsortiumContract,
    MemberSpec,
    ProposalKind,
    ProposalState,
    Thresholds,
)
from ledger.chain.errors import InvalidArgument, NotPermitted, StateConflict, TransactionFailed
from tests._fixtures.consortium import ANVIL_KEYS, DeployConsortium, Deployed, carry, refused

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
UNKNOWN_ID = b"\x42" * 32
MAX_PERIOD = 365 * 24 * 3600


def _spec(i: int, **changes: Any) -> MemberSpec:
    spec = MemberSpec(
        account=Account.from_key(ANVIL_KEYS[i]).address,
        name=f"Member {i}",
        endpoint=f"https://m{i}.example",
        key_fingerprint=keccak(bytes([i])),
        roles=("broker",),
    )
    return replace(spec, **changes)


@pytest.mark.parametrize(
    ("founders", "thresholds", "delay", "period", "error", "args"),
    [
        ([], Thresholds(1, 1, 1, 1, 1), 0, 60, "Consortium__InvalidThreshold", (0, 1, 0)),
        (
            [_spec(0), _spec(1)],
            Thresholds(1, 1, 3, 1, 1),
            0,
            60,
            "Consortium__InvalidThreshold",
            (2, 3, 2),
        ),
        ([_spec(0)], Thresholds(1, 0, 1, 1, 1), 0, 60, "Consortium__InvalidThreshold", (1, 0, 1)),
        (
            [_spec(0, account=ZERO_ADDRESS)],
            Thresholds(1, 1, 1, 1, 1),
            0,
            60,
            "Consortium__InvalidMember",
            (ZERO_ADDRESS,),
        ),
        (
            [_spec(0), _spec(0, name="Again")],
            Thresholds(1, 1, 1, 1, 1),
            0,
            60,
            "Consortium__AlreadyMember",
            (_spec(0).account,),
        ),
        (
            [_spec(0)],
            Thresholds(1, 1, 1, 1, 1),
            0,
            0,
            "Consortium__InvalidVotingPeriod",
            (0, 0, MAX_PERIOD),
        ),
        (
            [_spec(0)],
            Thresholds(1, 1, 1, 1, 1),
            MAX_PERIOD + 1,
            60,
            "Consortium__InvalidVotingPeriod",
            (MAX_PERIOD + 1, 60, MAX_PERIOD),
        ),
        (
            [_spec(0)],
            Thresholds(1, 1, 1, 1, 1),
            0,
            MAX_PERIOD + 1,
            "Consortium__InvalidVotingPeriod",
            (0, MAX_PERIOD + 1, MAX_PERIOD),
        ),
    ],
)
def test_deployment_refuses_an_invalid_consortium(
    governance_url: str,
    founders: list[MemberSpec],
    thresholds: Thresholds,
    delay: int,
    period: int,
    error: str,
    args: tuple[object, ...],
) -> None:
    client = ChainClient(rpc_url=governance_url, private_key=ANVIL_KEYS[0])
    constructor = ConsortiumContract.constructor_args(
        founders=founders, thresholds=thresholds, voting_delay_s=delay, voting_period_s=period
    )
    with pytest.raises(TransactionFailed, match=rf"^Consortium reverted with {error}\(") as exc:
        client.deploy(load_artifact("Consortium"), *constructor)
    assert (exc.value.error, exc.value.error_args) == (error, args)


def test_deployment_refuses_an_unknown_role(governance_url: str) -> None:
    client = ChainClient(rpc_url=governance_url, private_key=ANVIL_KEYS[0])
    founder = _spec(0)
    constructor = list(
        ConsortiumContract.constructor_args(
            founders=[founder],
            thresholds=Thresholds(1, 1, 1, 1, 1),
            voting_delay_s=0,
            voting_period_s=60,
        )
    )
    constructor[0] = [(*founder.as_abi()[:4], [keccak(text="admin")])]
    with pytest.raises(
        TransactionFailed, match=r"^Consortium reverted with Consortium__UnknownRole\("
    ) as exc:
        client.deploy(load_artifact("Consortium"), *constructor)
    assert exc.value.error_args == (keccak(text="admin"),)


OUTSIDER_CALLS: list[tuple[str, Callable[[ConsortiumContract, Deployed], object]]] = [
    ("proposeAdmission", lambda c, d: c.propose_admission(d.spec_for(d.outsiders[1]))),
    ("proposeRemoval", lambda c, d: c.propose_removal(d.members[2].address)),
    ("proposeThreshold", lambda c, d: c.propose_threshold(ProposalKind.ADMIT_MEMBER, 1)),
    ("proposeGrantRole", lambda c, d: c.propose_grant_role(d.members[0].address, "auditor")),
    ("proposeRevokeRole", lambda c, d: c.propose_revoke_role(d.members[0].address, "broker")),
    ("vote", lambda c, d: c.vote(d.members[0].consortium.proposal_ids()[0])),
    ("execute", lambda c, d: c.execute(d.members[0].consortium.proposal_ids()[0])),
    ("cancel", lambda c, d: c.cancel(d.members[0].consortium.proposal_ids()[0])),
]


@pytest.mark.parametrize(("name", "call"), OUTSIDER_CALLS, ids=[n for n, _ in OUTSIDER_CALLS])
def test_non_members_change_nothing(
    deploy_consortium: DeployConsortium,
    name: str,
    call: Callable[[ConsortiumContract, Deployed], object],
) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    open_one = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 1)
    a.consortium.vote(open_one.proposal_id)
    b.consortium.vote(open_one.proposal_id)  # executable by a member, not by an outsider
    outsider = d.outsiders[0]
    with refused(NotPermitted, "Consortium__NotMember", outsider.address):
        call(outsider.consortium, d)
    assert a.consortium.proposal_ids() == [open_one.proposal_id]
    assert a.consortium.state(open_one.proposal_id) is ProposalState.SUCCEEDED


@pytest.mark.parametrize(
    ("changes", "kind", "error", "args"),
    [
        ({"account": ZERO_ADDRESS}, InvalidArgument, "Consortium__InvalidMember", ("zero",)),
        ({"name": ""}, InvalidArgument, "Consortium__InvalidName", (0, 64)),
        ({"name": "n" * 65}, InvalidArgument, "Consortium__InvalidName", (65, 64)),
        ({"name": "名" * 22}, InvalidArgument, "Consortium__InvalidName", (66, 64)),
        ({"endpoint": ""}, InvalidArgument, "Consortium__InvalidEndpoint", (0, 256)),
        ({"endpoint": "h" * 257}, InvalidArgument, "Consortium__InvalidEndpoint", (257, 256)),
        (
            {"key_fingerprint": b"\0" * 32},
            InvalidArgument,
            "Consortium__InvalidKeyFingerprint",
            ("account",),
        ),
        (
            {"roles": ("broker", "broker")},
            StateConflict,
            "Consortium__RoleAlreadyGranted",
            ("account", ROLE_IDS["broker"]),
        ),
    ],
)
def test_admission_proposal_is_checked(
    deploy_consortium: DeployConsortium,
    changes: dict[str, Any],
    kind: type[InvalidArgument],
    error: str,
    args: tuple[object, ...],
) -> None:
    d = deploy_consortium()
    spec = replace(d.spec_for(d.outsiders[0]), **changes)
    expected = tuple(
        {"zero": ZERO_ADDRESS, "account": spec.account}.get(a, a) if isinstance(a, str) else a
        for a in args
    )
    with refused(kind, error, *expected):
        d.members[0].consortium.propose_admission(spec)
    assert d.members[0].consortium.proposal_ids() == []


def test_admitting_a_member_again_is_refused(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    with refused(StateConflict, "Consortium__AlreadyMember", b.address):
        a.consortium.propose_admission(d.spec_for(b))


def test_unknown_role_is_refused(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a = d.members[0]
    admin = keccak(text="admin")
    with refused(InvalidArgument, "Consortium__UnknownRole", admin):
        _raw_grant(a.consortium, a.address, admin)
    with pytest.raises(ValueError, match=r"^unknown role 'admin' \(roles: broker, auditor"):
        a.consortium.propose_grant_role(a.address, "admin")


def _raw_grant(consortium: ConsortiumContract, account: str, role: bytes) -> object:
    """proposeGrantRole with a raw role ID (the binding only takes known role names)."""
    return consortium._transact(consortium._contract.functions.proposeGrantRole(account, role))


@pytest.mark.parametrize(
    ("propose", "kind", "error", "args"),
    [
        (
            lambda c, d: c.propose_removal(d.outsiders[0].address),
            StateConflict,
            "Consortium__UnknownMember",
            lambda d: (d.outsiders[0].address,),
        ),
        (
            lambda c, d: c.propose_grant_role(d.outsiders[0].address, "broker"),
            StateConflict,
            "Consortium__UnknownMember",
            lambda d: (d.outsiders[0].address,),
        ),
        (
            lambda c, d: c.propose_grant_role(d.members[0].address, "broker"),
            StateConflict,
            "Consortium__RoleAlreadyGranted",
            lambda d: (d.members[0].address, ROLE_IDS["broker"]),
        ),
        (
            lambda c, d: c.propose_revoke_role(d.members[0].address, "auditor"),
            StateConflict,
            "Consortium__RoleNotGranted",
            lambda d: (d.members[0].address, ROLE_IDS["auditor"]),
        ),
        (
            lambda c, d: c.propose_threshold(ProposalKind.REVOKE_ROLE, 0),
            InvalidArgument,
            "Consortium__InvalidThreshold",
            lambda d: (ProposalKind.REVOKE_ROLE, 0, 3),
        ),
        (
            lambda c, d: c.propose_threshold(ProposalKind.REMOVE_MEMBER, 4),
            InvalidArgument,
            "Consortium__InvalidThreshold",
            lambda d: (ProposalKind.REMOVE_MEMBER, 4, 3),
        ),
    ],
)
def test_proposals_are_checked(
    deploy_consortium: DeployConsortium,
    propose: Callable[[ConsortiumContract, Deployed], object],
    kind: type[StateConflict],
    error: str,
    args: Callable[[Deployed], tuple[object, ...]],
) -> None:
    d = deploy_consortium()
    with refused(kind, error, *args(d)):
        propose(d.members[1].consortium, d)
    assert d.members[0].consortium.proposal_ids() == []


def test_removal_below_the_highest_threshold_is_refused(
    deploy_consortium: DeployConsortium,
) -> None:
    d = deploy_consortium(thresholds=Thresholds(2, 2, 3, 2, 2))
    a, _, c = d.members
    with refused(StateConflict, "Consortium__RemovalBelowThreshold", c.address, 2, 3):
        a.consortium.propose_removal(c.address)


def test_one_vote_per_member(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium(thresholds=Thresholds(3, 2, 2, 2, 2))
    a = d.members[0]
    proposed = a.consortium.propose_admission(d.spec_for(d.outsiders[0]))
    a.consortium.vote(proposed.proposal_id)
    with refused(StateConflict, "Consortium__AlreadyVoted", proposed.proposal_id, a.address):
        a.consortium.vote(proposed.proposal_id)
    assert a.consortium.proposal(proposed.proposal_id).approvals == 1


def test_unknown_proposal(deploy_consortium: DeployConsortium) -> None:
    c = deploy_consortium().members[0].consortium
    for action in (c.vote, c.execute, c.cancel, c.state, c.proposal):
        with refused(StateConflict, "Consortium__UnknownProposal", UNKNOWN_ID):
            action(UNKNOWN_ID)
    assert not c.has_voted(UNKNOWN_ID, c.client.address)


def test_execute_needs_the_threshold(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a = d.members[0]
    proposed = a.consortium.propose_removal(d.members[2].address)
    a.consortium.vote(proposed.proposal_id)
    with refused(
        StateConflict,
        "Consortium__ProposalNotSucceeded",
        proposed.proposal_id,
        ProposalState.ACTIVE,
    ):
        a.consortium.execute(proposed.proposal_id)
    assert a.consortium.is_member(d.members[2].address)


def test_executed_once(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    proposed = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 3)
    carry(a, [a, b], proposed.proposal_id)
    executed = (proposed.proposal_id, ProposalState.EXECUTED)
    with refused(StateConflict, "Consortium__ProposalNotSucceeded", *executed):
        b.consortium.execute(proposed.proposal_id)
    with refused(StateConflict, "Consortium__ProposalNotActive", *executed):
        d.members[2].consortium.vote(proposed.proposal_id)
    with refused(StateConflict, "Consortium__ProposalNotCancelable", *executed):
        a.consortium.cancel(proposed.proposal_id)


def test_only_the_proposer_cancels(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    proposed = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 3)
    with refused(
        NotPermitted, "Consortium__NotProposer", proposed.proposal_id, b.address, a.address
    ):
        b.consortium.cancel(proposed.proposal_id)
    assert a.consortium.state(proposed.proposal_id) is ProposalState.ACTIVE
    a.consortium.cancel(proposed.proposal_id)
    with refused(
        StateConflict,
        "Consortium__ProposalNotCancelable",
        proposed.proposal_id,
        ProposalState.CANCELED,
    ):
        a.consortium.cancel(proposed.proposal_id)


def test_execution_checks_the_change_again(deploy_consortium: DeployConsortium) -> None:
    """Two proposals that each were valid when made: the second to execute meets the state the
    first left, and is refused with the error its proposal would get now."""
    d = deploy_consortium()
    a, b, c = d.members
    newcomer = d.outsiders[0]
    first = a.consortium.propose_admission(d.spec_for(newcomer))
    second = b.consortium.propose_admission(d.spec_for(newcomer, roles=("auditor",)))
    carry(a, [a, b], first.proposal_id)
    b.consortium.vote(second.proposal_id)
    c.consortium.vote(second.proposal_id)
    with refused(StateConflict, "Consortium__AlreadyMember", newcomer.address):
        b.consortium.execute(second.proposal_id)
    assert a.consortium.state(second.proposal_id) is ProposalState.SUCCEEDED
    assert a.consortium.member(newcomer.address).roles == ("broker",)


def test_execution_keeps_the_threshold_invariant(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, c = d.members
    raise_it = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 3)
    remove_c = b.consortium.propose_removal(c.address)
    remove_b = a.consortium.propose_removal(b.address)
    for proposal in (raise_it, remove_c, remove_b):
        a.consortium.vote(proposal.proposal_id)
        b.consortium.vote(proposal.proposal_id)
    b.consortium.execute(remove_c.proposal_id)
    with refused(InvalidArgument, "Consortium__InvalidThreshold", ProposalKind.ADMIT_MEMBER, 3, 2):
        a.consortium.execute(raise_it.proposal_id)
    with refused(StateConflict, "Consortium__RemovalBelowThreshold", b.address, 1, 2):
        a.consortium.execute(remove_b.proposal_id)
    assert a.consortium.member_count() == 2
    assert a.consortium.thresholds() == Thresholds(2, 2, 2, 2, 2)


def test_at_most_max_members(governance_url: str) -> None:
    """Founders need not hold funds: 65 fresh accounts exceed MAX_MEMBERS (64) at deployment."""
    client = ChainClient(rpc_url=governance_url, private_key=ANVIL_KEYS[0])
    founders = [
        replace(_spec(0), account=Account.create().address, name=f"Founder {i}")
        for i in range(MAX_MEMBERS + 1)
    ]
    constructor = ConsortiumContract.constructor_args(
        founders=founders,
        thresholds=Thresholds(1, 1, 1, 1, 1),
        voting_delay_s=0,
        voting_period_s=60,
    )
    with pytest.raises(
        TransactionFailed, match=r"^Consortium reverted with Consortium__TooManyMembers\(64\)$"
    ) as exc:
        client.deploy(load_artifact("Consortium"), *constructor)
    assert exc.value.error_args == (MAX_MEMBERS,)
