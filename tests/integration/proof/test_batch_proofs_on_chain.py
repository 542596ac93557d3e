"""``ledger-proof/1`` against a real anvil node: batches anchored by ``anchorBatch``, proofs of
their leaves confirmed on chain, and refused where the chain does not hold what they claim."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils import keccak

from ledger.agreement import SigningDomain
from ledger.chain.client import ChainClient
from ledger.chain.deployments import Deployments, deploy_evidence_ledger
from ledger.chain.devnode import DEV_PRIVATE_KEY, DevNode
from ledger.chain.errors import NodeError
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.proof import BatchAnchor, ProofInvalid, confirm_on_chain, verify_proof
from tests._fixtures.anvil import free_port
from tests._fixtures.proofs import (
    OFFLINE_DOMAIN,
    AnchoredBatch,
    Parties,
    anchor_offline,
    anchor_on_chain,
    build_batch,
    domain_of,
    reseal,
    sign_version,
)


@pytest.fixture
def batch(evidence_ledger: EvidenceLedgerContract, proof_parties: Parties) -> AnchoredBatch:
    domain = domain_of(evidence_ledger)
    versions = [sign_version(proof_parties, domain) for _ in range(4)]
    return anchor_on_chain(versions, evidence_ledger, extra_leaves=9)


@pytest.fixture
def reader(anvil_url: str) -> ChainClient:
    """A read-only client, as a verifier has."""
    return ChainClient(rpc_url=anvil_url)


def test_every_proof_of_a_batch_is_confirmed(
    batch: AnchoredBatch,
    proof_parties: Parties,
    evidence_ledger: EvidenceLedgerContract,
    reader: ChainClient,
) -> None:
    stored = None
    for index in range(len(batch.versions)):
        verified = verify_proof(batch.proof(index, proof_parties.issuer))
        confirm_on_chain(verified, client=reader)
        assert verified.batch_id is not None
        stored = evidence_ledger.get_batch(verified.batch_id)
        assert (stored.root, stored.size) == (batch.tree.root, 13)
    assert stored is not None
    assert reader.block_hash(stored.block_number) == batch.anchor.block_hash


def test_a_void_version_is_confirmed(
    evidence_ledger: EvidenceLedgerContract, proof_parties: Parties, reader: ChainClient
) -> None:
    domain = domain_of(evidence_ledger)
    first = sign_version(proof_parties, domain)
    void = sign_version(
        proof_parties, domain, agreement_id=first.entry.agreement_id, version=2, kind="void"
    )
    batch = anchor_on_chain([first, void], evidence_ledger)
    verified = verify_proof(batch.proof(1, proof_parties.issuer, include_car=False))
    assert verified.kind == "void"
    confirm_on_chain(verified, client=reader)


def test_refused_when_the_batch_was_never_anchored(
    evidence_ledger: EvidenceLedgerContract, proof_parties: Parties, reader: ChainClient
) -> None:
    """A signed ``anchorBatch`` that was never sent: offline the proof is self-consistent."""

    def unsent(domain: SigningDomain, root: bytes, size: int) -> BatchAnchor:
        signed = evidence_ledger.sign_anchor_batch(root=root, size=size)
        block = reader.w3.eth.get_block("latest")
        return BatchAnchor(signed.raw_transaction, signed.tx_hash, block["number"], block["hash"])

    batch = build_batch([sign_version(proof_parties, domain_of(evidence_ledger))], unsent)
    verified = verify_proof(batch.proof(0, proof_parties.issuer))
    with pytest.raises(ProofInvalid, match=r"^batch not found on chain: .*UnknownBatch"):
        confirm_on_chain(verified, client=reader)


def test_refused_when_it_names_another_block(
    batch: AnchoredBatch, proof_parties: Parties, reader: ChainClient
) -> None:
    data = batch.proof(0, proof_parties.issuer)
    number = batch.anchor.block_number

    def other_number(proof: dict) -> None:
        proof["anchor"]["block"]["number"] = number - 1

    def other_hash(proof: dict) -> None:
        proof["anchor"]["block"]["hash"] = "keccak256:" + "00" * 32

    moved = verify_proof(reseal(data, other_number, proof_parties.issuer))
    with pytest.raises(ProofInvalid, match=r"^the batch on chain differs from the proof"):
        confirm_on_chain(moved, client=reader)
    rehashed = verify_proof(reseal(data, other_hash, proof_parties.issuer))
    with pytest.raises(ProofInvalid, match=r"^anchoring transaction is in another block"):
        confirm_on_chain(rehashed, client=reader)


def _batch_slot(reader: ChainClient, contract: str, batch_id: bytes, root: bytes) -> int:
    """The storage slot of ``_batches[batch_id]`` (its first word is the root)."""
    for position in range(16):
        slot = int.from_bytes(keccak(batch_id + position.to_bytes(32, "big")), "big")
        word = reader.json_rpc("eth_getStorageAt", contract, hex(slot), "latest")
        if bytes.fromhex(word[2:].rjust(64, "0")) == root:
            return slot
    raise AssertionError("the batch's storage slot was not found")


def _word(reader: ChainClient, contract: str, slot: int) -> bytearray:
    value = reader.json_rpc("eth_getStorageAt", contract, hex(slot), "latest")
    return bytearray(bytes.fromhex(value[2:].rjust(64, "0")))


@pytest.mark.parametrize("field", ["root", "size", "writer", "block number"])
def test_refused_when_the_contracts_record_differs_in_one_field(
    batch: AnchoredBatch, proof_parties: Parties, reader: ChainClient, field: str
) -> None:
    """The transaction and its block are as the proof states, but the contract's record of the
    batch differs in one field (set in anvil's state): each field is compared.

    Layout of ``Batch``: word 0 root; word 1 anchoredAt (8 bytes) | writer (20) | size (4);
    word 2 blockNumber."""
    verified = verify_proof(batch.proof(0, proof_parties.issuer))
    assert verified.batch_id is not None and verified.root is not None
    contract = verified.contract
    base = _batch_slot(reader, contract, verified.batch_id, verified.root)
    packed = _word(reader, contract, base + 1)
    assert bytes(packed[8:28]) == bytes.fromhex(verified.writer[2:])
    assert int.from_bytes(packed[28:32], "big") == verified.tree_size
    slot, word = base + 1, packed
    if field == "root":
        slot, word = base, bytearray(b"\x11" * 32)
    elif field == "size":
        word[28:32] = (13 + 1).to_bytes(4, "big")
    elif field == "writer":
        word[8:28] = bytes.fromhex("70997970C51812dc3A010C7d01b50e0d17dc79C8")
    else:
        slot, word = base + 2, _word(reader, contract, base + 2)
        word[24:32] = (verified.block_number - 1).to_bytes(8, "big")
    reader.json_rpc("anvil_setStorageAt", contract, hex(slot), "0x" + word.hex())
    with pytest.raises(ProofInvalid, match=r"^the batch on chain differs from the proof$"):
        confirm_on_chain(verified, client=reader)


def test_refused_on_another_chain_id(proof_parties: Parties, reader: ChainClient) -> None:
    mainnet = SigningDomain(chain_id=1, contract=OFFLINE_DOMAIN.contract)
    batch = anchor_offline([sign_version(proof_parties, mainnet)])
    verified = verify_proof(batch.proof(0, proof_parties.issuer))
    with pytest.raises(ProofInvalid, match=r"^node serves chain 31337, proof is for 1"):
        confirm_on_chain(verified, client=reader)


def test_refused_where_no_contract_is_deployed(proof_parties: Parties, reader: ChainClient) -> None:
    verified = verify_proof(
        anchor_offline([sign_version(proof_parties)]).proof(0, proof_parties.issuer)
    )
    with pytest.raises(ProofInvalid, match=rf"^no contract at {OFFLINE_DOMAIN.contract}"):
        confirm_on_chain(verified, client=reader)


@pytest.fixture
def two_fresh_chains(tmp_path: Path) -> Iterator[tuple[str, str]]:
    nodes = [DevNode(directory=tmp_path / name, port=free_port()) for name in ("a", "b")]
    urls = []
    try:
        for node in nodes:
            urls.append(node.start())
        yield urls[0], urls[1]
    finally:
        for node in nodes:
            node.stop()


def test_refused_on_a_chain_with_the_same_contract_but_not_the_batch(
    two_fresh_chains: tuple[str, str], proof_parties: Parties, tmp_path: Path
) -> None:
    """Same chain ID, the contract at the same address (the same deployer and nonce), but the
    batch was anchored on the other chain."""
    ledgers = []
    for name, url in zip(("a", "b"), two_fresh_chains, strict=True):
        client = ChainClient(rpc_url=url, private_key=DEV_PRIVATE_KEY)
        deployment = deploy_evidence_ledger(
            client,
            Deployments(directory=tmp_path / f"dep-{name}"),
            dev_member_key=proof_parties.issuer.public_key(),
        )
        ledgers.append(EvidenceLedgerContract(client=client, address=deployment.address))
    assert ledgers[0].address == ledgers[1].address
    batch = anchor_on_chain([sign_version(proof_parties, domain_of(ledgers[0]))], ledgers[0])
    verified = verify_proof(batch.proof(0, proof_parties.issuer))
    confirm_on_chain(verified, client=ChainClient(rpc_url=two_fresh_chains[0]))
    with pytest.raises(ProofInvalid, match=r"^batch not found on chain"):
        confirm_on_chain(verified, client=ChainClient(rpc_url=two_fresh_chains[1]))


def test_an_unreachable_node_is_not_a_verdict(batch: AnchoredBatch, proof_parties: Parties) -> None:
    verified = verify_proof(batch.proof(0, proof_parties.issuer))
    with pytest.raises(NodeError, match=r"^chain node at http://127\.0\.0\.1:\d+ unreachable: "):
        confirm_on_chain(verified, client=ChainClient(rpc_url=f"http://127.0.0.1:{free_port()}"))
