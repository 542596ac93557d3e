"""Formats pinned forever: the committed golden files in tests/assets verify AS THEY ARE.

Made once by tests/assets/make_golden.py (by hand; never run here, never compared to a fresh
build of themselves). Each test loads committed bytes and checks them with today's code: a
change that breaks an old proof, payload, leaf entry, wrapped key or keystore fails here. The
payload and leaf-entry files are also compared to what the code builds from the fixed inputs
stated below. Every file is also changed one byte at a time, and every change is refused.

Why XOR 0x01 at every position suffices for the proofs: a proof file is RFC 8785 canonical
JSON whose every value has one text form (lowercase hex, canonical base64, checksummed
addresses, fixed timestamps), so a changed byte either breaks that form (refused as not
canonical or malformed) or changes a value, and every value is bound by a check (the numbered
checks of ledger.proof). The one place where a lenient decoder would accept another byte, the
unused low bits before base64 padding, is swept with every base64 letter.
"""

from __future__ import annotations

import base64
import re
import string
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from ledger import canonical, merkle
from ledger._keywrap import KeyWrapError, unwrap
from ledger.agreement import Document, LeafEntry, SigningDomain, SigningPayload, SigningPayloadV0
from ledger.chain.evidence import batch_id_of
from ledger.crypto import keystore
from ledger.crypto.errors import InvalidSignature, KeystoreError
from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey, SM2PublicKey
from ledger.document import SealedDocument, open_sealed
from ledger.proof import FORMAT_V0, FORMAT_V1, ProofInvalid, VerifiedProof, verify_proof
from ledger.store import verify_car

ASSETS = Path(__file__).resolve().parents[1] / "assets"
PROOFS = ("proof-v0.json", "proof-v1-car.json", "proof-v1-redacted.json", "proof-v2.json")

# --- the fixed inputs the golden files were made from (stated here independently)

DOMAIN = SigningDomain(chain_id=31337, contract=to_checksum_address("0x" + "5e" * 20))
V1_AGREEMENT_ID = "agr_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
V1_CONTENT = (
    b"SECURITIES ACCOUNT AGREEMENT agr_0f1e2d3c4b5a69788796a5b4c3d2e1f0 version 2\n"
    b"The customer confirms the risk disclosure. Golden file of ledger-proof/1.\n"
)
V1_CID = "bafkreib63favctifhzey6rxz4m5gzv74agllslii6sz5lqil3rmcpeu7bu"
V1_SIGNATURE_SET = "d97cb64c99149a781c6a3308be8eb56e9271971bcda32c10f6bff7c785e4cc33"
V0_AGREEMENT_ID = "agr_00112233445566778899aabbccddeeff"
V0_CONTENT = b"SECURITIES ACCOUNT AGREEMENT (ledger-proof/0 golden file)\n"
V0_CID = "bafkreibhtmdcxo7oa75ahym4d7t5bdro53n5k4vrz6ysseythiy4ze66eq"
DOCUMENT_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
KEYSTORE_PASSWORD = b"golden keystore password"


def asset(name: str) -> bytes:
    return (ASSETS / name).read_bytes()


def key(name: str) -> SM2PrivateKey:
    return SM2PrivateKey.from_pem(asset(f"keys/{name}.key.pem"))


def proof_json(name: str) -> dict[str, Any]:
    value = canonical.loads_canonical(asset(name))
    assert isinstance(value, dict)
    return value


def signature_part(proof: dict[str, Any], role: str) -> dict[str, Any]:
    (part,) = [s for s in proof["signatures"] if s["role"] == role]
    return part


def verify_part(part: dict[str, Any], message: bytes) -> None:
    """Verify one signature part of a proof over ``message`` (raises InvalidSignature)."""
    public = SM2PublicKey.from_raw(canonical.unhex0x(part["public_key"], size=65))
    public.verify(canonical.unb64(part["signature"]), message, distid=part["distid"].encode())


# --- the files, as committed


ISSUER = key("issuer").public_key().fingerprint()


