"""The consortium: its members, proposals and keys, read by any member; proposals, votes and
this member's keys, sent on chain by the service's own account.

Reads admit every member, whatever its roles (a customer gets 403). Writes are sent with the
chain account the service runs with (``LEDGER_CHAIN_PRIVATE_KEY``; the dev account on the dev
chain), so only the member that account is may make them through this service: the caller's
member ID must be that account's address (with a members file, an entry whose ``member`` is the
address; with the on-chain key directory, the member's own request-signing key), else 403
(:func:`ledger.member.access.check_operator`). A contract's refusal is 403, 404, 409 or 422
with its custom error in the detail, found by simulating before anything is sent; a write is
answered once its transaction is mined successfully, with its hash, block and the record as it
then stands."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, status

from api._openapi import AUTH_PROBLEMS, BODY_PROBLEMS, problems
from api.auth import SignedCaller
from api.deps import Service, off_loop
from api.models.consortium import (
    ID_PATTERN,
    Account,
    ConsortiumOut,
    KeyDoneOut,
    KeyIn,
    KeyOut,
    KeysOut,
    ProposalDoneOut,
    ProposalIn,
    ProposalOut,
    ProposalsOut,
    RevocationIn,
    RotationIn,
    StateLabel,
)
from ledger.chain.consortium import ProposalState
from ledger.httpsig import Caller
from ledger.member.access import check_consortium_read, check_operator
from ledger.member.governance import Governance, parse_id

router = APIRouter(prefix="/v1/consortium", tags=["consortium"])


async def get_governance(service: Service) -> Governance:
    return service.governance


Governed = Annotated[Governance, Depends(get_governance)]


async def member_reader(caller: SignedCaller) -> Caller:
    check_consortium_read(caller)
    return caller


async def this_member(caller: SignedCaller, governance: Governed) -> Caller:
    check_operator(caller, operator=governance.account)
    return caller


#: Any member of the consortium (not a customer).
Reader = Annotated[Caller, Depends(member_reader)]
#: The member that runs this service (its chain account sends the transaction).
Operator = Annotated[Caller, Depends(this_member)]

ProposalIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, description="The proposal ID (0x and 64 hex digits)")
]
KeyIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The key ID (0x and 64 hex)")]

_CHAIN = "Chain node unreachable, or the transaction not mined in time"
_READ_ERRORS = problems({**AUTH_PROBLEMS, 422: "Invalid query or path", 503: _CHAIN})
_WRITE_ERRORS = problems(
    {
        **BODY_PROBLEMS,
        **AUTH_PROBLEMS,
        404: "No such proposal or key on chain",
        409: "Refused by the contract in its current state (already voted, not active ...)",
        422: "Invalid request, or an argument the contract refuses",
        503: _CHAIN,
    }
)


# --- reads ---------------------------------------------------------------------------------


@router.get("", responses=_READ_ERRORS)
async def get_consortium(governance: Governed, _: Reader) -> ConsortiumOut:
    """The members (accounts, names, endpoints, roles), the threshold of each kind of
    proposal, and the voting delay and period."""
    return ConsortiumOut.of(await off_loop(governance.overview))


@router.get("/proposals", responses=_READ_ERRORS)
async def list_proposals(
    governance: Governed,
    _: Reader,
    state: Annotated[StateLabel | None, Query(description="Only proposals in this state")] = None,
) -> ProposalsOut:
    """Every proposal, oldest first (or those in ``state``)."""
    chosen = None if state is None else ProposalState[state.upper()]
    found = await off_loop(governance.proposals, state=chosen)
    return ProposalsOut(proposals=[ProposalOut.of(p) for p in found])


@router.get(
    "/proposals/{proposal_id}",
    responses=problems({**AUTH_PROBLEMS, 404: "No such proposal", 503: _CHAIN}),
)
async def get_proposal(proposal_id: ProposalIdPath, governance: Governed, _: Reader) -> ProposalOut:
    """One proposal: its change, votes, threshold, deadline and state."""
    return ProposalOut.of(await off_loop(governance.proposal, parse_id(proposal_id)))


@router.get("/members/{account}/keys", responses=_READ_ERRORS)
async def get_member_keys(
    account: Annotated[Account, Path(description="The member's chain account")],
    governance: Governed,
    _: Reader,
) -> KeysOut:
    """The keys the account registered (every purpose), with their windows and revocations."""
    keys = await off_loop(governance.keys_of, account)
    return KeysOut(member=account, keys=[KeyOut.of(k) for k in keys])


# --- writes, as this service's member ------------------------------------------------------


@router.post("/proposals", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
async def propose(body: ProposalIn, governance: Governed, _: Operator) -> ProposalDoneOut:
    """Propose a change (admit or remove a member, change a threshold, grant or revoke a
    role), from this service's account."""
    change = body.to_change()
    return ProposalDoneOut.of(await off_loop(governance.propose, change))


@router.post(
    "/proposals/{proposal_id}/votes", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS
)
async def vote(proposal_id: ProposalIdPath, governance: Governed, _: Operator) -> ProposalDoneOut:
    """Vote for the proposal (one vote per member)."""
    return ProposalDoneOut.of(await off_loop(governance.vote, parse_id(proposal_id)))


@router.post("/proposals/{proposal_id}/execute", responses=_WRITE_ERRORS)
async def execute(
    proposal_id: ProposalIdPath, governance: Governed, _: Operator
) -> ProposalDoneOut:
    """Carry out a proposal that reached its threshold before its deadline."""
    return ProposalDoneOut.of(await off_loop(governance.execute, parse_id(proposal_id)))


@router.post("/proposals/{proposal_id}/cancel", responses=_WRITE_ERRORS)
async def cancel(proposal_id: ProposalIdPath, governance: Governed, _: Operator) -> ProposalDoneOut:
    """Cancel a proposal this member made, while it is not decided."""
    return ProposalDoneOut.of(await off_loop(governance.cancel, parse_id(proposal_id)))


@router.post("/keys", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
async def register_key(body: KeyIn, governance: Governed, _: Operator) -> KeyDoneOut:
    """Register a key of this member for a purpose, with its validity window."""
    start, end = body.window()
    done = await off_loop(
        governance.register_key, body.purpose, body.key(), not_before=start, not_after=end
    )
    return KeyDoneOut.of(done)


@router.post(
    "/keys/{key_id}/rotation", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS
)
async def rotate_key(
    key_id: KeyIdPath, body: RotationIn, governance: Governed, _: Operator
) -> KeyDoneOut:
    """Replace one of this member's keys: the new one starts where the old one ends."""
    start, end = body.window()
    done = await off_loop(
        governance.rotate_key, parse_id(key_id), body.key(), not_before=start, not_after=end
    )
    return KeyDoneOut.of(done)


@router.post("/keys/{key_id}/revocation", responses=_WRITE_ERRORS)
async def revoke_key(
    key_id: KeyIdPath,
    governance: Governed,
    _: Operator,
    body: Annotated[RevocationIn | None, Body()] = None,
) -> KeyDoneOut:
    """Revoke one of this member's keys from ``effective_at`` on (default: now)."""
    effective_at = 0 if body is None else body.seconds()
    return KeyDoneOut.of(
        await off_loop(governance.revoke_key, parse_id(key_id), effective_at=effective_at)
    )
