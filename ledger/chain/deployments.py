"""Where the contracts live on each chain: one deployments file per chain ID.

``<directory>/<chain id>.json`` maps contract names to address, deploying transaction, block and
the keccak256 of the deployed code. ``ensure_evidence_ledger`` deploys once and reuses the record
while the chain still holds that exact code. The EvidenceLedger asks a Consortium before each
write: the recorded one (``ledger consortium init``), or on the dev chain a one-member dev
consortium deployed with it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from ledger import canonical
from ledger.chain.artifact import load_artifact
from ledger.chain.attestations import CONTRACT_NAME as IDENTITY_ATTESTATIONS
from ledger.chain.attestations import IdentityAttestationsContract
from ledger.chain.client import ChainClient
from ledger.chain.consent import CONTRACT_NAME as CONSENT_REGISTRY
from ledger.chain.consent import ConsentRegistryContract
from ledger.chain.consortium import CONTRACT_NAME as CONSORTIUM
from ledger.chain.consortium import ConsortiumContract
from ledger.chain.consortium_config import ConsortiumConfig, dev_config
from ledger.chain.devnode import DEV_CHAIN_ID
from ledger.chain.errors import DeploymentError
from ledger.chain.evidence import CONTRACT_NAME as EVIDENCE_LEDGER
from ledger.chain.keys import CONTRACT_NAME as KEY_REGISTRY
from ledger.chain.keys import KeyRegistryContract
from ledger.crypto.sm2 import SM2PublicKey


@dataclass(frozen=True)
class Deployment:
    address: str
    tx_hash: str
    block_number: int
    deployer: str
    code_keccak256: str
    compiler: str


class Deployments:
    def __init__(self, *, directory: Path) -> None:
        self.directory = directory

    def path(self, chain_id: int) -> Path:
        return self.directory / f"{chain_id}.json"

    def chain_ids(self) -> list[int]:
        """The chains with a deployments file here, in order."""
        if not self.directory.is_dir():
            return []
        names = (p.stem for p in self.directory.glob("*.json"))
        return sorted(int(name) for name in names if name.isdecimal())

    def get(self, chain_id: int, name: str) -> Deployment | None:
        entry = self._read(chain_id).get("contracts", {}).get(name)
        return Deployment(**entry) if entry else None

    def record(self, chain_id: int, name: str, deployment: Deployment) -> None:
        data = self._read(chain_id)
        data["chainId"] = chain_id
        data.setdefault("contracts", {})[name] = asdict(deployment)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".deployments-")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(tmp, self.path(chain_id))

    def _read(self, chain_id: int) -> dict[str, Any]:
        try:
            data = json.loads(self.path(chain_id).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            path = self.path(chain_id)
            raise DeploymentError(f"unreadable deployments file {path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("chainId", chain_id) != chain_id:
            raise DeploymentError(f"{self.path(chain_id)} is not the deployments of {chain_id}")
        return data


def holds_this_build(client: ChainClient, name: str, address: str) -> bool:
    """Whether ``address`` holds exactly the deployed code of this build's ``name``."""
    return keccak(client.code_at(address)) == load_artifact(name).deployed_code_hash


def ensure_evidence_ledger(
    client: ChainClient, deployments: Deployments, *, dev_member_key: SM2PublicKey
) -> Deployment:
    """Return the recorded EvidenceLedger deployment; deploy one first if there is none.

    A recorded address whose code differs from the artifact is an error, except on the dev chain
    (chain ID 31337), whose state may have been reset: there it is deployed again (with a dev
    consortium of ``dev_member_key``'s service if no consortium is there either).
    """
    artifact = load_artifact(EVIDENCE_LEDGER)
    chain_id = client.chain_id
    recorded = deployments.get(chain_id, EVIDENCE_LEDGER)
    if recorded is not None:
        code = client.code_at(recorded.address)
        if keccak(code).hex() == recorded.code_keccak256 == artifact.deployed_code_hash.hex():
            return recorded
        if chain_id != DEV_CHAIN_ID:
            raise DeploymentError(
                f"{EVIDENCE_LEDGER} at {recorded.address} on chain {chain_id} does not hold the"
                " code of this build; deploy it again explicitly (`ledger chain deploy --force`)"
            )
    return deploy_evidence_ledger(client, deployments, dev_member_key=dev_member_key)


def deploy_evidence_ledger(
    client: ChainClient, deployments: Deployments, *, dev_member_key: SM2PublicKey
) -> Deployment:
    """Deploy a new EvidenceLedger over the recorded Consortium and record it. On the dev chain
    without one, a dev consortium (the client's account as its one broker, ``dev_member_key``
    its key) is deployed first; on any other chain that is an error."""
    recorded = deployments.get(client.chain_id, CONSORTIUM)
    if recorded is not None and holds_this_build(client, CONSORTIUM, recorded.address):
        consortium = recorded.address
    elif client.chain_id == DEV_CHAIN_ID:
        config = dev_config(client.address, dev_member_key)
        consortium = deploy_consortium(client, deployments, config, force=True).consortium.address
    else:
        raise DeploymentError(
            f"no {CONSORTIUM} recorded for chain {client.chain_id} in {deployments.directory}:"
            f" the {EVIDENCE_LEDGER} asks one before each write; run"
            " `ledger consortium init --config consortium.toml` first"
        )
    return deploy(client, deployments, EVIDENCE_LEDGER, (consortium,))