@pytest.mark.parametrize("name", ["proof-v1-car.json", "proof-v1-redacted.json"])
def test_v1_proofs_verify(name: str) -> None:
    verified = verify_proof(asset(name), trusted_issuers={ISSUER})
    assert verified.format == FORMAT_V1
    assert (verified.agreement_id, verified.agreement_version, verified.kind) == (
        V1_AGREEMENT_ID,
        2,
        "agreement",
    )
    assert verified.accepted_at == datetime(2026, 11, 21, 9, 31, tzinfo=UTC)
    assert verified.roles == ("broker", "customer")  # role order
    assert (verified.leaf_index, verified.tree_size) == (1, 5)
    assert (verified.cid, verified.document_sm3) == (V1_CID, Document(V1_CONTENT).sm3)
    assert (verified.chain_id, verified.contract) == (DOMAIN.chain_id, DOMAIN.contract)
    assert verified.signer_fingerprints == tuple(
        key(role).public_key().fingerprint() for role in ("broker", "customer")
    )


def _hash(proof: dict[str, Any], *keys: str) -> bytes:
    value: Any = proof
    for key in keys:
        value = value[key]
    algorithm, _, _ = value.partition(":")
    return canonical.unlabel(algorithm, value)


@pytest.mark.parametrize("name", ["proof-v1-car.json", "proof-v1-redacted.json"])
def test_v1_proofs_state_every_field(name: str) -> None:
    """Everything a verified v1 proof states, field by field (what ledger verify prints and
    confirm_on_chain reads)."""
    proof = proof_json(name)
    batch_id = _hash(proof, "anchor", "batch_id")
    assert verify_proof(asset(name)) == VerifiedProof(
        format=FORMAT_V1,
        agreement_id=V1_AGREEMENT_ID,
        agreement_version=2,
        kind="agreement",
        accepted_at=datetime(2026, 11, 21, 9, 31, tzinfo=UTC),
        document_sm3=Document(V1_CONTENT).sm3,
        cid=V1_CID,
        roles=("broker", "customer"),
        chain_id=31337,
        contract=DOMAIN.contract,
        anchor_id=batch_id,
        signer_fingerprints=(
            key("broker").public_key().fingerprint(),
            key("customer").public_key().fingerprint(),
        ),
        signature_set_digest=bytes.fromhex(V1_SIGNATURE_SET),
        writer="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",  # anvil's dev account
        tx_hash=_hash(proof, "anchor", "transaction", "hash"),
        block_number=7,
        block_hash=keccak(b"block 7"),
        issuer_fingerprint=ISSUER,
        batch_id=batch_id,
        leaf_index=1,
        tree_size=5,
        root=_hash(proof, "inclusion", "root"),
        leaf_hash=merkle.leaf_hash(asset("leaf-v1.json")),
    )
    assert batch_id == batch_id_of(
        chain_id=31337, contract=DOMAIN.contract, root=_hash(proof, "inclusion", "root"), size=5
    )


def test_v0_proof_states_every_field() -> None:
    proof = proof_json("proof-v0.json")
    assert verify_proof(asset("proof-v0.json")) == VerifiedProof(
        format=FORMAT_V0,
        agreement_id=V0_AGREEMENT_ID,
        agreement_version=None,
        kind="agreement",
        accepted_at=None,
        document_sm3=Document(V0_CONTENT).sm3,
        cid=V0_CID,
        roles=("customer", "broker"),
        chain_id=31337,
        contract=DOMAIN.contract,
        anchor_id=_hash(proof, "anchor", "anchor_id"),
        signer_fingerprints=(
            key("customer").public_key().fingerprint(),
            key("broker").public_key().fingerprint(),
        ),
        signature_set_digest=_hash(proof, "anchor", "signature_set_digest"),
        writer="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        tx_hash=_hash(proof, "anchor", "transaction", "hash"),
        block_number=3,
        block_hash=keccak(b"block 3"),
        issuer_fingerprint=ISSUER,
        batch_id=None,
        leaf_index=None,
        tree_size=None,
        root=None,
        leaf_hash=None,
    )


def test_v0_proof_verifies() -> None:
    verified = verify_proof(asset("proof-v0.json"), trusted_issuers={ISSUER})
    assert verified.format == FORMAT_V0
    assert (verified.agreement_id, verified.cid) == (V0_AGREEMENT_ID, V0_CID)
    assert verified.document_sm3 == Document(V0_CONTENT).sm3
    assert verified.roles == ("customer", "broker")  # v0 keeps the signing order
    assert (verified.agreement_version, verified.batch_id, verified.block_number) == (None, None, 3)


def test_the_car_proof_carries_the_content_and_the_redacted_one_does_not() -> None:
    stored = proof_json("proof-v1-car.json")["agreement"]
    assert canonical.unb64(stored["document"]["content"]) == V1_CONTENT
    assert "car" in stored["stored"]
    redacted = proof_json("proof-v1-redacted.json")["agreement"]
    assert set(redacted["document"]) == {"digest", "media_type", "size"}
    assert set(redacted["stored"]) == {"cid", "encryption"}


