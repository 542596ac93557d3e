"""EvidenceLedger v0 on a real anvil node: exact custom errors and event arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_utils import keccak, to_checksum_address

from ledger.chain.client import ChainClient
from ledger.chain.consortium import ConsortiumContract, MemberSpec, Proposed, role_id
from ledger.chain.deployments import Deployments, deploy
from ledger.chain.errors import TransactionFailed
from ledger.chain.evidence import EvidenceLedgerContract, anchor_id_of
from ledger.crypto.sm2 import SM2PrivateKey

DOC = keccak(b"document")
SIGSET = keccak(b"signature set")
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
SIGNERS = [keccak(b"customer key"), keccak(b"broker key")]


ZERO_ADDRESS = "0x" + "00" * 20


def _anchor(ledger: EvidenceLedgerContract, **overrides: object):
    args = {
        "document_digest": DOC,
        "cid": CID,
        "signer_fingerprints": SIGNERS,
        "signature_set_digest": SIGSET,
    }
    args.update(overrides)
    return ledger.anchor_agreement(**args)  # type: ignore[arg-type]


def _assert_reverted(exc: pytest.ExceptionInfo[TransactionFailed], error: str, *args: object):
    assert exc.value.error == error
    assert exc.value.error_args == args


def test_anchor_stores_record_and_emits_event(evidence_ledger: EvidenceLedgerContract) -> None:
    receipt = _anchor(evidence_ledger)

    expected_id = anchor_id_of(
        chain_id=evidence_ledger.client.chain_id,
        contract=evidence_ledger.address,
        document_digest=DOC,
        cid=CID,
        signer_fingerprints=SIGNERS,
        signature_set_digest=SIGSET,
    )
    assert receipt.anchor_id == expected_id
    tx = evidence_ledger.client.w3.eth.get_transaction_receipt(receipt.tx_hash)
    events = evidence_ledger._contract.events.AgreementAnchored().process_receipt(tx)
    assert len(events) == 1
    assert dict(events[0]["args"]) == {
        "anchorId": expected_id,
        "documentDigest": DOC,
        "writer": evidence_ledger.client.address,
        "cid": CID,
        "signerKeyFingerprints": SIGNERS,
        "signatureSetDigest": SIGSET,
    }
    stored = evidence_ledger.get_anchor(expected_id)
    block = evidence_ledger.client.w3.eth.get_block(receipt.block_number)
    assert stored.document_digest == DOC
    assert stored.signature_set_digest == SIGSET
    assert stored.signer_fingerprints == tuple(SIGNERS)
    assert stored.cid == CID
    assert stored.writer == evidence_ledger.client.address
    assert stored.block_number == receipt.block_number
    assert stored.anchored_at == block["timestamp"]
    assert bytes(block["hash"]) == receipt.block_hash
    assert evidence_ledger.is_anchored(expected_id)
    assert evidence_ledger.anchor_count() == 1


def test_on_chain_id_matches_offline_id(evidence_ledger: EvidenceLedgerContract) -> None:
    on_chain = evidence_ledger.client.call(
        evidence_ledger._contract.functions.anchorIdOf(DOC, CID, SIGNERS, SIGSET),
        evidence_ledger.artifact,
    )
    assert bytes(on_chain) == anchor_id_of(
        chain_id=31337,
        contract=evidence_ledger.address,
        document_digest=DOC,
        cid=CID,
        signer_fingerprints=SIGNERS,
        signature_set_digest=SIGSET,
    )


def test_duplicate_is_rejected(evidence_ledger: EvidenceLedgerContract) -> None:
    first = _anchor(evidence_ledger)
    with pytest.raises(
        TransactionFailed,
        match=r"^EvidenceLedger reverted with EvidenceLedger__AlreadyAnchored\([0-9a-f]+\)$",
    ) as exc:
        _anchor(evidence_ledger)
    _assert_reverted(exc, "EvidenceLedger__AlreadyAnchored", first.anchor_id)
    assert evidence_ledger.anchor_count() == 1


def _refused_as(exc: pytest.ExceptionInfo[TransactionFailed], account: str) -> None:
    _assert_reverted(exc, "EvidenceLedger__NotPermitted", account, role_id("broker"))


def _carry(consortium: ConsortiumContract, proposed: Proposed) -> None:
    """The dev consortium's one member votes and executes (every threshold is 1)."""
    consortium.vote(proposed.proposal_id)
    consortium.execute(proposed.proposal_id)


