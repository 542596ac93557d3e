"""The service fills ``keys`` when it writes a proof: on the dev chain its issuer key is the dev
consortium's registered sealing key, so its proofs are ``ledger-proof/2`` and confirm on chain;
a proof sealed before the key's revocation stays valid, and the service refuses to seal one
after it. Without a registered sealing key it writes ``ledger-proof/1`` (claims nothing)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.agreement import Document, VersionStatus, new_agreement_id
from ledger.chain.client import ChainClient
from ledger.chain.consortium_config import dev_config
from ledger.chain.deployments import Deployments, deploy_consortium, recorded_consortium
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.chain.keys import KeyRegistryContract
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.proof import FORMAT_V2, confirm_on_chain, verify_proof
from ledger.service import RunningService, running_service
from ledger.service._proof_keys import (
    FixedSealingKeys,
    RegistryKeys,
    recorded_registry_keys,
)
from ledger.service.errors import ProofRefused, ServiceUnavailable
from ledger.settings import Settings
from ledger.signature import sign_version


class Clock:
    """Wall time, or a time the test sets."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(UTC)


@pytest.fixture
def settings(tmp_path: Path, anvil_url: str) -> Settings:
    return Settings(data_dir=tmp_path, chain_rpc_url=anvil_url, chain_private_key=DEV_PRIVATE_KEY)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(settings: Settings, clock: Clock) -> Iterator[RunningService]:
    with running_service(settings, now=clock) as running:
        yield running


def _anchored(service: RunningService, keys: dict[str, SM2PrivateKey] | None = None) -> str:
    """One agreement signed by ``keys`` (default: two fresh keys), accepted and anchored."""
    keys = keys or {"customer": SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}
    document = Document(b"an agreement whose proof names its keys")
    agreement_id = new_agreement_id()
    evidence = service.evidence
    evidence.submit(
        document,
        agreement_id=agreement_id,
        signatures=sign_version(
            keys,
            domain=evidence.domain,
            agreement_id=agreement_id,
            version=1,
            document_sm3=document.sm3,
            signed_at=datetime.now(UTC).replace(microsecond=0),
        ),
    )
    deadline = time.monotonic() + 30
    while evidence.get_version(agreement_id, 1).status is not VersionStatus.ANCHORED:
        assert time.monotonic() < deadline, "not anchored in 30 s"
        time.sleep(0.05)
    return agreement_id


def test_proofs_carry_the_registry_entries_and_a_revocation_is_honoured(
    settings: Settings, service: RunningService, clock: Clock
) -> None:
    member = ChainClient(rpc_url=service.chain.rpc_url, private_key=DEV_PRIVATE_KEY)
    _, registry = recorded_consortium(member, Deployments(directory=settings.deployments_dir))
    keys = {"customer": SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}
    broker_key_id = registry.register("request-signing", keys["broker"].public_key()).key_id
    starts = registry.key(broker_key_id).not_before
    while datetime.now(UTC).timestamp() < starts:  # the broker signs once its key is valid
        time.sleep(0.1)
    agreement_id = _anchored(service, keys)
    sealed_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    clock.fixed = sealed_at
    data = service.evidence.proof(agreement_id, 1)
    verified = verify_proof(data, trusted_issuers={service.evidence.issuer_fingerprint})
    assert verified.format == FORMAT_V2
    assert verified.keys is not None
    seal, broker = verified.keys.entries
    assert (seal.signer, seal.member, seal.purpose, seal.used_at) == (
        "seal",
        service.chain.address,
        "proof-sealing",
        sealed_at,
    )
    assert (broker.signer, broker.key_id, broker.member, broker.purpose) == (
        "broker",
        broker_key_id,
        service.chain.address,
        "request-signing",
    )
    confirm_on_chain(verified, client=service.chain)

    # the member revokes the sealing key, effective a minute after that seal
    revoked_at = int(sealed_at.timestamp()) + 60
    registry.revoke(seal.key_id, effective_at=revoked_at)
    confirm_on_chain(verify_proof(data), client=service.chain)  # sealed before: still valid

    clock.fixed = datetime.fromtimestamp(revoked_at, UTC)
    shown = clock.fixed.strftime("%Y-%m-%dT%H:%M:%SZ")
    message = (
        f"{agreement_id} v1: the seal key was not valid when it signed ({shown}): it was revoked"
        f" effective {shown}"
    )
    with pytest.raises(ProofRefused, match=f"^{re.escape(message)}$"):
        service.evidence.proof(agreement_id, 1)


def test_without_a_registered_sealing_key_there_are_no_keys_to_claim(
    settings: Settings, service: RunningService, tmp_path: Path
) -> None:
    """No registry recorded, or an issuer key the registry does not hold: no ``keys`` (the
    service then writes ledger-proof/1, as services without ``proof_keys`` do)."""
    agreement_id = _anchored(service)
    record = service.evidence.get_version(agreement_id, 1)
    assert (
        recorded_registry_keys(
            deployments=Deployments(directory=tmp_path / "nothing recorded"),
            chain_id=service.chain.chain_id,
            ledger=service.ledger,
            sealing=FixedSealingKeys(service.issuer),
        )
        is None
    )
    recorded = recorded_registry_keys(
        deployments=Deployments(directory=settings.deployments_dir),
        chain_id=service.chain.chain_id,
        ledger=service.ledger,
        sealing=FixedSealingKeys(SM2PrivateKey.generate()),
    )
    assert recorded is not None
    assert recorded.for_proof(record, sealed_at=datetime.now(UTC)) is None


def test_a_registry_of_another_consortium_is_refused(
    settings: Settings, service: RunningService, tmp_path: Path
) -> None:
    agreement_id = _anchored(service)
    other = deploy_consortium(
        service.chain,
        Deployments(directory=tmp_path / "other"),
        dev_config(service.chain.address, service.issuer.public_key()),
    )
    keys = RegistryKeys(
        registry=KeyRegistryContract(client=service.chain, address=other.key_registry.address),
        ledger=service.ledger,
        member=service.chain.address,
        sealing=FixedSealingKeys(service.issuer),
    )
    message = (
        f"the KeyRegistry {other.key_registry.address} belongs to another consortium than the"
        f" EvidenceLedger {service.ledger.address}: proofs would name the wrong registry"
    )
    with pytest.raises(ServiceUnavailable, match=f"^{re.escape(message)}"):
        keys.for_proof(service.evidence.get_version(agreement_id, 1), sealed_at=datetime.now(UTC))
