"""The on-chain key directory against a real Consortium and KeyRegistry on anvil: who a keyid
names, in which window, with which roles, and how soon chain changes reach it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.chain.deployments import Deployments
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.errors import NodeError
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import default_keyid
from ledger.member import customer_keyid, directory_for
from ledger.member.chain_directory import REQUEST_SIGNING, ChainKeyDirectory
from ledger.member.governance import Governance
from ledger.settings import Settings
from tests._fixtures.consortium import (
    DeployConsortium,
    advance,
    carry,
    chain_time,
    make_consortium,
)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_a_registered_request_key_names_its_member_roles_and_window(
    deploy_consortium: DeployConsortium,
) -> None:
    deployed = deploy_consortium()
    broker, auditor = deployed.members[0], deployed.members[2]
    clock = _Clock()
    directory = ChainKeyDirectory(
        consortium=broker.consortium, registry=broker.keys, refresh_s=2.0, clock=clock
    )
    keyid = default_keyid(broker.sm2.public_key())
    assert directory.lookup(keyid, _at(chain_time(broker.client))) is None  # not registered

    registered = broker.keys.register(REQUEST_SIGNING, broker.sm2.public_key())
    auditor.keys.register(REQUEST_SIGNING, auditor.sm2.public_key())
    assert directory.lookup(keyid, _at(chain_time(broker.client))) is None  # index still fresh
    clock.now += 2.0
    entry = directory.lookup(keyid, _at(chain_time(broker.client)))
    assert entry is not None
    assert (entry.member_id, entry.roles) == (broker.address, frozenset({"broker"}))
    assert entry.public_key.to_raw() == broker.sm2.public_key().to_raw()
    key = broker.keys.key(registered.key_id)
    assert entry.valid_from == _at(key.not_before) and entry.valid_until is None
    other = directory.lookup(default_keyid(auditor.sm2.public_key()), _at(0))
    assert other is not None and other.roles == frozenset({"auditor"})

    advance(broker.client, 60)
    broker.keys.revoke(registered.key_id)  # effective from its block's time
    directory.refresh()
    revoked = directory.lookup(keyid, _at(0))
    revoked_at = broker.keys.key(registered.key_id).revoked_at
    assert revoked is not None and revoked_at is not None
    assert revoked.valid_until == _at(revoked_at)
    assert revoked.valid_at(_at(key.not_before)) and revoked.valid_at(_at(revoked_at - 1))
    assert not revoked.valid_at(_at(revoked_at))


def test_a_member_voted_out_signs_nothing_from_its_removal_on(
    deploy_consortium: DeployConsortium,
) -> None:
    deployed = deploy_consortium()
    first, second, third = deployed.members[:3]
    third.keys.register(REQUEST_SIGNING, third.sm2.public_key())
    directory = ChainKeyDirectory(consortium=first.consortium, registry=first.keys, refresh_s=0)
    keyid = default_keyid(third.sm2.public_key())
    before = directory.lookup(keyid, _at(0))
    assert before is not None and before.valid_until is None and before.roles == {"auditor"}
    carry(first, [first, second], first.consortium.propose_removal(third.address).proposal_id)
    removed_at = chain_time(first.client)  # the block that executed the removal
    after = directory.lookup(keyid, _at(0))
    assert after is not None
    assert (after.member_id, after.roles, after.valid_until) == (
        third.address,
        frozenset(),
        _at(removed_at),
    )
    assert not after.valid_at(_at(removed_at))
    # admitted again: its keys are valid again, with the roles it was given
    spec = deployed.spec_for(third, roles=("broker",))
    carry(first, [first, second], first.consortium.propose_admission(spec).proposal_id)
    again = directory.lookup(keyid, _at(0))
    assert again is not None and again.valid_until is None and again.roles == {"broker"}


def test_the_last_index_serves_while_the_node_is_down(tmp_path: Path) -> None:
    node = DevNode(directory=tmp_path / "anvil", port=free_port())
    try:
        deployed = make_consortium(node.start(), tmp_path / "deployments")
        broker = deployed.members[0]
        broker.keys.register(REQUEST_SIGNING, broker.sm2.public_key())
        clock = _Clock()
        directory = ChainKeyDirectory(
            consortium=broker.consortium, registry=broker.keys, refresh_s=2.0, clock=clock
        )
        unread = ChainKeyDirectory(consortium=broker.consortium, registry=broker.keys)
        keyid = default_keyid(broker.sm2.public_key())
        assert directory.lookup(keyid, _at(0)) is not None
    finally:
        node.stop()
    clock.now += 60.0
    entry = directory.lookup(keyid, _at(0))  # the read fails: the last index answers
    assert entry is not None and entry.member_id == broker.address
    with pytest.raises(NodeError, match=r"^chain node at .* unreachable"):  # nothing read yet
        unread.lookup(keyid, _at(0))


def test_the_service_directory_reads_the_recorded_consortium(
    deploy_consortium: DeployConsortium, tmp_path: Path
) -> None:
    deployed = deploy_consortium()
    broker = deployed.members[0]
    broker.keys.register(REQUEST_SIGNING, broker.sm2.public_key())
    # the fixture records the deployments under tmp_path/deployments = data_dir/deployments
    settings = Settings(data_dir=tmp_path, members_file=None)
    governance = Governance(
        client=broker.client, deployments=Deployments(directory=tmp_path / "deployments")
    )
    directory = directory_for(settings, governance=governance)
    entry = directory.lookup(default_keyid(broker.sm2.public_key()), _at(0))
    assert entry is not None and (entry.member_id, entry.roles) == (
        broker.address,
        frozenset({"broker"}),
    )
    customer = SM2PrivateKey.generate().public_key()
    assert directory.lookup(customer_keyid(customer), _at(0)) is not None

    nowhere = Governance(client=broker.client, deployments=Deployments(directory=tmp_path / "none"))
    elsewhere = directory_for(Settings(data_dir=tmp_path), governance=nowhere)
    assert elsewhere.lookup(default_keyid(broker.sm2.public_key()), _at(0)) is None
