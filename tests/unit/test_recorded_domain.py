"""The signing domain without the chain node: configuration, else the one recorded deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger._runtime import recorded_domain
from ledger.agreement import SigningDomain
from ledger.chain.deployments import Deployment, Deployments
from ledger.errors import ConfigurationError
from ledger.settings import Settings

A = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
B = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"


def _record(settings: Settings, chain_id: int, address: str) -> None:
    Deployments(directory=settings.deployments_dir).record(
        chain_id,
        "EvidenceLedger",
        Deployment(
            address=address,
            tx_hash="0x" + "11" * 32,
            block_number=1,
            deployer=A,
            code_keccak256="22" * 32,
            compiler="0.8.28",
        ),
    )


def test_configuration_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, chain_id=7, contract_address=B.lower())
    _record(settings, 31337, A)
    assert recorded_domain(settings) == SigningDomain(chain_id=7, contract=B)


def test_the_one_recorded_deployment(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    _record(settings, 1337, A)
    assert recorded_domain(settings) == SigningDomain(chain_id=1337, contract=A)
    _record(settings, 31337, B)  # two chains: LEDGER_CHAIN_ID picks one
    with pytest.raises(
        ConfigurationError,
        match=r"^the chain node is unreachable and the signing domain is not known: one on each"
        r" of chains \[1337, 31337\] of EvidenceLedger recorded in ",
    ):
        recorded_domain(settings)
    picked = Settings(data_dir=tmp_path, chain_id=31337)
    assert recorded_domain(picked) == SigningDomain(chain_id=31337, contract=B)


def test_nothing_known_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"^the chain node is unreachable and the signing domain is not known: none of"
        r" EvidenceLedger recorded in .* for chain 5; set LEDGER_CHAIN_ID and"
        r" LEDGER_CONTRACT_ADDRESS, or start with the node up$",
    ):
        recorded_domain(Settings(data_dir=tmp_path, chain_id=5))
