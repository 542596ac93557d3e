"""Deploying IdentityAttestations and the ConsentRegistry over a consortium, finding them again from
the deployments record (checked to hold this build's code), and their constructors' refusals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ledger.chain._reverts import refusals
from ledger.chain.artifact import load_artifact
from ledger.chain.attestations import REFUSALS as ATTESTATION_REFUSALS
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.consent import REFUSALS as CONSENT_REFUSALS
from ledger.chain.consent import ConsentRegistryContract
from ledger.chain.deployments import (
    Deployments,
    deploy_consent_contracts,
    recorded_consent_contracts,
)
from ledger.chain.errors import DeploymentError, InvalidArgument
from tests._fixtures.consortium import DeployConsortium, refused

ZERO = "0x" + "00" * 20


def test_deployed_contracts_are_recorded_and_found_again(
    deploy_consortium: DeployConsortium, tmp_path: Path
) -> None:
    d = deploy_consortium()
    client = d.members[0].client
    deployments = Deployments(directory=tmp_path / "consent")
    with pytest.raises(
        DeploymentError,
        match=r"^no IdentityAttestations recorded for chain \d+ in .*: deploy them with"
        r" deploy_consent_contracts$",
    ):
        recorded_consent_contracts(client, deployments)
    deployed = deploy_consent_contracts(client, deployments, d.consortium_deployment.address)
    attestations, registry = recorded_consent_contracts(client, deployments)
    assert attestations.address == deployed.attestations.address
    assert registry.address == deployed.consent_registry.address
    assert attestations.consortium() == registry.consortium() == d.consortium_deployment.address
    assert registry.attestations() == attestations.address
    for name, deployment in (
        ("IdentityAttestations", deployed.attestations),
        ("ConsentRegistry", deployed.consent_registry),
    ):
        assert deployments.get(client.chain_id, name) == deployment
        assert deployment.code_keccak256 == load_artifact(name).deployed_code_hash.hex()
    # a record pointing at other code (a reset chain, another contract) is refused
    elsewhere = dataclasses.replace(deployed.attestations, address=d.consortium_deployment.address)
    deployments.record(client.chain_id, "IdentityAttestations", elsewhere)
    with pytest.raises(DeploymentError, match=r"does not hold the code of this build"):
        recorded_consent_contracts(client, deployments)


def test_constructors_refuse_zero_addresses(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    client = d.members[0].client
    with (
        refused(InvalidArgument, "IdentityAttestations__ZeroConsortium"),
        refusals(ATTESTATION_REFUSALS),
    ):
        client.deploy(
            load_artifact("IdentityAttestations"),
            *IdentityAttestationsContract.constructor_args(ZERO),
        )
    consortium = d.consortium_deployment.address
    for args in ((ZERO, consortium), (consortium, ZERO)):
        with refused(InvalidArgument, "ConsentRegistry__ZeroAddress"), refusals(CONSENT_REFUSALS):
            client.deploy(
                load_artifact("ConsentRegistry"), *ConsentRegistryContract.constructor_args(*args)
            )


@pytest.mark.parametrize(
    ("name", "mapped"),
    [("IdentityAttestations", ATTESTATION_REFUSALS), ("ConsentRegistry", CONSENT_REFUSALS)],
)
def test_every_custom_error_is_a_typed_refusal(name: str, mapped: dict[str, object]) -> None:
    errors = {e["name"] for e in load_artifact(name).abi if e["type"] == "error"}
    assert errors == set(mapped)
