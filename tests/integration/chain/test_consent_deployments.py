"""The consent contracts a service relays to: found where they are recorded, deployed over the
recorded Consortium on the dev chain when they are not (once: then found), and refused when
there is no Consortium to ask."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.chain.deployments import Deployments, ensure_consent_contracts
from ledger.chain.errors import DeploymentError
from tests._fixtures.consortium import DeployConsortium


def test_deployed_once_on_the_dev_chain_then_found(
    deploy_consortium: DeployConsortium, tmp_path: Path
) -> None:
    d = deploy_consortium()
    client = d.members[0].client
    deployments = Deployments(directory=tmp_path / "deployments")
    attestations, registry = ensure_consent_contracts(client, deployments)
    assert registry.attestations() == attestations.address
    assert registry.consortium() == d.consortium_deployment.address
    again = ensure_consent_contracts(client, deployments)
    assert (again[0].address, again[1].address) == (attestations.address, registry.address)


def test_without_a_recorded_consortium_nothing_is_deployed(
    deploy_consortium: DeployConsortium, tmp_path: Path
) -> None:
    client = deploy_consortium().members[0].client
    deployments = Deployments(directory=tmp_path / "elsewhere")
    with pytest.raises(DeploymentError, match=r"^no Consortium recorded for chain 31337 in "):
        ensure_consent_contracts(client, deployments)
    assert deployments.get(client.chain_id, "ConsentRegistry") is None
