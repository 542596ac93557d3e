"""A consortium on a real anvil node of its own: members with their own chain accounts and keys.

Governance tests move the chain's clock (``evm_increaseTime``), so they get their own node and
never shift the clock under the other tests' shared one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.client import ChainClient
from ledger.chain.consortium import ConsortiumContract, MemberSpec, Thresholds
from ledger.chain.deployments import Deployment, Deployments, deploy
from ledger.chain.errors import ContractRefused
from ledger.chain.keys import KeyRegistryContract
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.anvil import private_node

#: anvil's ten funded accounts (its default mnemonic "test test ... junk", m/44'/60'/0'/0/i).
ANVIL_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
NAMES = ("Alpha Securities", "Beta Brokerage", "Gamma Audit", "Delta Regulator", "Epsilon")
DEFAULT_ROLES: tuple[tuple[str, ...], ...] = (
    ("broker",),
    ("broker",),
    ("auditor",),
    ("regulator",),
    ("broker",),
)


@dataclass
class Party:
    """One account: its chain client and its view of both contracts."""

    client: ChainClient
    consortium: ConsortiumContract
    keys: KeyRegistryContract
    sm2: SM2PrivateKey

    @property
    def address(self) -> str:
        return self.client.address


@dataclass
class Deployed:
    members: list[Party]  # the founders, in order
    outsiders: list[Party]  # funded accounts that are not members
    specs: list[MemberSpec]
    consortium_deployment: Deployment
    registry_deployment: Deployment

    def spec_for(self, party: Party, roles: Sequence[str] = ("broker",)) -> MemberSpec:
        return MemberSpec(
            account=party.address,
            name=f"Member {party.address[:8]}",
            endpoint=f"https://{party.address[2:10].lower()}.example",
            key_fingerprint=party.sm2.public_key().fingerprint(),
            roles=tuple(roles),
        )


def chain_time(client: ChainClient) -> int:
    """The latest block's timestamp."""
    return int(client.json_rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def advance(client: ChainClient, seconds: int) -> int:
    """Move the chain's clock on by ``seconds`` and mine a block; its timestamp."""
    client.json_rpc("evm_increaseTime", seconds)
    client.json_rpc("evm_mine")
    return chain_time(client)


def set_next_timestamp(client: ChainClient, timestamp: int) -> None:
    """The next mined block gets exactly ``timestamp``."""
    client.json_rpc("evm_setNextBlockTimestamp", timestamp)


def mine_at(client: ChainClient, timestamp: int) -> None:
    """Mine a block at exactly ``timestamp``: calls (and the simulation before each transaction)
    then see it as ``block.timestamp``."""
    set_next_timestamp(client, timestamp)
    client.json_rpc("evm_mine")


@pytest.fixture(scope="session")
def governance_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with private_node(tmp_path_factory.mktemp("governance-anvil")) as url:
        yield url


DeployConsortium = Callable[..., Deployed]


def make_consortium(
    rpc_url: str,
    directory: Path,
    founders: int = 3,
    thresholds: Thresholds | None = None,
    voting_delay_s: int = 0,
    voting_period_s: int = 3600,
    roles: Sequence[Sequence[str]] = DEFAULT_ROLES,
) -> Deployed:
    """Deploy a Consortium (founders = the first ``founders`` anvil accounts) and a KeyRegistry
    over it (records under ``directory``); every account gets its own client and SM2 key."""
    clients = [ChainClient(rpc_url=rpc_url, private_key=k) for k in ANVIL_KEYS]
    sm2_keys = [SM2PrivateKey.generate() for _ in clients]
    specs = [
        MemberSpec(
            account=clients[i].address,
            name=NAMES[i],
            endpoint=f"https://member{i}.example/ledger",
            key_fingerprint=sm2_keys[i].public_key().fingerprint(),
            roles=tuple(roles[i]),
        )
        for i in range(founders)
    ]
    two = min(2, founders)
    chosen = thresholds or Thresholds(two, two, two, two, two)
    deployments = Deployments(directory=directory)
    consortium = deploy(
        clients[0],
        deployments,
        "Consortium",
        ConsortiumContract.constructor_args(
            founders=specs,
            thresholds=chosen,
            voting_delay_s=voting_delay_s,
            voting_period_s=voting_period_s,
        ),
    )
    registry = deploy(
        clients[0],
        deployments,
        "KeyRegistry",
        KeyRegistryContract.constructor_args(consortium.address, []),
    )
    parties = [
        Party(
            client=client,
            consortium=ConsortiumContract(client=client, address=consortium.address),
            keys=KeyRegistryContract(client=client, address=registry.address),
            sm2=sm2,
        )
        for client, sm2 in zip(clients, sm2_keys, strict=True)
    ]
    return Deployed(
        members=parties[:founders],
        outsiders=parties[founders:],
        specs=specs,
        consortium_deployment=consortium,
        registry_deployment=registry,
    )


@pytest.fixture
def deploy_consortium(governance_url: str, tmp_path: Path) -> DeployConsortium:
    """``make_consortium`` on the governance node, recorded under this test's tmp_path."""

    def make(**options: Any) -> Deployed:
        return make_consortium(governance_url, tmp_path / "deployments", **options)

    return make


@contextmanager
def chain_snapshot(client: ChainClient) -> Iterator[None]:
    """Whatever happens on the chain inside is undone after (anvil's evm_snapshot/evm_revert),
    its clock included."""
    snapshot = client.json_rpc("evm_snapshot")
    try:
        yield
    finally:
        client.json_rpc("evm_revert", snapshot)


@contextmanager
def refused(
    kind: type[ContractRefused], error: str, *args: object
) -> Iterator[pytest.ExceptionInfo[ContractRefused]]:
    """Expect the typed refusal ``kind`` with exactly this custom error and these arguments."""
    contract = error.split("__")[0]
    with pytest.raises(kind, match=rf"^{contract} reverted with {error}\(") as exc:
        yield exc
    assert exc.value.error == error
    assert exc.value.error_args == args


def carry(proposer: Party, voters: Sequence[Party], proposal_id: bytes) -> None:
    """Vote ``proposal_id`` through with ``voters`` and execute it as ``proposer``."""
    for voter in voters:
        voter.consortium.vote(proposal_id)
    proposer.consortium.execute(proposal_id)


__all__ = [
    "ANVIL_KEYS",
    "DeployConsortium",
    "Deployed",
    "Party",
    "advance",
    "carry",
    "chain_snapshot",
    "chain_time",
    "make_consortium",
    "mine_at",
    "refused",
    "set_next_timestamp",
]