def test_ledger_verify_reads_the_committed_proofs() -> None:
    """The command line a customer or auditor runs: exit 0, one valid line per file."""
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "verify", "--jobs", "1", "--issuer", "sm3:" + ISSUER.hex()]
        + [str(ASSETS / name) for name in PROOFS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "4 valid, 0 invalid, 0 could not be checked"


def test_ledger_verify_refuses_a_changed_committed_proof(tmp_path: Path) -> None:
    data = bytearray(asset("proof-v1-car.json"))
    at = data.index(b'"leaf_index":1') + len(b'"leaf_index":')
    data[at] = ord("2")
    changed = tmp_path / "changed.proof.json"
    changed.write_bytes(bytes(data))
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "verify", str(changed)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.strip() == "invalid: inclusion proof does not lead to the root"


def test_payload_v1_bytes() -> None:
    """Payload v1 built from fixed inputs is the committed file, which the customer signed."""
    payload = SigningPayload(
        agreement_id=V1_AGREEMENT_ID,
        agreement_version=2,
        document_sm3=Document(V1_CONTENT).sm3,
        role="customer",
        signed_at=datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
        domain=DOMAIN,
    )
    assert payload.to_bytes() == asset("payload-v1.json")
    for name in ("proof-v1-car.json", "proof-v1-redacted.json"):
        verify_part(signature_part(proof_json(name), "customer"), asset("payload-v1.json"))


def test_payload_v0_bytes() -> None:
    payload = SigningPayloadV0(
        agreement_id=V0_AGREEMENT_ID,
        document_sm3=Document(V0_CONTENT).sm3,
        document_cid=V0_CID,
        role="customer",
        signed_at=datetime(2026, 1, 15, 8, 0, tzinfo=UTC),
        domain=DOMAIN,
    )
    assert payload.to_bytes() == asset("payload-v0.json")
    verify_part(signature_part(proof_json("proof-v0.json"), "customer"), asset("payload-v0.json"))


def test_leaf_entry_bytes() -> None:
    """The leaf entry built from fixed inputs is the committed file, whose leaf hash is the
    proof's leaf."""
    entry = LeafEntry(
        agreement_id=V1_AGREEMENT_ID,
        agreement_version=2,
        kind="agreement",
        document_sm3=Document(V1_CONTENT).sm3,
        document_cid=V1_CID,
        media_type="text/plain; charset=utf-8",
        size=len(V1_CONTENT),
        required_roles=("customer", "broker"),
        signature_set_digest=bytes.fromhex(V1_SIGNATURE_SET),
        accepted_at=datetime(2026, 11, 21, 9, 31, tzinfo=UTC),
        domain=DOMAIN,
    )
    assert entry.to_bytes() == asset("leaf-v1.json")
    leaf = canonical.unlabel("sm3", proof_json("proof-v1-car.json")["inclusion"]["leaf"])
    assert merkle.leaf_hash(asset("leaf-v1.json")) == entry.leaf_hash == leaf


def _binding() -> bytes:
    reader = key("customer").public_key().fingerprint()
    return b"\x00".join((V1_AGREEMENT_ID.encode(), V1_CID.encode(), reader))


def test_wrapped_key_opens_with_the_readers_key() -> None:
    """ledger-kw/1: the customer's key unwraps the document key, which opens the ciphertext
    carried in the v1 proof's CAR."""
    assert unwrap(asset("document-key.lkw1"), reader=key("customer"), binding=_binding()) == (
        DOCUMENT_KEY
    )
    car = canonical.unb64(proof_json("proof-v1-car.json")["agreement"]["stored"]["car"])
    sealed = SealedDocument(
        agreement_id=V1_AGREEMENT_ID,
        cid=V1_CID,
        ciphertext=verify_car(car, V1_CID),
        wrapped_keys={key("customer").public_key().fingerprint(): asset("document-key.lkw1")},
    )
    assert open_sealed(sealed, reader=key("customer")) == V1_CONTENT


def test_keystore_opens_with_its_password() -> None:
    data = asset("keystore.json")
    assert keystore.read_public_key(data) == key("issuer").public_key()
    assert keystore.decrypt_key(data, KEYSTORE_PASSWORD).to_der() == key("issuer").to_der()
    with pytest.raises(KeystoreError, match=r"^wrong password, or the keystore was tampered with$"):
        keystore.decrypt_key(data, KEYSTORE_PASSWORD + b"!")


# --- one byte changed anywhere: refused


def _each_byte_changed(data: bytes) -> list[tuple[int, bytes]]:
    return [(i, data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]) for i in range(len(data))]


