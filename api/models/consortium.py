"""The consortium in the HTTP API: the input models of ``/v1/consortium`` (``...In``: a proposal
as a tagged union on ``kind``, keys to register, rotate, revoke) and the public models of its
replies (``...Out``) built from :mod:`ledger.member.governance`'s records.

Accounts are checked (mixed case must be a valid checksum) and given checksummed; roles,
purposes and proposal kinds are the chain bindings' names; IDs are ``0x`` and 64 hex digits;
times are RFC 3339 with an offset; digests are labelled (``sm3:...``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from ledger import canonical
from ledger.chain.consortium import (
    MAX_ENDPOINT_LENGTH,
    MAX_NAME_LENGTH,
    ROLES,
    MemberSpec,
    Proposal,
    ProposalKind,
    ProposalState,
    decode_change,
    role_id,
)
from ledger.chain.consortium_config import parse_public_key
from ledger.chain.keys import PURPOSES, KeyEntry, purpose_id
from ledger.crypto.sm2 import SM2PublicKey
from ledger.member.governance import (
    Admit,
    Change,
    Grant,
    KeyDone,
    Mined,
    Overview,
    ProposalDone,
    Remove,
    Revoke,
    SetThreshold,
    parse_account,
)

ID_PATTERN = r"^0x[0-9a-fA-F]{64}$"
STATES = [state.label for state in ProposalState]


def _role(name: str) -> str:
    role_id(name)  # ValueError naming the roles there are
    return name


def _purpose(name: str) -> str:
    purpose_id(name)
    return name


def _kind(label: str) -> str:
    ProposalKind.of_label(label)
    return label


def _state(label: str) -> str:
    if label not in STATES:
        raise ValueError(f"unknown state {label!r} ({', '.join(STATES)})")
    return label


def _public_key(text: str) -> str:
    return canonical.hex0x(parse_public_key(text).to_raw())


Account = Annotated[
    str,
    Field(pattern=r"^0x[0-9a-fA-F]{40}$", examples=["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"]),
    AfterValidator(parse_account),
]
RoleName = Annotated[
    str, Field(description=f"One of {', '.join(ROLES)}", examples=[ROLES[0]]), AfterValidator(_role)
]
Purpose = Annotated[
    str,
    Field(description=f"One of {', '.join(PURPOSES)}", examples=[PURPOSES[0]]),
    AfterValidator(_purpose),
]
KindLabel = Annotated[
    str,
    Field(description="One of " + ", ".join(k.label for k in ProposalKind)),
    AfterValidator(_kind),
]
StateLabel = Annotated[str, Field(json_schema_extra={"enum": STATES}), AfterValidator(_state)]
PublicKey = Annotated[
    str,
    Field(
        max_length=1024,
        description="SM2 public key: hex of the 65-byte point 04||x||y (0x optional), or PEM",
    ),
    AfterValidator(_public_key),
]


def _sm2(hex_key: str) -> SM2PublicKey:
    """The key a :data:`PublicKey` field holds (normalized to 0x and lowercase hex)."""
    return SM2PublicKey.from_raw(canonical.unhex0x(hex_key))


def _seconds(at: datetime | None, default: int | None) -> int | None:
    return default if at is None else int(at.timestamp())


def _time(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


# --- input models ------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdmitIn(_In):
    kind: Literal["admit-member"]
    account: Account
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
    endpoint: Annotated[str, Field(min_length=1, max_length=MAX_ENDPOINT_LENGTH)]
    public_key: PublicKey = Field(description="The member's request-signing key")
    roles: Annotated[list[RoleName], Field(max_length=len(ROLES))] = []

    def to_change(self) -> Change:
        key = _sm2(self.public_key)
        return Admit(
            MemberSpec(
                account=self.account,
                name=self.name,
                endpoint=self.endpoint,
                key_fingerprint=key.fingerprint(),
                roles=tuple(self.roles),
            )
        )


class RemoveIn(_In):
    kind: Literal["remove-member"]
    account: Account

    def to_change(self) -> Change:
        return Remove(self.account)


class ThresholdIn(_In):
    kind: Literal["change-threshold"]
    target: KindLabel = Field(description="The kind of proposal whose threshold changes")
    threshold: Annotated[int, Field(ge=1, le=255)]

    def to_change(self) -> Change:
        return SetThreshold(ProposalKind.of_label(self.target), self.threshold)


class GrantIn(_In):
    kind: Literal["grant-role"]
    account: Account
    role: RoleName

    def to_change(self) -> Change:
        return Grant(self.account, self.role)


class RevokeRoleIn(_In):
    kind: Literal["revoke-role"]
    account: Account
    role: RoleName

    def to_change(self) -> Change:
        return Revoke(self.account, self.role)


ProposalIn = Annotated[
    AdmitIn | RemoveIn | ThresholdIn | GrantIn | RevokeRoleIn, Field(discriminator="kind")
]


class _Window(_In):
    not_before: AwareDatetime | None = Field(
        default=None, description="When the key starts (default: the block's time)"
    )
    not_after: AwareDatetime | None = Field(
        default=None, description="When it ends (default: open-ended)"
    )

    def window(self) -> tuple[int, int | None]:
        """(not_before, not_after) in UNIX seconds: 0 is the block's time, None open-ended."""
        return _seconds(self.not_before, 0) or 0, _seconds(self.not_after, None)


class KeyIn(_Window):
    purpose: Purpose
    public_key: PublicKey

    def key(self) -> SM2PublicKey:
        return _sm2(self.public_key)


