"""The ``ledger-proof/1`` schema's limits, each at its bound: the value just inside passes the
schema (and fails a later check, or verifies), the value just outside is refused by it."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest

from ledger import canonical
from ledger.proof import ProofInvalid, verify_proof
from ledger.store import Cid, write_car
from ledger.store._unixfs import FileDagBuilder, iter_blocks
from tests._fixtures.proofs import AnchoredBatch, Parties, anchor_offline, reseal, sign_version

Edit = Callable[[dict[str, Any]], object]


@pytest.fixture(scope="module")
def parties() -> Parties:
    return Parties.generate()


@pytest.fixture(scope="module")
def batch(parties: Parties) -> AnchoredBatch:
    return anchor_offline([sign_version(parties) for _ in range(2)], extra_leaves=98)


@pytest.fixture(scope="module")
def proof(batch: AnchoredBatch, parties: Parties) -> bytes:
    return batch.proof(1, parties.issuer)


def _set(part: str, **values: object) -> Edit:
    return lambda p: p[part].update(values)


def _roles(count: int) -> Edit:
    extra = [f"role{i:02d}" for i in range(count - 2)]
    return lambda p: p["agreement"].update(required_roles=["broker", "customer", *extra])


def _path(count: int) -> Edit:
    return lambda p: p["inclusion"].update(path=[p["inclusion"]["path"][0]] * count)


def _signatures(count: int) -> Edit:
    return lambda p: p.update(signatures=[p["signatures"][0]] * count)


SCHEMA = "malformed proof at "
LIMITS: dict[str, tuple[Edit, str]] = {
    "version 0": (
        _set("agreement", version=0),
        SCHEMA + "agreement.version: Input should be greater than or equal to 1",
    ),
    "version 2**31-1": (
        _set("agreement", version=2**31 - 1),
        "signature of 'broker' does not verify",
    ),
    "version 2**31": (
        _set("agreement", version=2**31),
        SCHEMA + "agreement.version: Input should be less than or equal to 2147483647",
    ),
    "kind": (
        _set("agreement", kind="draft"),
        SCHEMA + "agreement.kind: Input should be 'agreement' or 'void'",
    ),
    "id": (
        _set("agreement", id="agr_" + "AB" * 16),
        SCHEMA + "agreement.id: String should match pattern '^agr_[0-9a-f]{32}$'",
    ),
    "no required roles": (
        _set("agreement", required_roles=[]),
        SCHEMA + "agreement.required_roles: List should have at least 1 item after validation",
    ),
    "16 required roles": (_roles(16), "signed roles ['broker', 'customer'] are not the required"),
    "17 required roles": (
        _roles(17),
        SCHEMA + "agreement.required_roles: List should have at most 16 items after validation",
    ),
    "role pattern": (
        _set("agreement", required_roles=["customer", "Broker"]),
        SCHEMA + "agreement.required_roles.1: String should match pattern",
    ),
    "no signatures": (
        _signatures(0),
        SCHEMA + "signatures: List should have at least 1 item after validation",
    ),
    "16 signatures": (_signatures(16), "a role signed twice"),
    "17 signatures": (
        _signatures(17),
        SCHEMA + "signatures: List should have at most 16 items after validation",
    ),
    "leaf index -1": (
        _set("inclusion", leaf_index=-1),
        SCHEMA + "inclusion.leaf_index: Input should be greater than or equal to 0",
    ),
    "leaf index 2**32-2": (
        _set("inclusion", leaf_index=2**32 - 2),
        "leaf index 4294967294 is outside a tree of 100",
    ),
    "leaf index 2**32-1": (
        _set("inclusion", leaf_index=2**32 - 1),
        SCHEMA + "inclusion.leaf_index: Input should be less than or equal to 4294967294",
    ),
    "tree size 0": (
        _set("inclusion", tree_size=0),
        SCHEMA + "inclusion.tree_size: Input should be greater than or equal to 1",
    ),
    "tree size 2**32-1": (
        _set("inclusion", tree_size=2**32 - 1),
        "inclusion proof is shorter than the tree is deep",
    ),
    "tree size 2**32": (
        _set("inclusion", tree_size=2**32),
        SCHEMA + "inclusion.tree_size: Input should be less than or equal to 4294967295",
    ),
    "path of 32": (_path(32), "inclusion proof is longer than the tree is deep"),
    "path of 33": (
        _path(33),
        SCHEMA + "inclusion.path: List should have at most 32 items after validation",
    ),
    "encryption": (
        lambda p: p["agreement"]["stored"].update(encryption="aes-gcm"),
        SCHEMA + "agreement.stored.encryption: Input should be 'sm4-gcm'",
    ),
    "null in a list": (
        lambda p: p["inclusion"]["path"].__setitem__(1, None),
        SCHEMA + "inclusion.path.1: null is not allowed",
    ),
    "null in a list of objects": (
        lambda p: p["signatures"][1].update(role=None),
        SCHEMA + "signatures.1.role: null is not allowed",
    ),
    "null deep in an object": (
        lambda p: p["anchor"]["transaction"].update(raw=None),
        SCHEMA + "anchor.transaction.raw: null is not allowed",
    ),
    "chain id 0": (
        _set("anchor", chain_id=0),
        SCHEMA + "anchor.chain_id: Input should be greater than or equal to 1",
    ),
}


@pytest.mark.parametrize("case", sorted(LIMITS))
def test_schema_limits(proof: bytes, parties: Parties, case: str) -> None:
    edit, reason = LIMITS[case]
    with pytest.raises(ProofInvalid, match="^" + re.escape(reason)):
        verify_proof(reseal(proof, edit, parties.issuer))


def test_a_version_of_2_31_minus_1_verifies(parties: Parties) -> None:
    """The highest version the schema takes is one a proof can really carry."""
    batch = anchor_offline([sign_version(parties, version=2**31 - 1)])
    assert verify_proof(batch.proof(0, parties.issuer)).agreement_version == 2**31 - 1


def test_sixteen_required_roles_verify() -> None:
    roles = ["broker", "customer", *(f"role{i:02d}" for i in range(14))]
    parties = Parties.generate(roles)
    batch = anchor_offline([sign_version(parties)])
    assert verify_proof(batch.proof(0, parties.issuer)).roles == tuple(sorted(roles))


def test_a_car_of_another_chunking_is_refused(
    batch: AnchoredBatch, proof: bytes, parties: Parties
) -> None:
    """A valid CAR whose root is the stated CID, but of a DAG ``ipfs add`` would not make from
    that ciphertext (100-byte chunks): its file hashes to another CID, so it is refused."""
    blocks: dict[bytes, bytes] = {}

    def keep(block_cid: Cid, block: bytes | memoryview) -> None:
        blocks[block_cid.to_bytes()] = bytes(block)

    builder = FileDagBuilder(keep, chunk_size=100)
    builder.write(batch.versions[1].ciphertext)
    root = builder.finish()
    out = io.BytesIO()
    walk = iter_blocks(lambda block_cid: blocks[block_cid.to_bytes()], root)
    write_car(str(root), ((c.to_bytes(), block) for c, block in walk), out)

    def other_dag(p: dict[str, Any]) -> None:
        p["agreement"]["stored"].update(cid=str(root), car=canonical.b64(out.getvalue()))

    with pytest.raises(
        ProofInvalid, match=r"^stored CAR's ciphertext does not have the stated CID$"
    ):
        verify_proof(reseal(proof, other_dag, parties.issuer))
