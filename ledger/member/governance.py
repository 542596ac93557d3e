"""Governing the consortium as one member: what ``ledger consortium`` and the HTTP API share.

:class:`Governance` reads the recorded Consortium and KeyRegistry (the members, thresholds,
proposals and keys) and sends the member's governance transactions with its own chain account:
proposals (a :data:`Change`), votes, execution, cancellation, and its keys' registration,
rotation and revocation. A write returns once its transaction is mined successfully, with the
transaction's hash and block and the record as it then stands (:class:`ProposalDone`,
:class:`KeyDone`); a contract's refusal is its typed error (:mod:`ledger.chain.errors`), raised
by the simulation before anything is sent.

The contracts are found on first use (:func:`~ledger.chain.deployments.recorded_consortium`), so
a service starts while the chain node is down and governance answers once it is back. The
writes of one process are sent one at a time (the account's nonces stay in order); the anchoring
loop, which sends with the same account, re-signs with a fresh nonce if one of these took its
nonce (see :mod:`ledger.batcher`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from eth_utils.address import is_address, is_checksum_address, to_checksum_address

from ledger.chain.client import ChainClient, SentTransaction
from ledger.chain.consortium import (
    ConsortiumContract,
    Member,
    MemberSpec,
    Proposal,
    ProposalKind,
    ProposalState,
    Proposed,
    Thresholds,
)
from ledger.chain.deployments import Deployments, recorded_consortium
from ledger.chain.keys import PURPOSES, KeyEntry, KeyRegistryContract
from ledger.crypto.sm2 import SM2PublicKey

__all__ = [
    "Admit",
    "Change",
    "Governance",
    "Grant",
    "KeyDone",
    "Mined",
    "Overview",
    "ProposalDone",
    "Remove",
    "Revoke",
    "SetThreshold",
    "parse_account",
    "parse_id",
]


def parse_account(text: str) -> str:
    """A chain account, checksummed; :class:`ValueError` for anything else (mixed case must be
    a valid checksum: a typo in it is caught)."""
    if not is_address(text) or (text != text.lower() and not is_checksum_address(text)):
        raise ValueError(f"{text!r} is not a (checksummed) account")
    return str(to_checksum_address(text))


def parse_id(text: str) -> bytes:
    """A proposal or key ID: 32 bytes in hex, ``0x`` optional; :class:`ValueError` otherwise."""
    digits = text.removeprefix("0x")
    try:
        if len(digits) == 64:
            return bytes.fromhex(digits)
    except ValueError:
        pass
    raise ValueError(f"{text!r} is not a 32-byte hex ID")


# -- proposals: what may change ------------------------------------------------------------


class _Proposes(Protocol):
    def propose(self, council: ConsortiumContract) -> Proposed: ...


@dataclass(frozen=True)
class Admit:
    spec: MemberSpec

    def propose(self, council: ConsortiumContract) -> Proposed:
        return council.propose_admission(self.spec)


@dataclass(frozen=True)
class Remove:
    account: str

    def propose(self, council: ConsortiumContract) -> Proposed:
        return council.propose_removal(self.account)


@dataclass(frozen=True)
class SetThreshold:
    kind: ProposalKind
    threshold: int

    def propose(self, council: ConsortiumContract) -> Proposed:
        return council.propose_threshold(self.kind, self.threshold)


@dataclass(frozen=True)
class Grant:
    account: str
    role: str

    def propose(self, council: ConsortiumContract) -> Proposed:
        return council.propose_grant_role(self.account, self.role)


@dataclass(frozen=True)
class Revoke:
    account: str
    role: str

    def propose(self, council: ConsortiumContract) -> Proposed:
        return council.propose_revoke_role(self.account, self.role)


#: A change the council votes on.
Change = Admit | Remove | SetThreshold | Grant | Revoke


# -- what reads and writes return ----------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    """The consortium now: its contracts, members, thresholds and voting times (at ``at``, the
    latest block's time)."""

    chain_id: int
    consortium: str
    key_registry: str
    at: int
    members: list[Member]
    thresholds: Thresholds
    voting_delay_s: int
    voting_period_s: int


@dataclass(frozen=True)
class Mined:
    """A transaction mined successfully."""

    tx_hash: bytes
    block_number: int

    @classmethod
    def of(cls, sent: SentTransaction) -> Mined:
        return cls(tx_hash=sent.tx_hash, block_number=sent.block_number)


@dataclass(frozen=True)
class ProposalDone:
    mined: Mined
    proposal: Proposal


@dataclass(frozen=True)
class KeyDone:
    mined: Mined
    key: KeyEntry


class Governance:
    """One member's view and voice in the consortium recorded in ``deployments`` for the
    chain of ``client``, whose account is the member's; thread-safe."""

    def __init__(self, *, client: ChainClient, deployments: Deployments) -> None:
        self.client = client
        self._deployments = deployments
        self._finding = threading.Lock()
        self._sending = threading.Lock()
        self._contracts: tuple[ConsortiumContract, KeyRegistryContract] | None = None

    @property
    def account(self) -> str:
        """The member's chain account: every write is sent from it."""
        return self.client.address

    def contracts(self) -> tuple[ConsortiumContract, KeyRegistryContract]:
        """The recorded Consortium and KeyRegistry (found once, then kept)."""
        with self._finding:
            if self._contracts is None:
                self._contracts = recorded_consortium(self.client, self._deployments)
            return self._contracts

    # -- reads ----------------------------------------------------------------------------

    def chain_time(self) -> int:
        """The latest block's timestamp (what the contracts call now)."""
        block = self.client.json_rpc("eth_getBlockByNumber", "latest", False)
        return int(block["timestamp"], 16)

    def overview(self) -> Overview:
        council, registry = self.contracts()
        return Overview(
            chain_id=self.client.chain_id,
            consortium=council.address,
            key_registry=registry.address,
            at=self.chain_time(),
            members=council.members(),
            thresholds=council.thresholds(),
            voting_delay_s=council.voting_delay(),
            voting_period_s=council.voting_period(),
        )

    def proposals(
        self, *, state: ProposalState | None = None, open_only: bool = False
    ) -> list[Proposal]:
        """Every proposal, oldest first; only those in ``state``, or only the open ones."""
        return [
            p
            for p in self.contracts()[0].proposals()
            if (state is None or p.state is state) and (not open_only or p.state.is_open)
        ]

    def proposal(self, proposal_id: bytes) -> Proposal:
        """One proposal; :class:`~ledger.chain.errors.UnknownRecord` if there is none."""
        return self.contracts()[0].proposal(proposal_id)

    def keys_of(self, account: str) -> list[KeyEntry]:
        """The keys ``account`` registered, for every purpose, each with its window."""
        registry = self.contracts()[1]
        return [key for purpose in PURPOSES for key in registry.keys_of(account, purpose)]

    # -- writes ---------------------------------------------------------------------------

    def propose(self, change: _Proposes) -> ProposalDone:
        council = self.contracts()[0]
        with self._sending:
            proposed = change.propose(council)
        return self._proposal_after(proposed.sent, proposed.proposal_id)

    def vote(self, proposal_id: bytes) -> ProposalDone:
        return self._on_proposal(ConsortiumContract.vote, proposal_id)

    def execute(self, proposal_id: bytes) -> ProposalDone:
        return self._on_proposal(ConsortiumContract.execute, proposal_id)

    def cancel(self, proposal_id: bytes) -> ProposalDone:
        return self._on_proposal(ConsortiumContract.cancel, proposal_id)

    def register_key(
        self,
        purpose: str,
        public_key: SM2PublicKey,
        *,
        not_before: int = 0,
        not_after: int | None = None,
    ) -> KeyDone:
        """Register the member's key for ``purpose`` (``not_before`` 0: from its block on)."""
        registry = self.contracts()[1]
        with self._sending:
            done = registry.register(
                purpose, public_key, not_before=not_before, not_after=not_after
            )
        return KeyDone(mined=Mined.of(done.sent), key=registry.key(done.key_id))

    def rotate_key(
        self,
        old_key_id: bytes,
        public_key: SM2PublicKey,
        *,
        not_before: int = 0,
        not_after: int | None = None,
    ) -> KeyDone:
        """A new key for the old one's purpose; the old one ends where it starts."""
        registry = self.contracts()[1]
        with self._sending:
            done = registry.rotate(
                old_key_id, public_key, not_before=not_before, not_after=not_after
            )
        return KeyDone(mined=Mined.of(done.sent), key=registry.key(done.key_id))

    def revoke_key(self, key_id: bytes, *, effective_at: int = 0) -> KeyDone:
        """Revoke the member's key from ``effective_at`` (0: its block's time) on."""
        registry = self.contracts()[1]
        with self._sending:
            sent = registry.revoke(key_id, effective_at=effective_at)
        return KeyDone(mined=Mined.of(sent), key=registry.key(key_id))

    def _on_proposal(self, act: _Act, proposal_id: bytes) -> ProposalDone:
        council = self.contracts()[0]
        with self._sending:
            sent = act(council, proposal_id)
        return self._proposal_after(sent, proposal_id)

    def _proposal_after(self, sent: SentTransaction, proposal_id: bytes) -> ProposalDone:
        return ProposalDone(mined=Mined.of(sent), proposal=self.proposal(proposal_id))


class _Act(Protocol):
    def __call__(self, council: ConsortiumContract, proposal_id: bytes, /) -> SentTransaction: ...