def _all_refused(data: bytes, check: Callable[[bytes], object], error: type[Exception]) -> None:
    accepted = []
    for position, changed in _each_byte_changed(data):
        try:
            check(changed)
        except error:
            continue
        accepted.append(position)
    assert accepted == [], f"changes at these byte positions were accepted: {accepted}"


@pytest.mark.parametrize("name", PROOFS)
def test_a_proof_with_any_byte_changed_is_refused(name: str) -> None:
    _all_refused(asset(name), verify_proof, ProofInvalid)


@pytest.mark.parametrize("name", PROOFS)
def test_base64_padding_bits_are_bound(name: str) -> None:
    """The last letter before ``=`` padding has unused low bits: a lenient decoder reads the
    same bytes from several letters there. Every such second spelling is refused."""
    data = asset(name)
    letters = (string.ascii_letters + string.digits + "+/").encode()
    padded = list(re.finditer(rb'"([A-Za-z0-9+/]+=+)"', data))
    assert padded, name
    for match in padded:
        start, end = match.span(1)
        last = start + len(match.group(1).rstrip(b"=")) - 1  # the letter before the padding

        def spelled(letter: int, start: int = start, end: int = end, last: int = last) -> bytes:
            return data[start:last] + bytes([letter]) + data[last + 1 : end]

        same = [
            letter
            for letter in letters
            if letter != data[last]
            and base64.b64decode(spelled(letter)) == base64.b64decode(match.group(1))
        ]
        assert same, (name, match.group(1)[-4:])
        for letter in same:
            with pytest.raises(ProofInvalid, match=r"^base64 is not in canonical form$"):
                verify_proof(data[:last] + bytes([letter]) + data[last + 1 :])


@pytest.mark.parametrize(
    ("name", "proof", "role"),
    [
        ("payload-v1.json", "proof-v1-car.json", "customer"),
        ("payload-v0.json", "proof-v0.json", "customer"),
    ],
)
def test_a_payload_with_any_byte_changed_is_not_what_was_signed(
    name: str, proof: str, role: str
) -> None:
    part = signature_part(proof_json(proof), role)
    _all_refused(asset(name), lambda changed: verify_part(part, changed), InvalidSignature)


def test_a_leaf_entry_with_any_byte_changed_is_not_in_the_batch() -> None:
    inclusion = proof_json("proof-v1-car.json")["inclusion"]

    def check(changed: bytes) -> None:
        merkle.verify_inclusion(
            leaf_hash_value=merkle.leaf_hash(changed),
            index=inclusion["leaf_index"],
            tree_size=inclusion["tree_size"],
            path=[canonical.unlabel("sm3", node) for node in inclusion["path"]],
            root=canonical.unlabel("sm3", inclusion["root"]),
        )

    check(asset("leaf-v1.json"))
    _all_refused(asset("leaf-v1.json"), check, merkle.InclusionProofInvalid)


def test_a_wrapped_key_with_any_byte_changed_is_refused() -> None:
    reader, binding = key("customer"), _binding()
    _all_refused(
        asset("document-key.lkw1"),
        lambda changed: unwrap(changed, reader=reader, binding=binding),
        KeyWrapError,
    )


def test_a_keystore_with_any_byte_changed_is_refused() -> None:
    """XOR 0x01 turns no byte of this file into another JSON whitespace character (the
    keystore is plain JSON, not canonical: its whitespace carries nothing, its header is bound
    by the GCM tag as canonical JSON)."""
    _all_refused(
        asset("keystore.json"),
        lambda changed: keystore.decrypt_key(changed, KEYSTORE_PASSWORD),
        KeystoreError,
    )


def test_the_golden_files_are_the_ones_named() -> None:
    """Nothing in tests/assets goes unchecked (a new golden file needs its tests here)."""
    names = {p.name for p in ASSETS.iterdir() if p.is_file() and p.suffix != ".py"}
    assert names == {
        *PROOFS,
        "payload-v0.json",
        "payload-v1.json",
        "leaf-v1.json",
        "receipt-v1.json",  # tests/unit/consent/test_receipt.py
        "consent-proof-v1.json",  # tests/unit/proof/test_consent_proof_golden.py
        "document-key.lkw1",
        "keystore.json",
        "README.md",
    }
    assert DEFAULT_DISTID == b"1234567812345678"
