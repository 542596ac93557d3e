"""A member voted out loses its rights in the very block that removes it: its transactions mined
after the removal in that block revert, on the Consortium and on the KeyRegistry alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ledger.chain.client import ChainClient
from ledger.chain.consortium import ProposalKind
from ledger.chain.errors import NotPermitted
from ledger.chain.keys import PURPOSE_IDS
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consortium import DeployConsortium, Party, refused


@pytest.fixture
def manual_mining(governance_url: str) -> Iterator[ChainClient]:
    """A client to switch anvil's automine off; it is on again after the test, whatever happens."""
    client = ChainClient(rpc_url=governance_url)
    try:
        yield client
    finally:
        client.json_rpc("evm_setAutomine", True)


def _unsimulated(party: Party, fn: Any, nonce: int) -> bytes:
    """Sign ``fn`` with a fixed gas limit (no estimate, so no simulation) and send it."""
    tx = fn.build_transaction(
        {
            "from": party.address,
            "nonce": nonce,
            "gas": 400_000,
            "chainId": party.client.chain_id,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
        }
    )
    return party.client.send_raw(party.client.signer.sign(tx))


def test_removed_member_is_refused_in_the_same_block(
    deploy_consortium: DeployConsortium, manual_mining: ChainClient
) -> None:
    d = deploy_consortium(founders=4)
    a, b, c, _ = d.members
    open_vote = a.consortium.propose_threshold(ProposalKind.ADMIT_MEMBER, 3)
    removal = a.consortium.propose_removal(c.address)
    a.consortium.vote(removal.proposal_id)
    b.consortium.vote(removal.proposal_id)
    manual_mining.json_rpc("evm_setAutomine", False)

    execute = _unsimulated(
        a, a.consortium._contract.functions.execute(removal.proposal_id), a.client.next_nonce()
    )
    nonce = c.client.next_nonce()
    fresh = SM2PrivateKey.generate().public_key()
    after = [
        _unsimulated(c, c.consortium._contract.functions.vote(open_vote.proposal_id), nonce),
        _unsimulated(
            c,
            c.consortium._contract.functions.proposeThreshold(int(ProposalKind.GRANT_ROLE), 1),
            nonce + 1,
        ),
        _unsimulated(
            c,
            c.keys._contract.functions.registerKey(
                PURPOSE_IDS["request-signing"], fresh.to_raw(), fresh.fingerprint(), 0, 0
            ),
            nonce + 2,
        ),
    ]
    manual_mining.json_rpc("evm_mine")
    manual_mining.json_rpc("evm_setAutomine", True)

    executed = a.client.receipt(execute)
    assert executed is not None and executed["status"] == 1
    receipts = [c.client.receipt(h) for h in after]
    assert all(r is not None for r in receipts)
    assert {r["blockNumber"] for r in receipts} == {executed["blockNumber"]}
    assert all(r["transactionIndex"] > executed["transactionIndex"] for r in receipts)
    assert [r["status"] for r in receipts] == [0, 0, 0]
    # what each of them met: the caller is no member (asked again on the block they landed in)
    assert not a.consortium.is_member(c.address)
    assert not a.consortium.has_voted(open_vote.proposal_id, c.address)
    assert a.consortium.proposal_ids() == [open_vote.proposal_id, removal.proposal_id]
    assert c.keys.key_ids_of(c.address, "request-signing") == []
    with refused(NotPermitted, "Consortium__NotMember", c.address):
        c.consortium.vote(open_vote.proposal_id)
    with refused(NotPermitted, "KeyRegistry__NotMember", c.address):
        c.keys.register("request-signing", fresh)
