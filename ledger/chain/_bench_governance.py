"""``ledger bench governance``: the gas of every governance and key-registry operation.

Measured on a private anvil node (started and stopped here) with a consortium of ``members``
founders and every threshold 2; each proposal kind goes propose → two votes → execute. The
references are measured in the same run: a plain value transfer (21,000 by definition, read
back from its receipt) and one ``anchorBatch``, what a member pays per Merkle batch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from eth_account import Account

from ledger.chain.client import ChainClient
from ledger.chain.consortium import (
    ConsortiumContract,
    MemberSpec,
    ProposalKind,
    Proposed,
    Thresholds,
)
from ledger.chain.deployments import Deployments, deploy
from ledger.chain.devnode import DEV_PRIVATE_KEY, DevNode, free_port
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.chain.keys import KeyRegistryContract
from ledger.crypto.sm2 import SM2PrivateKey

__all__ = ["format_table", "funded_account", "gas_used", "governance_gas"]

#: One row: what was done, its gas.
Row = tuple[str, int]


def governance_gas(*, members: int = 3) -> list[Row]:
    """Gas per operation, in the order they were run (see the module docstring)."""
    if members < 3:
        raise ValueError("the bench needs at least 3 founding members (threshold 2, one removed)")
    with tempfile.TemporaryDirectory(prefix="bench-governance-") as tmp:
        node = DevNode(directory=Path(tmp) / "anvil", port=free_port())
        url = node.start()
        try:
            return _measure(url, Deployments(directory=Path(tmp) / "deployments"), members)
        finally:
            node.stop()


def funded_account(url: str) -> tuple[ChainClient, str]:
    """A new account on the anvil node at ``url`` with ether to spend: its client and its
    private key (hex), for the benches."""
    key = "0x" + os.urandom(32).hex()
    ChainClient(rpc_url=url, private_key=DEV_PRIVATE_KEY).json_rpc(
        "anvil_setBalance", Account.from_key(key).address, hex(10**21)
    )
    return ChainClient(rpc_url=url, private_key=key), key


def _funded(url: str, count: int) -> list[ChainClient]:
    return [funded_account(url)[0] for _ in range(count)]


def gas_used(client: ChainClient, tx_hash: bytes | str) -> int:
    """The gas a mined transaction used (read from its receipt)."""
    if isinstance(tx_hash, str):
        tx_hash = bytes.fromhex(tx_hash.removeprefix("0x"))
    receipt = client.receipt(tx_hash)
    assert receipt is not None  # every transaction here was waited for
    return int(receipt["gasUsed"])


def _spec(client: ChainClient, key: SM2PrivateKey, name: str) -> MemberSpec:
    return MemberSpec(
        account=client.address,
        name=name,
        endpoint=f"https://{name.lower().replace(' ', '-')}.example/ledger",
        key_fingerprint=key.public_key().fingerprint(),
        roles=("broker",),
    )


def _measure(url: str, deployments: Deployments, members: int) -> list[Row]:
    clients = _funded(url, members + 1)
    founders, newcomer = clients[:members], clients[members]
    sm2 = [SM2PrivateKey.generate() for _ in clients]
    rows: list[Row] = []
    first = founders[0]

    dev = ChainClient(rpc_url=url, private_key=DEV_PRIVATE_KEY).address
    transfer = first.json_rpc(
        "eth_sendTransaction", {"from": dev, "to": first.address, "value": "0x1"}
    )
    first.wait_any([bytes.fromhex(transfer.removeprefix("0x"))], timeout_s=30)
    rows.append(("reference: value transfer", gas_used(first, transfer)))

    specs = [_spec(c, sm2[i], f"Member {i}") for i, c in enumerate(founders)]
    consortium = deploy(
        first,
        deployments,
        "Consortium",
        ConsortiumContract.constructor_args(
            founders=specs,
            thresholds=Thresholds(2, 2, 2, 2, 2),
            voting_delay_s=0,
            voting_period_s=3600,
        ),
    )
    rows.append((f"deploy Consortium ({members} founders)", gas_used(first, consortium.tx_hash)))
    registry = deploy(
        first,
        deployments,
        "KeyRegistry",
        KeyRegistryContract.constructor_args(consortium.address, []),
    )
    rows.append(("deploy KeyRegistry", gas_used(first, registry.tx_hash)))
    ledger = deploy(first, deployments, "EvidenceLedger", (consortium.address,))
    rows.append(("deploy EvidenceLedger", gas_used(first, ledger.tx_hash)))
    anchored = EvidenceLedgerContract(client=first, address=ledger.address).anchor_batch(
        root=os.urandom(32), size=100
    )
    rows.append(("reference: anchorBatch (one Merkle batch)", gas_used(first, anchored.tx_hash)))

    councils = [ConsortiumContract(client=c, address=consortium.address) for c in founders]
    keys = KeyRegistryContract(client=first, address=registry.address)
    registered = keys.register("request-signing", sm2[0].public_key())
    rows.append(("key: register", gas_used(first, registered.sent.tx_hash)))
    rotated = keys.rotate(registered.key_id, SM2PrivateKey.generate().public_key())
    rows.append(("key: rotate (new key, old one ends)", gas_used(first, rotated.sent.tx_hash)))
    revoked = keys.revoke(rotated.key_id)
    rows.append(("key: revoke", gas_used(first, revoked.tx_hash)))

    def carried(label: str, propose: Callable[[ConsortiumContract], Proposed]) -> None:
        proposed = propose(councils[0])
        rows.append((f"propose: {label}", gas_used(first, proposed.sent.tx_hash)))
        first_vote, second_vote = (c.vote(proposed.proposal_id) for c in councils[:2])
        rows.append((f"vote: {label} (first)", gas_used(first, first_vote.tx_hash)))
        rows.append(
            (f"vote: {label} (reaching the threshold)", gas_used(first, second_vote.tx_hash))
        )
        executed = councils[0].execute(proposed.proposal_id)
        rows.append((f"execute: {label}", gas_used(first, executed.tx_hash)))

    carried("admit a member", lambda c: c.propose_admission(_spec(newcomer, sm2[-1], "Newcomer")))
    carried("grant a role", lambda c: c.propose_grant_role(newcomer.address, "auditor"))
    carried("revoke a role", lambda c: c.propose_revoke_role(newcomer.address, "auditor"))
    carried("change a threshold", lambda c: c.propose_threshold(ProposalKind.GRANT_ROLE, 1))
    carried("remove a member", lambda c: c.propose_removal(newcomer.address))
    cancelled = councils[0].cancel(councils[0].propose_removal(founders[-1].address).proposal_id)
    rows.append(("cancel (by the proposer)", gas_used(first, cancelled.tx_hash)))
    return rows


def format_table(rows: list[Row]) -> str:
    """The rows as a table, each with its gas as a multiple of one ``anchorBatch``."""
    batch = dict(rows)["reference: anchorBatch (one Merkle batch)"]
    width = max(len(label) for label, _ in rows)
    lines = [f"{'operation':<{width}}  {'gas':>9}  {'x anchorBatch':>13}"]
    lines.append("-" * len(lines[0]))
    lines += [f"{label:<{width}}  {gas:>9,}  {gas / batch:>13.2f}" for label, gas in rows]
    return "\n".join(lines)
