"""A real anvil node per test session (the project's pinned binary, a free loopback port)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger.chain.client import ChainClient
from ledger.chain.deployments import Deployments, deploy_evidence_ledger
from ledger.chain.devnode import ANVIL, DEV_PRIVATE_KEY, DevNode, free_port
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.crypto.sm2 import SM2PrivateKey

__all__ = ["OUTSIDER_PRIVATE_KEY", "free_port", "private_node"]

#: Second account of anvil's default test mnemonic: funded, but never a writer.
OUTSIDER_PRIVATE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    if not ANVIL.is_file():
        pytest.fail(f"anvil is not installed at {ANVIL}: run `make setup`")
    node = DevNode(directory=tmp_path_factory.mktemp("anvil"), port=free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def own_chain_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A node of the test module's own, whose clock no other module moves: for tests that
    compare the chain's time with the wall clock's (a customer's signature made now)."""
    with private_node(tmp_path_factory.mktemp("own-anvil")) as url:
        yield url


@contextmanager
def private_node(directory: Path) -> Iterator[str]:
    """Start an anvil node in ``directory`` on a free port; its RPC URL; stopped on exit."""
    if not ANVIL.is_file():
        pytest.fail(f"anvil is not installed at {ANVIL}: run `make setup`")
    node = DevNode(directory=directory, port=free_port())
    url = node.start()
    try:
        yield url
    finally:
        node.stop()


@pytest.fixture(scope="session")
def anvil_url(anvil_node: DevNode) -> str:
    url = anvil_node.status().rpc_url
    assert url
    return url


@pytest.fixture
def chain_client(anvil_url: str) -> ChainClient:
    return ChainClient(rpc_url=anvil_url, private_key=DEV_PRIVATE_KEY)


@pytest.fixture
def outsider_client(anvil_url: str) -> ChainClient:
    return ChainClient(rpc_url=anvil_url, private_key=OUTSIDER_PRIVATE_KEY)


@pytest.fixture
def evidence_ledger(chain_client: ChainClient, tmp_path: Path) -> EvidenceLedgerContract:
    """A freshly deployed EvidenceLedger over a fresh dev consortium whose one member (a
    broker) is the dev account."""
    deployment = deploy_evidence_ledger(
        chain_client,
        Deployments(directory=tmp_path / "deployments"),
        dev_member_key=SM2PrivateKey.generate().public_key(),
    )
    return EvidenceLedgerContract(client=chain_client, address=deployment.address)
