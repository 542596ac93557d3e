"""Hypothesis drives random proposals, votes, executions, cancellations, removals and clock jumps
against a real Consortium on anvil; after every step the invariants hold:

- 1 <= every threshold <= member count; members are distinct, non-zero and all answer isMember;
- nobody's vote is accepted twice on one proposal;
- a proposal executes at most once, and only from Succeeded: one that was seen Canceled,
  Defeated or Expired never executes, and a final state never turns back into an open one;
- every executed change is visible (an admitted account is a member, a removed one is not ...).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ledger.chain.consortium import ROLES, ProposalKind, ProposalState
from ledger.chain.errors import ContractRefused
from tests._fixtures.consortium import DeployConsortium, Deployed, Party, advance

FINAL = {
    ProposalState.CANCELED,
    ProposalState.DEFEATED,
    ProposalState.EXPIRED,
    ProposalState.EXECUTED,
}
PERIOD_S = 1000

#: An account: the founders (0-2) half of the time, else any of eight (founders, outsiders).
parties = st.one_of(st.integers(min_value=0, max_value=2), st.integers(min_value=0, max_value=7))
#: A proposal: the latest one half of the time, else any.
picks = st.one_of(st.just(-1), st.integers(min_value=0))


class Council(RuleBasedStateMachine):
    deploy: DeployConsortium

    def __init__(self) -> None:
        super().__init__()
        self.proposals: list[bytes] = []
        self.changes: dict[bytes, tuple[ProposalKind, tuple[Any, ...]]] = {}
        self.seen: dict[bytes, ProposalState] = {}
        self.votes: set[tuple[bytes, str]] = set()
        self.executions: dict[bytes, int] = {}

    @initialize()
    def start(self) -> None:
        self.d: Deployed = self.deploy(founders=3, voting_period_s=PERIOD_S)
        self.everyone: list[Party] = [*self.d.members, *self.d.outsiders][:8]

    # -- helpers ---------------------------------------------------------------------------

    def _try(self, action: Any) -> Any:
        try:
            return action()
        except ContractRefused:
            return None

    def _pick(self, index: int) -> bytes | None:
        return self.proposals[index % len(self.proposals)] if self.proposals else None

    def _proposed(self, kind: ProposalKind, args: tuple[Any, ...], action: Any) -> None:
        proposed = self._try(action)
        if proposed is not None:
            self.proposals.append(proposed.proposal_id)
            self.changes[proposed.proposal_id] = (kind, args)

    # -- rules ------------------------------------------------------------------------------

    @rule(proposer=parties, who=parties, roles=st.sets(st.sampled_from(ROLES), max_size=3))
    def propose_admission(self, proposer: int, who: int, roles: set[str]) -> None:
        spec = self.d.spec_for(self.everyone[who], roles=sorted(roles))
        self._proposed(
            ProposalKind.ADMIT_MEMBER,
            (spec.account,),
            lambda: self.everyone[proposer].consortium.propose_admission(spec),
        )

    @rule(proposer=parties, who=parties)
    def propose_removal(self, proposer: int, who: int) -> None:
        account = self.everyone[who].address
        self._proposed(
            ProposalKind.REMOVE_MEMBER,
            (account,),
            lambda: self.everyone[proposer].consortium.propose_removal(account),
        )

    @rule(
        proposer=parties,
        kind=st.sampled_from(list(ProposalKind)),
        value=st.integers(min_value=0, max_value=6),
    )
    def propose_threshold(self, proposer: int, kind: ProposalKind, value: int) -> None:
        self._proposed(
            ProposalKind.CHANGE_THRESHOLD,
            (kind, value),
            lambda: self.everyone[proposer].consortium.propose_threshold(kind, value),
        )

    @rule(proposer=parties, who=parties, role=st.sampled_from(ROLES), grant=st.booleans())
    def propose_role(self, proposer: int, who: int, role: str, grant: bool) -> None:
        consortium = self.everyone[proposer].consortium
        account = self.everyone[who].address
        kind = ProposalKind.GRANT_ROLE if grant else ProposalKind.REVOKE_ROLE
        propose = consortium.propose_grant_role if grant else consortium.propose_revoke_role
        self._proposed(kind, (account, role), lambda: propose(account, role))

    @precondition(lambda self: self.proposals)
    @rule(voters=st.lists(parties, min_size=1, max_size=3), index=picks)
    def vote(self, voters: list[int], index: int) -> None:
        """One or several votes on one proposal (so that some proposals carry)."""
        proposal_id = self._pick(index)
        if proposal_id is None:
            return
        for voter in voters:
            party = self.everyone[voter]
            if self._try(lambda p=party: p.consortium.vote(proposal_id)) is not None:
                key = (proposal_id, party.address)
                assert key not in self.votes, "a second vote was accepted"
                self.votes.add(key)

    @precondition(lambda self: self.proposals)
    @rule(index=picks, executor=parties)
    def rally(self, index: int, executor: int) -> None:
        """Every current member votes for one proposal, then ``executor`` tries to execute it."""
        proposal_id = self._pick(index)
        if proposal_id is None:
            return
        members = set(
            self.d.members[0].consortium._call(
                self.d.members[0].consortium._contract.functions.members()
            )
        )
        voters = [i for i, p in enumerate(self.everyone) if p.address in members]
        self.vote(voters, index)
        self.execute(executor, index)

    @precondition(lambda self: self.proposals)
    @rule(executor=parties, index=picks)
    def execute(self, executor: int, index: int) -> None:
        proposal_id = self._pick(index)
        if proposal_id is None:
            return
        view = self.d.members[0].consortium
        before = view.state(proposal_id)
        sent = self._try(lambda: self.everyone[executor].consortium.execute(proposal_id))
        if sent is None:
            return
        assert before is ProposalState.SUCCEEDED
        self.executions[proposal_id] = self.executions.get(proposal_id, 0) + 1
        event(f"executed {self.changes[proposal_id][0].label}")
        self._check_effect(proposal_id)

    @precondition(lambda self: self.proposals)
    @rule(caller=parties, index=picks)
    def cancel(self, caller: int, index: int) -> None:
        proposal_id = self._pick(index)
        if proposal_id is not None:
            self._try(lambda: self.everyone[caller].consortium.cancel(proposal_id))

    @rule(seconds=st.sampled_from([1, 100, PERIOD_S // 2, PERIOD_S]))
    def wait(self, seconds: int) -> None:
        advance(self.d.members[0].client, seconds)

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def thresholds_within_bounds(self) -> None:
        view = self.d.members[0].consortium
        count = view.member_count()
        accounts = view._call(view._contract.functions.members())
        assert len(accounts) == len(set(accounts)) == count >= 1
        assert "0x0000000000000000000000000000000000000000" not in accounts
        assert all(view.is_member(a) for a in accounts)
        for kind in ProposalKind:
            assert 1 <= view.threshold(kind) <= count

    @invariant()
    def proposals_end_once(self) -> None:
        view = self.d.members[0].consortium
        for proposal_id in self.proposals:
            state = view.state(proposal_id)
            earlier = self.seen.get(proposal_id)
            if earlier in FINAL:
                assert state in FINAL, f"{earlier.label} turned {state.label}"
                if earlier is not ProposalState.EXECUTED:
                    assert state is not ProposalState.EXECUTED
            assert self.executions.get(proposal_id, 0) == (state is ProposalState.EXECUTED)
            self.seen[proposal_id] = state

    def _check_effect(self, proposal_id: bytes) -> None:
        view = self.d.members[0].consortium
        kind, args = self.changes[proposal_id]
        if kind is ProposalKind.ADMIT_MEMBER:
            assert view.is_member(args[0])
        elif kind is ProposalKind.REMOVE_MEMBER:
            assert not view.is_member(args[0])
        elif kind is ProposalKind.CHANGE_THRESHOLD:
            assert view.threshold(args[0]) == args[1]
        elif kind is ProposalKind.GRANT_ROLE:
            assert view.is_allowed(*args)
        else:
            assert view.is_member(args[0]) and not view.is_allowed(*args)


@pytest.mark.slow
def test_council_invariants(deploy_consortium: DeployConsortium) -> None:
    Council.deploy = staticmethod(deploy_consortium)  # type: ignore[assignment]
    run_state_machine_as_test(
        Council,
        settings=settings(
            max_examples=10,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