def test_an_account_outside_the_consortium_is_refused(
    evidence_ledger: EvidenceLedgerContract, outsider_client: ChainClient
) -> None:
    as_outsider = EvidenceLedgerContract(client=outsider_client, address=evidence_ledger.address)
    with pytest.raises(
        TransactionFailed, match=r"^EvidenceLedger reverted with EvidenceLedger__NotPermitted\("
    ) as exc:
        _anchor(as_outsider)
    _refused_as(exc, outsider_client.address)
    assert evidence_ledger.anchor_count() == 0


def test_a_member_writes_while_it_is_a_broker_and_not_after(
    evidence_ledger: EvidenceLedgerContract, outsider_client: ChainClient
) -> None:
    consortium = ConsortiumContract(
        client=evidence_ledger.client, address=evidence_ledger.consortium()
    )
    as_outsider = EvidenceLedgerContract(client=outsider_client, address=evidence_ledger.address)
    newcomer = outsider_client.address
    spec = MemberSpec(
        account=newcomer,
        name="second broker",
        endpoint="https://second.example",
        key_fingerprint=SM2PrivateKey.generate().public_key().fingerprint(),
        roles=("auditor",),
    )
    _carry(consortium, consortium.propose_admission(spec))
    with pytest.raises(  # a member, but not a broker
        TransactionFailed, match=r"^EvidenceLedger reverted with EvidenceLedger__NotPermitted\("
    ) as exc:
        _anchor(as_outsider)
    _refused_as(exc, newcomer)

    _carry(consortium, consortium.propose_grant_role(newcomer, "broker"))
    receipt = _anchor(as_outsider)
    assert evidence_ledger.get_anchor(receipt.anchor_id).writer == to_checksum_address(newcomer)

    _carry(consortium, consortium.propose_removal(newcomer))
    with pytest.raises(
        TransactionFailed, match=r"^EvidenceLedger reverted with EvidenceLedger__NotPermitted\("
    ) as exc:
        _anchor(as_outsider, document_digest=keccak(b"another"))
    _refused_as(exc, newcomer)
    assert evidence_ledger.anchor_count() == 1


def test_the_ledger_names_its_consortium_and_refuses_none(
    evidence_ledger: EvidenceLedgerContract, tmp_path: Path
) -> None:
    deployments = Deployments(directory=tmp_path / "deployments")
    assert evidence_ledger.consortium() == deployments.get(31337, "Consortium").address
    with pytest.raises(TransactionFailed, match=r"EvidenceLedger__ZeroConsortium\(\)") as exc:
        deploy(evidence_ledger.client, deployments, "EvidenceLedger", (ZERO_ADDRESS,))
    _assert_reverted(exc, "EvidenceLedger__ZeroConsortium")


@pytest.mark.parametrize(
    ("overrides", "error", "args"),
    [
        ({"document_digest": b"\0" * 32}, "EvidenceLedger__ZeroDigest", ()),
        ({"signature_set_digest": b"\0" * 32}, "EvidenceLedger__ZeroDigest", ()),
        ({"cid": ""}, "EvidenceLedger__InvalidCid", (0, 128)),
        ({"cid": "b" * 129}, "EvidenceLedger__InvalidCid", (129, 128)),
        ({"signer_fingerprints": []}, "EvidenceLedger__InvalidSignerCount", (0, 16)),
        (
            {"signer_fingerprints": [keccak(bytes([i])) for i in range(17)]},
            "EvidenceLedger__InvalidSignerCount",
            (17, 16),
        ),
        (
            {"signer_fingerprints": [SIGNERS[0], b"\0" * 32]},
            "EvidenceLedger__InvalidSigner",
            (b"\0" * 32,),
        ),
        (
            {"signer_fingerprints": [SIGNERS[0], SIGNERS[1], SIGNERS[0]]},
            "EvidenceLedger__InvalidSigner",
            (SIGNERS[0],),
        ),
    ],
)
def test_invalid_anchor_is_rejected(
    evidence_ledger: EvidenceLedgerContract,
    overrides: dict[str, object],
    error: str,
    args: tuple[object, ...],
) -> None:
    with pytest.raises(
        TransactionFailed, match=r"^EvidenceLedger reverted with EvidenceLedger__"
    ) as exc:
        _anchor(evidence_ledger, **overrides)
    _assert_reverted(exc, error, *args)
    assert evidence_ledger.anchor_count() == 0


def test_unknown_anchor(evidence_ledger: EvidenceLedgerContract) -> None:
    with pytest.raises(
        TransactionFailed,
        match=r"^EvidenceLedger reverted with EvidenceLedger__UnknownAnchor\([0-9a-f]+\)$",
    ) as exc:
        evidence_ledger.get_anchor(b"\x42" * 32)
    _assert_reverted(exc, "EvidenceLedger__UnknownAnchor", b"\x42" * 32)
    assert not evidence_ledger.is_anchored(b"\x42" * 32)