class RotationIn(_Window):
    public_key: PublicKey = Field(description="The new key (the old one's purpose)")

    def key(self) -> SM2PublicKey:
        return _sm2(self.public_key)


class RevocationIn(_In):
    effective_at: AwareDatetime | None = Field(
        default=None,
        description="From when the key is revoked (default: the block's time); signatures made"
        " before stay valid",
    )

    def seconds(self) -> int:
        return _seconds(self.effective_at, 0) or 0


# --- public models -----------------------------------------------------------------------


class MemberOut(BaseModel):
    account: str
    name: str
    endpoint: str
    key_fingerprint: str = Field(description="sm3:<hex> of the member's request-signing key")
    roles: list[str]
    joined_at: datetime


class ConsortiumOut(BaseModel):
    chain_id: int
    consortium: str = Field(description="Address of the Consortium contract")
    key_registry: str = Field(description="Address of the KeyRegistry contract")
    at: datetime = Field(description="Time of the latest block, when this was read")
    members: list[MemberOut]
    thresholds: dict[str, int] = Field(description="Approvals needed, per kind of proposal")
    voting_delay_s: int
    voting_period_s: int

    @classmethod
    def of(cls, overview: Overview) -> ConsortiumOut:
        return cls(
            chain_id=overview.chain_id,
            consortium=overview.consortium,
            key_registry=overview.key_registry,
            at=datetime.fromtimestamp(overview.at, UTC),
            members=[
                MemberOut(
                    account=m.account,
                    name=m.name,
                    endpoint=m.endpoint,
                    key_fingerprint=canonical.label("sm3", m.key_fingerprint),
                    roles=list(m.roles),
                    joined_at=datetime.fromtimestamp(m.joined_at, UTC),
                )
                for m in overview.members
            ],
            thresholds={kind.label: overview.thresholds.of(kind) for kind in ProposalKind},
            voting_delay_s=overview.voting_delay_s,
            voting_period_s=overview.voting_period_s,
        )


def _json_change(kind: ProposalKind, data: bytes) -> dict[str, Any]:
    change = decode_change(kind, data)
    if "key_fingerprint" in change:
        change["key_fingerprint"] = canonical.label("sm3", change["key_fingerprint"])
    if "roles" in change:
        change["roles"] = list(change["roles"])
    if isinstance(change.get("kind"), ProposalKind):
        change["kind"] = change["kind"].label
    return change


class ProposalOut(BaseModel):
    proposal_id: str
    number: int
    proposer: str
    kind: str = Field(examples=["grant-role"])
    change: dict[str, Any] = Field(description="What the proposal changes, by field")
    summary: str = Field(description="The change in a few words")
    vote_start: datetime
    vote_end: datetime = Field(description="The deadline: it cannot execute from then on")
    approvals: int
    threshold: int
    state: str = Field(description=", ".join(s.label for s in ProposalState))

    @classmethod
    def of(cls, p: Proposal) -> ProposalOut:
        return cls(
            proposal_id=canonical.hex0x(p.proposal_id),
            number=p.number,
            proposer=p.proposer,
            kind=p.kind.label,
            change=_json_change(p.kind, p.data),
            summary=p.describe(),
            vote_start=datetime.fromtimestamp(p.vote_start, UTC),
            vote_end=datetime.fromtimestamp(p.vote_end, UTC),
            approvals=p.approvals,
            threshold=p.threshold,
            state=p.state.label,
        )


class ProposalsOut(BaseModel):
    proposals: list[ProposalOut]


class KeyOut(BaseModel):
    key_id: str
    member: str
    purpose: str
    fingerprint: str
    public_key: str = Field(description="0x04||x||y")
    not_before: datetime
    not_after: datetime | None = Field(description="null: open-ended")
    revoked_at: datetime | None = Field(description="null: not revoked")
    ends_at: datetime | None = Field(description="The earlier of not_after and revoked_at")
    registered_at: datetime

    @classmethod
    def of(cls, key: KeyEntry) -> KeyOut:
        return cls(
            key_id=canonical.hex0x(key.key_id),
            member=key.member,
            purpose=key.purpose,
            fingerprint=canonical.label("sm3", key.fingerprint),
            public_key=canonical.hex0x(key.public_key.to_raw()),
            not_before=datetime.fromtimestamp(key.not_before, UTC),
            not_after=_time(key.not_after),
            revoked_at=_time(key.revoked_at),
            ends_at=_time(key.ends_at),
            registered_at=datetime.fromtimestamp(key.registered_at, UTC),
        )


class KeysOut(BaseModel):
    member: str
    keys: list[KeyOut]


class TransactionOut(BaseModel):
    """A transaction mined successfully (nothing is reported before)."""

    tx_hash: str
    block_number: int

    @classmethod
    def of(cls, mined: Mined) -> TransactionOut:
        return cls(tx_hash=canonical.hex0x(mined.tx_hash), block_number=mined.block_number)


class ProposalDoneOut(BaseModel):
    transaction: TransactionOut
    proposal: ProposalOut = Field(description="The proposal as it stands after the transaction")

    @classmethod
    def of(cls, done: ProposalDone) -> ProposalDoneOut:
        return cls(
            transaction=TransactionOut.of(done.mined), proposal=ProposalOut.of(done.proposal)
        )


class KeyDoneOut(BaseModel):
    transaction: TransactionOut
    key: KeyOut = Field(description="The key as it stands after the transaction")

    @classmethod
    def of(cls, done: KeyDone) -> KeyDoneOut:
        return cls(transaction=TransactionOut.of(done.mined), key=KeyOut.of(done.key))
