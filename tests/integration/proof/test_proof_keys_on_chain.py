"""``ledger-proof/2`` against a real consortium on anvil: a member anchors a batch with its own
account, its sealing key and its broker key are in the KeyRegistry, and ``confirm_on_chain`` (and
``ledger verify --rpc``) reads the entries back. A revocation effective after the signing keeps
the proof valid, one effective at or before it makes it invalid; a rotation keeps old proofs
valid. Each test moves the governance node's clock only forward and reads it, never assumes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.chain.deployments import Deployments, deploy
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.chain.keys import KeyRegistryContract
from ledger.cli import cli
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.proof import ProofInvalid, ProofKeys, VerifiedProof, confirm_on_chain, verify_proof
from tests._fixtures.consortium import DeployConsortium, Deployed, Party, advance, chain_time
from tests._fixtures.proof_keys import entry
from tests._fixtures.proofs import AnchoredBatch, Parties, anchor_on_chain, domain_of, sign_version


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _time(seconds: int) -> str:
    return _at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Setting:
    """A consortium, an EvidenceLedger over it, and its broker member ``member`` (who anchors,
    seals with ``parties.issuer`` and signs as broker with ``parties.keys['broker']``)."""

    deployed: Deployed
    member: Party
    ledger: EvidenceLedgerContract
    registry: KeyRegistryContract
    parties: Parties

    def anchored(self) -> tuple[AnchoredBatch, int]:
        """A version signed now (chain time), anchored; and that time."""
        now = chain_time(self.member.client)
        version = sign_version(
            self.parties, domain_of(self.ledger), roles=("customer", "broker"), signed_at=_at(now)
        )
        return anchor_on_chain([version], self.ledger, extra_leaves=1), now

    def keys(self, sealed_at: int, *, issuer: SM2PrivateKey | None = None) -> ProofKeys:
        """The entries as the registry holds them now, for a seal at ``sealed_at``."""
        seal = (issuer or self.parties.issuer).public_key().fingerprint()
        broker = self.parties.keys["broker"].public_key().fingerprint()
        member = self.member.address
        found = self.registry.entry_of(member, "proof-sealing", seal)
        assert found is not None
        return ProofKeys(
            chain_id=self.member.client.chain_id,
            registry=self.registry.address,
            sealed_at=_at(sealed_at),
            seal=found,
            broker=self.registry.entry_of(member, "request-signing", broker),
        )

    def proof(self, batch: AnchoredBatch, sealed_at: int, **options: object) -> bytes:
        issuer = options.pop("issuer", self.parties.issuer)
        assert isinstance(issuer, SM2PrivateKey)
        keys = options.pop("keys", None) or self.keys(sealed_at, issuer=issuer)
        return batch.proof(0, issuer, keys=keys)

    def confirm(self, data: bytes) -> VerifiedProof:
        verified = verify_proof(data)
        confirm_on_chain(verified, client=self.member.client)
        return verified


@pytest.fixture
def setting(deploy_consortium: DeployConsortium, tmp_path: Path) -> Setting:
    deployed = deploy_consortium()
    member = deployed.members[0]  # a broker
    ledger = deploy(
        member.client,
        Deployments(directory=tmp_path / "ledger"),
        "EvidenceLedger",
        (deployed.consortium_deployment.address,),
    )
    parties = Parties.generate(("customer", "broker"))
    member.keys.register("proof-sealing", parties.issuer.public_key())
    member.keys.register("request-signing", parties.keys["broker"].public_key())
    advance(member.client, 5)
    return Setting(
        deployed=deployed,
        member=member,
        ledger=EvidenceLedgerContract(client=member.client, address=ledger.address),
        registry=member.keys,
        parties=parties,
    )


def test_a_proof_confirms_its_keys_on_chain(setting: Setting) -> None:
    batch, signed = setting.anchored()
    verified = setting.confirm(setting.proof(batch, signed + 60))
    assert verified.keys is not None
    assert [(k.signer, k.member) for k in verified.keys.entries] == [
        ("seal", setting.member.address),
        ("broker", setting.member.address),
    ]


def test_a_revocation_effective_after_the_signing_keeps_the_proof_valid(setting: Setting) -> None:
    batch, signed = setting.anchored()
    sealed = signed + 60
    data = setting.proof(batch, sealed)
    keys = setting.keys(sealed)
    setting.member.keys.revoke(keys.seal.key_id, effective_at=sealed + 1)
    assert keys.broker is not None
    advance(setting.member.client, 120)
    setting.member.keys.revoke(keys.broker.key_id)  # effective now, long after it signed
    setting.confirm(data)


def test_a_revocation_effective_before_the_seal_makes_the_proof_invalid(
    setting: Setting, tmp_path: Path
) -> None:
    batch, signed = setting.anchored()
    sealed = signed + 60
    data = setting.proof(batch, sealed)
    keys = setting.keys(sealed)
    setting.member.keys.revoke(keys.seal.key_id, effective_at=sealed)  # at the seal: too late
    message = (
        f"the seal key was not valid when it signed ({_time(sealed)}): it was revoked effective"
        f" {_time(sealed)}"
    )
    with pytest.raises(ProofInvalid, match=f"^{re.escape(message)}$"):
        setting.confirm(data)
    # the same on the command line
    result = CliRunner().invoke(
        cli, ["verify", "--rpc", setting.member.client.rpc_url, str(_file(tmp_path, data))]
    )
    assert (result.exit_code, result.output) == (1, f"invalid: {message}\n")
    # and a proof sealed now, with the entry as it now reads, is refused by its builder
    with pytest.raises(ProofInvalid, match=f"^{re.escape(message)}$"):
        setting.proof(batch, sealed)


def test_a_broker_key_revoked_before_it_signed_makes_the_proof_invalid(setting: Setting) -> None:
    batch, signed = setting.anchored()
    data = setting.proof(batch, signed + 60)
    broker = setting.keys(signed + 60).broker
    assert broker is not None
    setting.member.keys.revoke(broker.key_id, effective_at=signed - 1)
    message = (
        f"the broker's key was not valid when it signed ({_time(signed + 1)}): it was revoked"
        f" effective {_time(signed - 1)}"
    )
    with pytest.raises(ProofInvalid, match=f"^{re.escape(message)}$"):
        setting.confirm(data)


def test_a_rotated_key_keeps_old_proofs_valid(setting: Setting) -> None:
    batch, signed = setting.anchored()
    old_proof = setting.proof(batch, signed + 60)
    # a proof claiming to be sealed later than the rotation, by the old key: valid offline
    # (its entry was open-ended when read), refused on chain once the rotation ended the key
    late_proof = setting.proof(batch, signed + 10_000)
    advance(setting.member.client, 120)
    rotated_at = chain_time(setting.member.client) + 1
    new_issuer = SM2PrivateKey.generate()
    old_key_id = setting.keys(signed + 60).seal.key_id
    setting.member.keys.rotate(old_key_id, new_issuer.public_key(), not_before=rotated_at)
    assert setting.registry.key(old_key_id).not_after == rotated_at
    setting.confirm(old_proof)
    ended = (
        f"the seal key was not valid when it signed ({_time(signed + 10_000)}): its window"
        f" ended at {_time(rotated_at)}"
    )
    with pytest.raises(ProofInvalid, match=f"^{re.escape(ended)}$"):
        setting.confirm(late_proof)
    # after the rotation the service seals with the new key
    advance(setting.member.client, 10)
    now = chain_time(setting.member.client)
    assert setting.confirm(setting.proof(batch, now, issuer=new_issuer)).issuer_fingerprint == (
        new_issuer.public_key().fingerprint()
    )


def test_entries_the_chain_does_not_hold_are_refused(
    setting: Setting, deploy_consortium: DeployConsortium
) -> None:
    batch, signed = setting.anchored()
    sealed = signed + 60
    keys = setting.keys(sealed)
    member = setting.member.address
    issuer = setting.parties.issuer.public_key()

    def refused(bad: ProofKeys, message: str) -> None:
        data = setting.proof(batch, sealed, keys=bad)  # offline it checks
        with pytest.raises(ProofInvalid, match=f"^{re.escape(message)}"):
            setting.confirm(data)

    # the key ID does not cover the times: the registered key, with a start the chain lacks
    refused(
        replace(keys, seal=replace(keys.seal, not_before=keys.seal.not_before - 1)),
        f"the seal key keccak256:{keys.seal.key_id.hex()} on chain differs from the proof's entry",
    )
    refused(
        replace(keys, seal=replace(keys.seal, registered_at=keys.seal.registered_at - 1)),
        f"the seal key keccak256:{keys.seal.key_id.hex()} on chain differs from the proof's entry",
    )
    refused(
        replace(keys, seal=replace(keys.seal, not_after=sealed + 10)),
        f"the seal key keccak256:{keys.seal.key_id.hex()} on chain has a later end than the"
        " proof's",
    )
    refused(
        replace(keys, seal=replace(keys.seal, revoked_at=sealed + 10)),
        f"the seal key keccak256:{keys.seal.key_id.hex()} on chain has another revocation",
    )
    # a registry at the EvidenceLedger's address: not a KeyRegistry
    elsewhere = setting.ledger.address
    refused(
        replace(
            keys,
            registry=elsewhere,
            seal=entry(issuer, member=member, registry=elsewhere),
            broker=None,
        ),
        f"no KeyRegistry of this build at {elsewhere}",
    )
    # the real registry of another consortium, the key registered there by the same account
    other = deploy_consortium()
    other.members[0].keys.register("proof-sealing", issuer)
    theirs = other.registry_deployment.address
    found = other.members[0].keys.entry_of(member, "proof-sealing", issuer.fingerprint())
    assert found is not None
    advance(setting.member.client, 5)
    refused(
        replace(keys, registry=theirs, seal=found, broker=None),
        f"the key registry {theirs} belongs to another consortium than the EvidenceLedger"
        f" {setting.ledger.address}",
    )
    # a key the registry never held
    stranger = SM2PrivateKey.generate()
    unknown = entry(stranger.public_key(), member=member, registry=setting.registry.address)
    data = setting.proof(
        batch, sealed, issuer=stranger, keys=replace(keys, seal=unknown, broker=None)
    )
    with pytest.raises(
        ProofInvalid,
        match=f"^the seal key keccak256:{unknown.key_id.hex()} is not in the registry: ",
    ):
        setting.confirm(data)


def _file(directory: Path, data: bytes) -> Path:
    path = directory / "revoked.proof.json"
    path.write_bytes(data)
    return path


def test_a_directory_of_v2_proofs_confirms_each_claim_once(
    setting: Setting, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Proofs of one batch sealed at three times: the anchor and the registry once, the seal
    entry once per sealing time, the broker's entry once (one signing time)."""
    import ledger.cli.verify as verify_cli

    batch, signed = setting.anchored()
    for index, sealed in enumerate((signed + 60, signed + 60, signed + 61, signed + 62)):
        (tmp_path / f"p{index}.proof.json").write_bytes(setting.proof(batch, sealed))
    ran: list[str] = []
    real = verify_cli.confirmation_steps

    def counting(proof: VerifiedProof) -> list[Any]:
        def counted(kind: str, step: Any) -> Any:
            return lambda client: (ran.append(kind), step(client))

        return [(key, counted(str(key[0]), step)) for key, step in real(proof)]

    monkeypatch.setattr(verify_cli, "confirmation_steps", counting)
    result = CliRunner().invoke(
        cli, ["verify", "--rpc", setting.member.client.rpc_url, "--jobs", "4", str(tmp_path)]
    )
    assert (result.exit_code, result.stdout) == (
        0,
        "4 valid, 0 invalid, 0 could not be checked\n",
    )
    assert sorted(ran) == ["anchor", "key", "key", "key", "key", "registry"]