def deploy(
    client: ChainClient,
    deployments: Deployments,
    name: str,
    args: Sequence[Any],
) -> Deployment:
    """Deploy ``name`` with constructor ``args`` and record it."""
    artifact = load_artifact(name)
    sent = client.deploy(artifact, *args)
    address = str(sent.receipt["contractAddress"])
    code = client.code_at(address)
    if keccak(code) != artifact.deployed_code_hash:
        raise DeploymentError(f"{name} deployed at {address} holds unexpected code")
    deployment = Deployment(
        address=address,
        tx_hash=canonical.hex0x(sent.tx_hash),
        block_number=sent.block_number,
        deployer=client.address,
        code_keccak256=keccak(code).hex(),
        compiler=artifact.compiler_version,
    )
    deployments.record(client.chain_id, name, deployment)
    return deployment


@dataclass(frozen=True)
class ConsortiumDeployment:
    consortium: Deployment
    key_registry: Deployment


def deploy_consortium(
    client: ChainClient, deployments: Deployments, config: ConsortiumConfig, *, force: bool = False
) -> ConsortiumDeployment:
    """Deploy the Consortium of ``config`` and a KeyRegistry over it holding the founders' keys,
    and record both. Refused if a Consortium is recorded on this chain and still there, unless
    ``force`` (which deploys a new one: the old stays on chain, no longer recorded)."""
    chain_id = client.chain_id
    recorded = deployments.get(chain_id, CONSORTIUM)
    if recorded is not None and not force and client.code_at(recorded.address):
        raise DeploymentError(
            f"a {CONSORTIUM} is recorded at {recorded.address} on chain {chain_id}; deploy a new"
            " one explicitly (`ledger consortium init --force`)"
        )
    consortium = deploy(
        client,
        deployments,
        CONSORTIUM,
        ConsortiumContract.constructor_args(
            founders=config.founders,
            thresholds=config.thresholds,
            voting_delay_s=config.voting_delay_s,
            voting_period_s=config.voting_period_s,
        ),
    )
    registry = deploy(
        client,
        deployments,
        KEY_REGISTRY,
        KeyRegistryContract.constructor_args(consortium.address, config.initial_keys),
    )
    return ConsortiumDeployment(consortium=consortium, key_registry=registry)


def recorded_consortium(
    client: ChainClient, deployments: Deployments
) -> tuple[ConsortiumContract, KeyRegistryContract]:
    """The Consortium and KeyRegistry recorded for the client's chain, checked to hold this
    build's code; :class:`DeploymentError` if there are none (or they are not there)."""
    found = [_recorded_address(client, deployments, n) for n in (CONSORTIUM, KEY_REGISTRY)]
    return (
        ConsortiumContract(client=client, address=found[0]),
        KeyRegistryContract(client=client, address=found[1]),
    )


@dataclass(frozen=True)
class ConsentDeployment:
    attestations: Deployment
    consent_registry: Deployment


def deploy_consent_contracts(
    client: ChainClient, deployments: Deployments, consortium: str
) -> ConsentDeployment:
    """Deploy IdentityAttestations and a ConsentRegistry over it, both asking ``consortium``,
    and record both (a new deployment replaces the recorded one; the old stays on chain)."""
    attestations = deploy(
        client,
        deployments,
        IDENTITY_ATTESTATIONS,
        IdentityAttestationsContract.constructor_args(consortium),
    )
    registry = deploy(
        client,
        deployments,
        CONSENT_REGISTRY,
        ConsentRegistryContract.constructor_args(consortium, attestations.address),
    )
    return ConsentDeployment(attestations=attestations, consent_registry=registry)


def ensure_consent_contracts(
    client: ChainClient, deployments: Deployments
) -> tuple[IdentityAttestationsContract, ConsentRegistryContract]:
    """The recorded consent contracts; on the dev chain (chain ID 31337), deployed first over
    the recorded Consortium if they are not there (as :func:`ensure_evidence_ledger` does)."""
    try:
        return recorded_consent_contracts(client, deployments)
    except DeploymentError:
        if client.chain_id != DEV_CHAIN_ID:
            raise
    consortium = _recorded_address(client, deployments, CONSORTIUM)
    deploy_consent_contracts(client, deployments, consortium)
    return recorded_consent_contracts(client, deployments)


def recorded_consent_contracts(
    client: ChainClient, deployments: Deployments
) -> tuple[IdentityAttestationsContract, ConsentRegistryContract]:
    """The IdentityAttestations and ConsentRegistry recorded for the client's chain, checked to
    hold this build's code; :class:`DeploymentError` if there are none (or they are not there)."""
    how = "deploy them with deploy_consent_contracts"
    names = (IDENTITY_ATTESTATIONS, CONSENT_REGISTRY)
    found = [_recorded_address(client, deployments, name, how) for name in names]
    return (
        IdentityAttestationsContract(client=client, address=found[0]),
        ConsentRegistryContract(client=client, address=found[1]),
    )


def _recorded_address(
    client: ChainClient, deployments: Deployments, name: str, how: str | None = None
) -> str:
    """The recorded address of ``name`` on the client's chain, checked to hold this build;
    ``how`` says how to deploy it (default: `ledger consortium init`)."""
    chain_id = client.chain_id
    recorded = deployments.get(chain_id, name)
    if recorded is None:
        raise DeploymentError(
            f"no {name} recorded for chain {chain_id} in {deployments.directory}: "
            + (how or "run `ledger consortium init --config consortium.toml`")
        )
    if not holds_this_build(client, name, recorded.address):
        raise DeploymentError(
            f"{name} at {recorded.address} on chain {chain_id} does not hold the code of"
            " this build (a reset dev chain?): " + (how or "run `ledger consortium init --force`")
        )
    return recorded.address
