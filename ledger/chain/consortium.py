"""The Consortium contract from Python: members, roles, thresholds and the k-of-n council.

Reads return typed records; writes are simulated first (see :class:`ChainClient`), so a refusal
raises the contract's custom error as :class:`NotPermitted`, :class:`StateConflict` or
:class:`InvalidArgument` (each a :class:`TransactionFailed` with ``error`` and ``error_args``)
before any gas is spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address

from ledger.chain._binding import ContractBinding, deployment_scoped_id, id_of, name_ids, name_of
from ledger.chain.client import SentTransaction
from ledger.chain.errors import (
    ContractRefused,
    InvalidArgument,
    NotPermitted,
    StateConflict,
    UnknownRecord,
)

CONTRACT_NAME = "Consortium"

#: The roles a member may hold; on chain each is keccak256 of its name.
ROLES = ("broker", "auditor", "regulator")
ROLE_IDS = name_ids(ROLES)

#: The contract's limits (its MAX_* constants; a test holds them equal), for checks before
#: anything is sent: members, display name and endpoint bytes, voting delay and period seconds.
MAX_MEMBERS = 64
MAX_NAME_LENGTH = 64
MAX_ENDPOINT_LENGTH = 256
MAX_PERIOD_S = 365 * 24 * 3600

_MEMBER_TUPLE = "(address,string,string,bytes32,bytes32[])"


class ProposalKind(IntEnum):
    """What a proposal changes (the contract's ``ProposalKind``); each has its own threshold."""

    ADMIT_MEMBER = 0
    REMOVE_MEMBER = 1
    CHANGE_THRESHOLD = 2
    GRANT_ROLE = 3
    REVOKE_ROLE = 4

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @classmethod
    def of_label(cls, label: str) -> ProposalKind:
        """The kind named ``label`` (``admit-member``); :class:`ValueError` for none."""
        for kind in cls:
            if kind.label == label:
                return kind
        raise ValueError(f"unknown proposal kind {label!r} ({', '.join(k.label for k in cls)})")


class ProposalState(IntEnum):
    """The contract's ``ProposalState`` (OpenZeppelin Governor's names; see IConsortium.sol)."""

    PENDING = 0
    ACTIVE = 1
    CANCELED = 2
    DEFEATED = 3
    SUCCEEDED = 4
    EXPIRED = 5
    EXECUTED = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def is_open(self) -> bool:
        """Still to be decided: pending, active, or succeeded and not yet executed."""
        return self in (ProposalState.PENDING, ProposalState.ACTIVE, ProposalState.SUCCEEDED)


#: Each custom error of the contract, by what it means for the caller.
REFUSALS: dict[str, type[ContractRefused]] = {
    "Consortium__NotMember": NotPermitted,
    "Consortium__NotProposer": NotPermitted,
    "Consortium__UnknownMember": StateConflict,
    "Consortium__AlreadyMember": StateConflict,
    "Consortium__RemovalBelowThreshold": StateConflict,
    "Consortium__RoleAlreadyGranted": StateConflict,
    "Consortium__RoleNotGranted": StateConflict,
    "Consortium__TooManyMembers": StateConflict,
    "Consortium__UnknownProposal": UnknownRecord,
    "Consortium__ProposalNotActive": StateConflict,
    "Consortium__AlreadyVoted": StateConflict,
    "Consortium__ProposalNotSucceeded": StateConflict,
    "Consortium__ProposalNotCancelable": StateConflict,
    "Consortium__InvalidThreshold": InvalidArgument,
    "Consortium__InvalidMember": InvalidArgument,
    "Consortium__UnknownRole": InvalidArgument,
    "Consortium__InvalidName": InvalidArgument,
    "Consortium__InvalidEndpoint": InvalidArgument,
    "Consortium__InvalidKeyFingerprint": InvalidArgument,
    "Consortium__InvalidVotingPeriod": InvalidArgument,
}


def role_id(name: str) -> bytes:
    """The on-chain ID of role ``name``; :class:`ValueError` for a role that does not exist."""
    return id_of(ROLE_IDS, name, "role")


def role_name(role: bytes) -> str:
    return name_of(ROLE_IDS, role)


@dataclass(frozen=True)
class MemberSpec:
    """A member to admit (founding, or by proposal): what the council votes on."""

    account: str
    name: str
    endpoint: str
    key_fingerprint: bytes
    roles: tuple[str, ...]

    def as_abi(self) -> tuple[Any, ...]:
        return (
            to_checksum_address(self.account),
            self.name,
            self.endpoint,
            self.key_fingerprint,
            [role_id(r) for r in self.roles],
        )


@dataclass(frozen=True)
class Thresholds:
    """The threshold of each proposal kind: how many members' approvals carry it."""

    admit_member: int
    remove_member: int
    change_threshold: int
    grant_role: int
    revoke_role: int

    def as_list(self) -> list[int]:
        return [self.of(kind) for kind in ProposalKind]

    def of(self, kind: ProposalKind) -> int:
        return int(getattr(self, kind.name.lower()))


@dataclass(frozen=True)
class Member:
    account: str
    name: str
    endpoint: str
    key_fingerprint: bytes
    roles: tuple[str, ...]
    joined_at: int


@dataclass(frozen=True)
class Proposal:
    proposal_id: bytes
    number: int
    proposer: str
    kind: ProposalKind
    data: bytes
    vote_start: int
    vote_end: int
    approvals: int
    threshold: int
    state: ProposalState

    def describe(self) -> str:
        """The change in a few words (``admit-member 0xAb... "Broker B" broker``)."""
        return describe_change(self.kind, self.data)


@dataclass(frozen=True)
class Proposed:
    proposal_id: bytes
    sent: SentTransaction


def encode_change(kind: ProposalKind, *args: Any) -> bytes:
    """The ``data`` a proposal of ``kind`` carries (as the contract ABI-encodes it)."""
    if kind is ProposalKind.ADMIT_MEMBER:
        (spec,) = args
        return abi_encode([_MEMBER_TUPLE], [spec.as_abi()])
    if kind is ProposalKind.REMOVE_MEMBER:
        return abi_encode(["address"], [to_checksum_address(args[0])])
    if kind is ProposalKind.CHANGE_THRESHOLD:
        return abi_encode(["uint8", "uint256"], [int(args[0]), args[1]])
    return abi_encode(["address", "bytes32"], [to_checksum_address(args[0]), role_id(args[1])])


def decode_change(kind: ProposalKind, data: bytes) -> dict[str, Any]:
    """What a proposal of ``kind`` changes, from its ``data``: the member's fields (account,
    name, endpoint, key_fingerprint, roles), an ``account``, ``kind`` and ``threshold``, or an
    ``account`` and ``role``."""
    if kind is ProposalKind.ADMIT_MEMBER:
        ((account, name, endpoint, fingerprint, roles),) = abi_decode([_MEMBER_TUPLE], data)
        return {
            "account": to_checksum_address(account),
            "name": name,
            "endpoint": endpoint,
            "key_fingerprint": bytes(fingerprint),
            "roles": tuple(role_name(r) for r in roles),
        }
    if kind is ProposalKind.REMOVE_MEMBER:
        (account,) = abi_decode(["address"], data)
        return {"account": to_checksum_address(account)}
    if kind is ProposalKind.CHANGE_THRESHOLD:
        target, value = abi_decode(["uint8", "uint256"], data)
        return {"kind": ProposalKind(target), "threshold": int(value)}
    account, role = abi_decode(["address", "bytes32"], data)
    return {"account": to_checksum_address(account), "role": role_name(role)}


def describe_change(kind: ProposalKind, data: bytes) -> str:
    change = decode_change(kind, data)
    if kind is ProposalKind.ADMIT_MEMBER:
        shown = ",".join(change["roles"]) or "no roles"
        return f'{kind.label} {change["account"]} "{change["name"]}" {change["endpoint"]} {shown}'
    if kind is ProposalKind.REMOVE_MEMBER:
        return f"{kind.label} {change['account']}"
    if kind is ProposalKind.CHANGE_THRESHOLD:
        return f"{kind.label} {change['kind'].label} -> {change['threshold']}"
    return f"{kind.label} {change['account']} {change['role']}"


def proposal_id_of(
    *, chain_id: int, contract: str, number: int, kind: ProposalKind, data: bytes
) -> bytes:
    """The contract's proposal ID, computed offline (same as ``proposalIdOf`` on chain)."""
    return deployment_scoped_id(
        chain_id=chain_id,
        contract=contract,
        types=["uint256", "uint8", "bytes"],
        values=[number, int(kind), data],
    )


class ConsortiumContract(ContractBinding):
    CONTRACT_NAME = CONTRACT_NAME
    REFUSALS = REFUSALS

    @staticmethod
    def constructor_args(
        *,
        founders: Sequence[MemberSpec],
        thresholds: Thresholds,
        voting_delay_s: int,
        voting_period_s: int,
    ) -> tuple[Any, ...]:
        return (
            [spec.as_abi() for spec in founders],
            thresholds.as_list(),
            voting_delay_s,
            voting_period_s,
        )

    # -- proposals and votes --------------------------------------------------------------

    def propose_admission(self, spec: MemberSpec) -> Proposed:
        return self._propose(self._contract.functions.proposeAdmission(spec.as_abi()))

    def propose_removal(self, account: str) -> Proposed:
        fn = self._contract.functions.proposeRemoval(to_checksum_address(account))
        return self._propose(fn)

    def propose_threshold(self, kind: ProposalKind, threshold: int) -> Proposed:
        return self._propose(self._contract.functions.proposeThreshold(int(kind), threshold))

    def propose_grant_role(self, account: str, role: str) -> Proposed:
        fn = self._contract.functions.proposeGrantRole(to_checksum_address(account), role_id(role))
        return self._propose(fn)

    def propose_revoke_role(self, account: str, role: str) -> Proposed:
        fn = self._contract.functions.proposeRevokeRole(to_checksum_address(account), role_id(role))
        return self._propose(fn)

    def vote(self, proposal_id: bytes) -> SentTransaction:
        return self._transact(self._contract.functions.vote(proposal_id))

    def execute(self, proposal_id: bytes) -> SentTransaction:
        return self._transact(self._contract.functions.execute(proposal_id))

    def cancel(self, proposal_id: bytes) -> SentTransaction:
        return self._transact(self._contract.functions.cancel(proposal_id))

    # -- reads ----------------------------------------------------------------------------

    def is_member(self, account: str) -> bool:
        return bool(self._read("isMember", to_checksum_address(account)))

    def is_allowed(self, account: str, role: str) -> bool:
        return bool(self._read("isAllowed", to_checksum_address(account), role_id(role)))

    def member(self, account: str) -> Member:
        raw = self._read("getMember", to_checksum_address(account))
        return Member(
            account=to_checksum_address(raw[0]),
            name=raw[1],
            endpoint=raw[2],
            key_fingerprint=bytes(raw[3]),
            roles=tuple(role_name(r) for r in raw[4]),
            joined_at=int(raw[5]),
        )

    def members(self) -> list[Member]:
        accounts = self._read("members")
        return [self.member(account) for account in accounts]

    def removals(self, *, from_block: int = 0) -> tuple[dict[str, int], int]:
        """The members removed in blocks ``from_block`` up to the latest (``MemberRemoved``):
        account -> the removing block's timestamp (the last removal, if several), and the
        block read up to (pass it + 1 next time)."""
        client = self.client
        latest = int(client.json_rpc("eth_blockNumber"), 16)
        if from_block > latest:
            return {}, latest
        logs = self.logs("MemberRemoved", from_block=from_block, to_block=latest)
        removed: dict[str, int] = {}
        times: dict[int, int] = {}
        for log in logs:
            number = int(log["blockNumber"])
            if number not in times:
                block = client.json_rpc("eth_getBlockByNumber", hex(number), False)
                times[number] = int(block["timestamp"], 16)
            removed[to_checksum_address(log["args"]["account"])] = times[number]
        return removed, latest

    def member_count(self) -> int:
        return int(self._read("memberCount"))

    def threshold(self, kind: ProposalKind) -> int:
        return int(self._read("threshold", int(kind)))

    def thresholds(self) -> Thresholds:
        return Thresholds(*(self.threshold(kind) for kind in ProposalKind))

    def voting_delay(self) -> int:
        return int(self._read("votingDelay"))

    def voting_period(self) -> int:
        return int(self._read("votingPeriod"))

    def proposal(self, proposal_id: bytes) -> Proposal:
        raw = self._read("getProposal", proposal_id)
        return Proposal(
            proposal_id=bytes(raw[0]),
            number=int(raw[1]),
            proposer=to_checksum_address(raw[2]),
            kind=ProposalKind(raw[3]),
            data=bytes(raw[4]),
            vote_start=int(raw[5]),
            vote_end=int(raw[6]),
            approvals=int(raw[7]),
            threshold=int(raw[8]),
            state=ProposalState(raw[9]),
        )

    def state(self, proposal_id: bytes) -> ProposalState:
        return ProposalState(self._read("state", proposal_id))

    def has_voted(self, proposal_id: bytes, voter: str) -> bool:
        return bool(self._read("hasVoted", proposal_id, to_checksum_address(voter)))

    def proposal_ids(self) -> list[bytes]:
        return [bytes(i) for i in self._read("proposalIds")]

    def proposals(self) -> list[Proposal]:
        return [self.proposal(proposal_id) for proposal_id in self.proposal_ids()]

    # -- plumbing -------------------------------------------------------------------------

    def _propose(self, fn: Any) -> Proposed:
        sent = self._transact(fn)
        created = self._one_event("ProposalCreated", sent)
        return Proposed(proposal_id=bytes(created["proposalId"]), sent=sent)
