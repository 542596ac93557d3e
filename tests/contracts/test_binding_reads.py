"""The bindings' reads (``ContractBinding._read``: one ``eth_call``, ABI encoded and decoded
with eth-abi) return exactly what web3's contract call returns for the same function: structs,
arrays of structs, arrays of IDs, scalars, addresses, on a real anvil node; a revert is the
contract's typed refusal either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.chain.consortium import role_id
from ledger.chain.errors import StateConflict
from ledger.chain.keys import purpose_id
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consent import attestation_input, deploy_consent, make_grant
from tests._fixtures.consortium import DeployConsortium, chain_time


def test_reads_equal_web3s(deploy_consortium: DeployConsortium, tmp_path: Path) -> None:
    deployed = deploy_consortium()
    world = deploy_consent(deployed, tmp_path / "consent")
    a, b = deployed.members[0], deployed.members[1]
    customer = SM2PrivateKey.generate()
    now = chain_time(a.client)
    attestation_id = world.att(a).attest(attestation_input(customer, now=now)).attestation_id
    registry = world.reg(b)
    grant = make_grant(b, attestation_id, now=now)
    recorded = registry.record_grant(grant, customer.sign(registry.grant_digest(grant)))
    a.keys.register("disclosure-receiving", SM2PrivateKey.generate().public_key())

    reads = [
        (registry, "getGrant", (recorded.record_id,)),
        (registry, "revocationsOf", (recorded.record_id,)),
        (registry, "grantsOf", (b.address,)),
        (registry, "consortium", ()),
        (world.att(a), "getAttestation", (attestation_id,)),
        (world.att(a), "attestationsOf", (a.address,)),
        (a.keys, "validKeysAt", (a.address, purpose_id("disclosure-receiving"), now + 60)),
        (a.consortium, "isAllowed", (a.address, role_id("broker"))),
    ]
    for binding, name, args in reads:
        expected = binding._call(getattr(binding._contract.functions, name)(*args))
        assert binding._read(name, *args) == expected, name


def test_a_revert_is_the_same_typed_refusal(
    deploy_consortium: DeployConsortium, tmp_path: Path
) -> None:
    world = deploy_consent(deploy_consortium(), tmp_path / "consent")
    registry = world.reg(world.d.members[0])
    unknown = b"\x42" * 32
    with pytest.raises(StateConflict, match=r"ConsentRegistry__UnknownGrant\(4242") as ours:
        registry._read("getGrant", unknown)
    with pytest.raises(StateConflict, match="ConsentRegistry__UnknownGrant") as web3s:
        registry._call(registry._contract.functions.getGrant(unknown))
    assert (ours.value.error, ours.value.args) == (web3s.value.error, web3s.value.args)
