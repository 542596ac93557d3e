"""``ledger-proof/1`` offline: real keys, signatures, Merkle batches and a signed (never sent)
``anchorBatch`` transaction. On-chain confirmation: tests/integration/proof/."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from ledger import canonical
from ledger.chain.evidence import batch_calldata, batch_id_of
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.merkle import MerkleTree
from ledger.proof import (
    FORMAT_V1,
    BatchInclusion,
    ProofInvalid,
    build_batch_proof,
    verify_proof,
)
from ledger.store import read_car, write_car
from tests._fixtures.anvil import OUTSIDER_PRIVATE_KEY
from tests._fixtures.proofs import (
    OFFLINE_DOMAIN,
    AnchoredBatch,
    Parties,
    anchor_offline,
    build_batch,
    offline_anchorer,
    reseal,
    sign_version,
)

Edit = Callable[[dict[str, Any]], object]  # edits in place; the result is ignored


@pytest.fixture(scope="module")
def parties() -> Parties:
    return Parties.generate()


@pytest.fixture(scope="module")
def batch(parties: Parties) -> AnchoredBatch:
    """Three signed versions among 100 leaves (the signed ones first)."""
    versions = [sign_version(parties) for _ in range(3)]
    return anchor_offline(versions, extra_leaves=97)


@pytest.fixture(scope="module")
def proof(batch: AnchoredBatch, parties: Parties) -> bytes:
    return batch.proof(1, parties.issuer)


def _edited(proof: bytes, parties: Parties, edit: Edit) -> bytes:
    return reseal(proof, edit, parties.issuer)


# --- what verifies


def test_proof_verifies_and_states_its_batch(batch: AnchoredBatch, proof: bytes) -> None:
    version = batch.versions[1]
    verified = verify_proof(proof)
    assert verified.format == FORMAT_V1 == json.loads(proof)["format"]
    assert (verified.agreement_id, verified.agreement_version, verified.kind) == (
        version.entry.agreement_id,
        1,
        "agreement",
    )
    assert verified.roles == ("broker", "customer")  # role order
    assert verified.cid == version.entry.document_cid
    assert verified.document_sm3 == version.entry.document_sm3
    assert verified.accepted_at == version.entry.accepted_at
    assert verified.leaf_hash == version.entry.leaf_hash
    assert (verified.leaf_index, verified.tree_size, verified.root) == (1, 100, batch.tree.root)
    expected_batch = batch_id_of(
        chain_id=OFFLINE_DOMAIN.chain_id,
        contract=OFFLINE_DOMAIN.contract,
        root=batch.tree.root,
        size=100,
    )
    assert verified.batch_id == verified.anchor_id == expected_batch
    assert verified.signer_fingerprints == tuple(s.key_fingerprint for s in version.signatures)
    assert verified.writer == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's dev account
    assert (verified.tx_hash, verified.block_number) == (batch.anchor.tx_hash, 7)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 100])
def test_every_leaf_of_trees_of_any_size(parties: Parties, size: int) -> None:
    versions = [sign_version(parties) for _ in range(min(size, 3))]
    batch = anchor_offline(versions, extra_leaves=size - len(versions))
    for index in range(len(versions)):
        verified = verify_proof(
            batch.proof(index, parties.issuer, include_content=False, include_car=False)
        )
        assert (verified.leaf_index, verified.tree_size) == (index, size)


@pytest.mark.parametrize("content", [True, False])
@pytest.mark.parametrize("car", [True, False])
def test_content_and_car_are_optional(
    batch: AnchoredBatch, parties: Parties, content: bool, car: bool
) -> None:
    data = batch.proof(0, parties.issuer, include_content=content, include_car=car)
    parsed = json.loads(data)
    assert ("content" in parsed["agreement"]["document"]) is content
    assert ("car" in parsed["agreement"]["stored"]) is car
    verified = verify_proof(data)
    assert verified.document_sm3 == batch.versions[0].entry.document_sm3
    if content:
        document = parsed["agreement"]["document"]["content"]
        assert base64.b64decode(document) == batch.versions[0].content
    if car:
        assert base64.b64decode(parsed["agreement"]["stored"]["car"]) == batch.versions[0].car


def test_a_void_version(parties: Parties) -> None:
    first = sign_version(parties)
    void = sign_version(
        parties,
        agreement_id=first.entry.agreement_id,
        version=2,
        kind="void",
        content=b"This agreement is void from 2026-12-01.",
    )
    batch = anchor_offline([first, void])
    verified = verify_proof(batch.proof(1, parties.issuer))
    assert (verified.agreement_id, verified.agreement_version, verified.kind) == (
        first.entry.agreement_id,
        2,
        "void",
    )
    # the kind is committed to by the leaf: a void cannot pass for an agreement, nor vice versa
    flipped = _edited(
        batch.proof(1, parties.issuer), parties, lambda p: p["agreement"].update(kind="agreement")
    )
    with pytest.raises(
        ProofInvalid, match=r"^leaf hash does not match the agreement version and its signatures$"
    ):
        verify_proof(flipped)


def test_more_required_roles_than_customer_and_broker(parties: Parties) -> None:
    witnessed = parties.with_role("witness")
    version = sign_version(witnessed)
    verified = verify_proof(anchor_offline([version]).proof(0, witnessed.issuer))
    assert verified.roles == ("broker", "customer", "witness")


def test_signatures_may_be_given_in_any_order(batch: AnchoredBatch, parties: Parties) -> None:
    version = batch.versions[2]
    data = batch.proof(2, parties.issuer, signatures=tuple(reversed(version.signatures)))
    assert [s["role"] for s in json.loads(data)["signatures"]] == ["broker", "customer"]
    verify_proof(data)


def test_issuer_pinning(proof: bytes, parties: Parties) -> None:
    issuer = parties.issuer.public_key().fingerprint()
    assert verify_proof(proof, trusted_issuers={issuer}).issuer_fingerprint == issuer
    with pytest.raises(ProofInvalid, match=r"^issuer key sm3:[0-9a-f]{64} is not trusted$"):
        verify_proof(proof, trusted_issuers={b"\x00" * 32})


def test_seal_domain_is_per_format(proof: bytes, parties: Parties) -> None:
    """A v1 body sealed under the v0 domain does not verify (no cross-format seal reuse)."""
    from ledger.proof import _common, _v0

    body = json.loads(proof)
    body["seal"] = _common.seal(
        body, domain=_v0.SEAL_DOMAIN, issuer_key=parties.issuer, distid=b"1234567812345678"
    )
    with pytest.raises(ProofInvalid, match=r"^issuer seal does not verify: "):
        verify_proof(canonical.dumps(body))


def test_chain_claims_are_shared_by_the_proofs_of_one_batch(
    batch: AnchoredBatch, parties: Parties, proof: bytes
) -> None:
    others = [verify_proof(batch.proof(i, parties.issuer, include_car=False)) for i in (0, 2)]
    claims = {p.chain_claims() for p in [verify_proof(proof), *others]}
    assert len(claims) == 1
    other_batch = anchor_offline([sign_version(parties)])
    assert verify_proof(other_batch.proof(0, parties.issuer)).chain_claims() not in claims


# --- each check refuses what it guards, with its own reason


def _path(proof: dict[str, Any]) -> list[str]:
    path: list[str] = proof["inclusion"]["path"]
    return path


def _batch_id(root: str, size: int) -> str:
    batch_id = batch_id_of(
        chain_id=31337,
        contract=OFFLINE_DOMAIN.contract,
        root=canonical.unlabel("sm3", root),
        size=size,
    )
    return canonical.label("keccak256", batch_id)


def _other_sm3(label: str) -> str:
    return label[:-1] + ("0" if label[-1] != "0" else "1")


CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # of another file
CASES: dict[str, tuple[Edit, str]] = {
    "path entry": (
        lambda p: _path(p).__setitem__(2, _other_sm3(_path(p)[2])),
        "inclusion proof does not lead to the root",
    ),
    "path too short": (lambda p: _path(p).pop(), "inclusion proof is shorter than the tree"),
    "path too long": (
        lambda p: _path(p).append(_path(p)[0]),
        "inclusion proof is longer than the tree is deep",
    ),
    "leaf index": (
        lambda p: p["inclusion"].update(leaf_index=2),
        "inclusion proof does not lead to the root",
    ),
    "leaf index outside": (
        lambda p: p["inclusion"].update(leaf_index=100),
        "leaf index 100 is outside a tree of 100",
    ),
    "tree size, same path shape": (  # leaf 1's path is the same in trees of 99 and 100
        lambda p: p["inclusion"].update(tree_size=99),
        "batch ID does not match the chain, contract, root and tree size",
    ),
    "tree size and batch id": (
        lambda p: (
            p["inclusion"].update(tree_size=99)
            or p["anchor"].update(batch_id=_batch_id(p["inclusion"]["root"], 99))
        ),
        "transaction call data does not anchor this root and tree size",
    ),
    "tree size, deeper tree": (
        lambda p: p["inclusion"].update(tree_size=129),
        "inclusion proof is shorter than the tree is deep",
    ),
    "root": (
        lambda p: p["inclusion"].update(root=_other_sm3(p["inclusion"]["root"])),
        "inclusion proof does not lead to the root",
    ),
    "leaf": (
        lambda p: p["inclusion"].update(leaf=_other_sm3(p["inclusion"]["leaf"])),
        "leaf hash does not match the agreement version and its signatures",
    ),
    "batch id": (
        lambda p: p["anchor"].update(batch_id="keccak256:" + "ab" * 32),
        "batch ID does not match the chain, contract, root and tree size",
    ),
    "accepted at": (
        lambda p: p["agreement"].update(accepted_at="2026-11-21T09:31:01Z"),
        "leaf hash does not match",
    ),
    "media type": (
        lambda p: p["agreement"]["document"].update(media_type="text/html"),
        "leaf hash does not match",
    ),
    "cid": (
        lambda p: (
            p["agreement"]["stored"].pop("car")
            and p["agreement"]["stored"].update(
                cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
            )
        ),
        "leaf hash does not match",
    ),
    "required roles order": (
        lambda p: p["agreement"].update(required_roles=["broker", "customer"]),
        "leaf hash does not match",
    ),
    "required roles lack broker": (
        lambda p: p["agreement"].update(required_roles=["customer"]),
        "required roles lack ['broker']",
    ),
    "required roles twice": (
        lambda p: p["agreement"].update(required_roles=["customer", "broker", "customer"]),
        "required roles are listed twice",
    ),
    "a required signature missing": (
        lambda p: p["signatures"].pop(0),
        "required signatures missing: ['broker']",
    ),
    "a signature of a role not required": (
        lambda p: p["agreement"].update(required_roles=["customer", "broker", "witness"]),
        "signed roles ['broker', 'customer'] are not the required",
    ),
    "signatures out of role order": (
        lambda p: p["signatures"].reverse(),
        "signatures are not in role order",
    ),
    "a role signed twice": (
        lambda p: p["signatures"].append(p["signatures"][0]),
        "a role signed twice",
    ),
    "version": (
        lambda p: p["agreement"].update(version=2),
        "signature of 'broker' does not verify",
    ),
    "signing time": (
        lambda p: p["signatures"][0].update(signed_at="2026-11-21T09:30:09Z"),
        "signature of 'broker' does not verify",
    ),
    "content": (
        lambda p: p["agreement"]["document"].update(content=base64.b64encode(b"x" * 1024).decode()),
        "document content does not match its SM3 digest",
    ),
    "size": (
        lambda p: p["agreement"]["document"].update(size=1023),
        "document size does not match its content",
    ),
    "writer": (
        lambda p: p["anchor"].update(writer="0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        "transaction was sent by 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266, not the writer",
    ),
    "writer spelling": (
        lambda p: p["anchor"].update(writer=p["anchor"]["writer"].lower()),
        "transaction was sent by 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266, not the writer 0x",
    ),
    "contract spelling": (
        lambda p: p["anchor"].update(contract=p["anchor"]["contract"].lower()),
        "address 0x5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e is not in checksummed form",
    ),
    "chain": (lambda p: p["anchor"].update(chain_id=1), "signature of 'broker' does not verify"),
    "transaction hash": (
        lambda p: p["anchor"]["transaction"].update(hash="keccak256:" + "cd" * 32),
        "transaction hash does not match the raw transaction",
    ),
    "transaction bytes": (
        lambda p: p["anchor"]["transaction"].update(raw="0x02f8"),
        "anchoring transaction: not a signed transaction",
    ),
    "null content": (
        lambda p: p["agreement"]["document"].update(content=None),
        "malformed proof at agreement.document.content: null is not allowed",
    ),
    "unknown field": (
        lambda p: p["inclusion"].update(note="x"),
        "malformed proof at inclusion.note: Extra inputs are not permitted",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_check_names_what_failed(proof: bytes, parties: Parties, case: str) -> None:
    edit, reason = CASES[case]
    edited = _edited(proof, parties, edit)
    with pytest.raises(ProofInvalid, match="^" + re.escape(reason)) as failure:
        verify_proof(edited)
    assert "\n" not in str(failure.value)


def test_root_and_batch_id_of_another_tree(
    batch: AnchoredBatch, parties: Parties, proof: bytes
) -> None:
    """The same leaf, really included in another tree, with that tree's batch ID: everything
    offline is consistent except the anchoring transaction, which anchored another root."""
    version = batch.versions[1]
    other = MerkleTree([b"\x11" * 32, version.entry.leaf_hash, b"\x22" * 32])
    inclusion = BatchInclusion(1, other.size, tuple(other.inclusion_proof(1)), other.root)

    def move(p: dict[str, Any]) -> None:
        p["inclusion"].update(
            tree_size=3,
            path=[canonical.label("sm3", node) for node in inclusion.path],
            root=canonical.label("sm3", other.root),
        )
        batch_id = batch_id_of(
            chain_id=31337, contract=OFFLINE_DOMAIN.contract, root=other.root, size=3
        )
        p["anchor"]["batch_id"] = canonical.label("keccak256", batch_id)

    with pytest.raises(ProofInvalid, match=r"^transaction call data does not anchor this root"):
        verify_proof(_edited(proof, parties, move))
    # the builder refuses it the same way (it verifies what it wrote)
    with pytest.raises(ProofInvalid, match=r"^transaction call data does not anchor this root"):
        batch.proof(1, parties.issuer, inclusion=inclusion)


# --- the builder refuses what would not verify


def test_builder_refuses_a_transaction_to_another_contract(parties: Parties) -> None:
    wrong = offline_anchorer(to="0x" + "77" * 20)
    batch = build_batch([sign_version(parties)], wrong)
    with pytest.raises(ProofInvalid, match=r"^transaction targets another contract or chain$"):
        batch.proof(0, parties.issuer)


def test_builder_refuses_other_call_data(parties: Parties) -> None:
    wrong = offline_anchorer(data=batch_calldata(root=b"\x01" * 32, size=1))
    with pytest.raises(
        ProofInvalid, match=r"^transaction call data does not anchor this root and tree size$"
    ):
        build_batch([sign_version(parties)], wrong).proof(0, parties.issuer)


def test_builder_takes_the_writer_from_the_transaction(parties: Parties) -> None:
    batch = build_batch([sign_version(parties)], offline_anchorer(private_key=OUTSIDER_PRIVATE_KEY))
    writer = verify_proof(batch.proof(0, parties.issuer)).writer
    assert writer == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_builder_refuses_signatures_over_another_version(parties: Parties) -> None:
    version = sign_version(parties)
    moved = replace(version, entry=replace(version.entry, agreement_version=2))
    with pytest.raises(ProofInvalid, match=r"leaf hash|signature of 'broker' does not verify"):
        anchor_offline([moved]).proof(0, parties.issuer)


def test_builder_refuses_a_wrong_inclusion(batch: AnchoredBatch, parties: Parties) -> None:
    wrong = replace(batch.inclusion(1), leaf_index=0)
    with pytest.raises(ProofInvalid, match=r"^inclusion proof does not lead to the root$"):
        batch.proof(1, parties.issuer, inclusion=wrong)


def test_builder_refuses_content_of_another_document(
    batch: AnchoredBatch, parties: Parties
) -> None:
    with pytest.raises(ProofInvalid, match=r"^document content does not match its SM3 digest$"):
        batch.proof(1, parties.issuer, content=batch.versions[0].content)


def test_builder_refuses_the_car_of_another_ciphertext(
    batch: AnchoredBatch, parties: Parties
) -> None:
    with pytest.raises(ProofInvalid, match=r"^stored CAR does not verify: CAR root is"):
        batch.proof(1, parties.issuer, car=batch.versions[0].car)


def test_a_car_with_an_extra_block_is_not_canonical(batch: AnchoredBatch, parties: Parties) -> None:
    """verify_car accepts blocks outside the DAG; the proof wants every byte accounted for."""
    version = batch.versions[1]
    root, blocks = read_car(version.car)
    extra = read_car(batch.versions[0].car)[1]
    out = io.BytesIO()
    write_car(root, [*blocks.items(), *extra.items()], out)
    with pytest.raises(ProofInvalid, match=r"^stored CAR is not the canonical CAR"):
        batch.proof(1, parties.issuer, car=out.getvalue())


def test_builder_with_another_distid(batch: AnchoredBatch, parties: Parties) -> None:
    version = batch.versions[0]
    data = build_batch_proof(
        entry=version.entry,
        signatures=version.signatures,
        inclusion=batch.inclusion(0),
        anchor=batch.anchor,
        issuer_key=parties.issuer,
        distid=b"ledger-service",
    )
    assert json.loads(data)["seal"]["distid"] == "ledger-service"
    verify_proof(data)


# --- every byte is covered by a check


@pytest.fixture(scope="module")
def small_proof(parties: Parties) -> bytes:
    """All parts present (content, CAR, a path of 3) but a short document: the exhaustive
    mutation test below stays fast."""
    versions = [sign_version(parties, content=b"Account agreement, short form. " * 4)]
    return anchor_offline(versions, extra_leaves=5).proof(0, parties.issuer)


@pytest.mark.parametrize("which", ["small", "full"])
def test_every_single_byte_change_makes_the_proof_invalid(
    small_proof: bytes, proof: bytes, which: str
) -> None:
    """At every position: the lowest bit flipped, and (small proof) a random other byte."""
    data = small_proof if which == "small" else proof
    rng = random.Random(20261121)
    others = [rng.choice([b for b in range(256) if b != data[i]]) for i in range(len(data))]

    def survivors(indices: range) -> list[tuple[int, int]]:
        found = []
        for index in indices:
            replacements = [data[index] ^ 0x01]
            if which == "small":
                replacements.append(others[index])
            for replacement in replacements:
                mutated = bytearray(data)
                mutated[index] = replacement
                try:
                    verify_proof(bytes(mutated))
                except ProofInvalid:
                    continue
                found.append((index, replacement))
        return found

    size = len(data)
    jobs = os.cpu_count() or 1
    step = -(-size // jobs)
    with ThreadPoolExecutor(jobs) as pool:
        parts = pool.map(survivors, [range(i, min(i + step, size)) for i in range(0, size, step)])
    assert [s for part in parts for s in part] == []


@pytest.mark.parametrize("edit", ["truncate", "append-newline", "prepend-space", "pretty"])
def test_other_spellings_are_refused(proof: bytes, edit: str) -> None:
    mutated = {
        "truncate": proof[:-1],
        "append-newline": proof + b"\n",
        "prepend-space": b" " + proof,
        "pretty": json.dumps(json.loads(proof), indent=1, sort_keys=True).encode(),
    }[edit]
    with pytest.raises(ProofInvalid, match=r"^not a proof file: "):
        verify_proof(mutated)


def test_another_issuer_cannot_pass_as_the_pinned_one(proof: bytes, parties: Parties) -> None:
    impostor = SM2PrivateKey.generate()
    resealed = reseal(proof, lambda p: None, impostor)
    verify_proof(resealed)  # self-consistent ...
    with pytest.raises(
        ProofInvalid, match=r"^issuer key sm3:[0-9a-f]{64} is not trusted$"
    ):  # ... but not by the pinned issuer
        verify_proof(resealed, trusted_issuers={parties.issuer.public_key().fingerprint()})
