"""``ledger-consent-proof/1`` pinned forever: the committed tests/assets/consent-proof-v1.json
verifies AS IT IS (made once by tests/assets/make_golden.py), states what it was made from, and
every one-byte change of it is refused.

Why XOR 0x01 at every position suffices (as for the agreement proofs, tests/unit/test_golden.py):
the file is RFC 8785 canonical JSON whose every value has one text form, the customer's
documents and the receipts are checked to be in their canonical form, and every value is bound
by a numbered check of :mod:`ledger.proof.consent` or by the seal. The unused low bits before
base64 padding are swept with every letter.
"""

from __future__ import annotations

import base64
import re
import string
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_utils import keccak

from ledger import canonical
from ledger.chain.consent import Mode, grant_digest
from ledger.cli import cli
from ledger.consent import AccessReceipt
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.proof import FORMAT_CONSENT, ProofInvalid, VerifiedConsentProof, verify_file

ASSETS = Path(__file__).resolve().parents[2] / "assets"
NAME = "consent-proof-v1.json"

# --- what the file was made from (stated here independently of the fixture that made it)

GRANT_ID = "73dba11c594109e109f78d515ead6daf4cd8b42d93d150f3a48bd98e89d25160"
ATTESTATION_ID = "dffc303ab8938fb9c8dcf3174492d3a514a825144eda19c0e75cb80586a6021f"
REGISTRY = "0xC0C0c0c0C0C0c0c0c0C0c0C0C0C0C0C0C0C0c0c0"
ATTESTATIONS = "0xa7a7a7A7A7A7a7a7A7a7A7a7a7A7A7A7a7A7a7A7"
EVIDENCE_LEDGER = "0x5e5E5e5e5E5e5E5E5e5E5E5e5e5E5E5E5e5E5E5e"
DEV_ACCOUNT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # attester, anchorer, sealer
GRANTEE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
START = 1_795_593_600  # 2026-11-25T08:00:00Z


def _data() -> bytes:
    return (ASSETS / NAME).read_bytes()


def _key(name: str) -> SM2PrivateKey:
    return SM2PrivateKey.from_pem((ASSETS / "keys" / f"{name}.key.pem").read_bytes())


ISSUER = _key("issuer").public_key().fingerprint()
CUSTOMER = _key("customer").public_key()


def test_the_committed_file_verifies_and_states_what_it_was_made_from() -> None:
    proof = verify_file(_data(), trusted_issuers={ISSUER})
    assert isinstance(proof, VerifiedConsentProof)
    assert proof.format == FORMAT_CONSENT == "ledger-consent-proof/1"
    assert (proof.domain.chain_id, proof.domain.registry) == (31337, REGISTRY)
    record = proof.record
    assert record.grant_id == bytes.fromhex(GRANT_ID)
    assert record.grant_id == grant_digest(record.grant, chain_id=31337, contract=REGISTRY)
    assert record.customer_key_fingerprint == CUSTOMER.fingerprint()
    assert record.signed_by(CUSTOMER)
    assert (record.relayer, record.recorded_at) == (GRANTEE, START + 12)
    grant = record.grant
    assert (grant.grantee, grant.mode, grant.max_uses) == (GRANTEE, Mode.PER_USE, 5)
    assert (grant.not_before, grant.not_after) == (START, START + 30 * 86_400)
    assert grant.attestation_id == bytes.fromhex(ATTESTATION_ID)
    attestation = proof.attestation
    assert (attestation.contract, attestation.attester) == (ATTESTATIONS, DEV_ACCOUNT)
    assert attestation.customer_key == CUSTOMER.to_raw()
    assert (attestation.ended_at, attestation.revoked, attestation.superseded_by) == (
        None,
        False,
        None,
    )
    assert [(r.at, verifies) for r, verifies in proof.revocations] == [(START + 2400, True)]
    assert proof.revoked_at == START + 2400
    assert [r.receipt.receipt_id for r in proof.receipts] == [f"rcpt_{n:032x}" for n in (1, 2, 3)]
    assert [(r.leaf_index, r.tree_size, r.block_number) for r in proof.receipts] == [
        (0, 4, 7),
        (2, 4, 7),
        (1, 2, 9),
    ]
    assert {r.block_hash for r in proof.receipts} == {keccak(b"block 7"), keccak(b"block 9")}
    assert {(r.contract, r.writer) for r in proof.receipts} == {(EVIDENCE_LEDGER, DEV_ACCOUNT)}
    assert [r.receipt.used_at for r in proof.receipts] == [
        datetime(2026, 11, 25, 8, n, tzinfo=UTC) for n in (1, 2, 3)
    ]
    assert proof.pending == (f"rcpt_{4:032x}",)
    assert (proof.chain_time, proof.sealed_at) == (
        START + 3000,
        datetime(2026, 11, 25, 9, tzinfo=UTC),
    )
    assert proof.issuer_fingerprint == ISSUER
    assert proof.keys is not None
    (seal,) = proof.keys.entries
    assert (seal.member, seal.purpose, seal.fingerprint) == (DEV_ACCOUNT, "proof-sealing", ISSUER)


def test_ledger_verify_reads_the_committed_file() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "verify", f"--issuer=sm3:{ISSUER.hex()}", ASSETS / NAME],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == (
        f"valid (offline): consent 0x{GRANT_ID} of the customer key"
        f" sm3:{CUSTOMER.fingerprint().hex()} to {GRANTEE} (per-use) under attestation"
        f" 0x{ATTESTATION_ID} by {DEV_ACCOUNT}, revoked at 2026-11-25T08:40:00Z; 3 use(s)"
        " proven anchored on chain 31337 in block(s) 7, 9, 1 pending; keys in registry"
        " 0x4b4b4B4b4b4B4b4b4B4B4B4B4B4B4B4B4B4B4b4b: seal key"
        f" sm3:{ISSUER.hex()} of {DEV_ACCOUNT} valid at 2026-11-25T09:00:00Z\n"
    )


def test_a_file_with_any_byte_changed_is_refused() -> None:
    data = _data()
    accepted = []
    for position in range(len(data)):
        changed = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
        try:
            verify_file(changed)
        except ProofInvalid:
            continue
        accepted.append(position)
    assert accepted == [], f"changes at these byte positions were accepted: {accepted}"


def test_base64_padding_bits_are_bound() -> None:
    data = _data()
    letters = (string.ascii_letters + string.digits + "+/").encode()
    padded = list(re.finditer(rb'"([A-Za-z0-9+/]+=+)"', data))
    assert padded
    for match in padded:
        start, end = match.span(1)
        last = start + len(match.group(1).rstrip(b"=")) - 1
        for letter in letters:
            spelled = data[start:last] + bytes([letter]) + data[last + 1 : end]
            if letter == data[last] or base64.b64decode(spelled) != base64.b64decode(
                match.group(1)
            ):
                continue
            with pytest.raises(ProofInvalid, match=r"(^|: )base64 is not in canonical form$"):
                verify_file(data[:last] + bytes([letter]) + data[last + 1 :])


def test_the_receipts_are_the_anchored_access_receipts() -> None:
    """Each receipt in the file is byte for byte the ``ledger/access-receipt`` v1 leaf."""
    body = canonical.loads_canonical(_data())
    for part in body["receipts"]:
        receipt = AccessReceipt.from_bytes(canonical.dumps(part["receipt"]))
        assert canonical.label("sm3", receipt.leaf_hash) == part["inclusion"]["leaf"]


def test_ledger_verify_reads_it_in_a_directory_of_proofs(tmp_path: Path) -> None:
    """Among agreement proofs, in parallel; a changed copy is the one invalid file."""
    (tmp_path / "consent.proof.json").write_bytes(_data())
    (tmp_path / "agreement.proof.json").write_bytes((ASSETS / "proof-v2.json").read_bytes())
    changed = _data().replace(b'"chain_time":', b'"chain_time":1', 1)
    (tmp_path / "changed.proof.json").write_bytes(changed)
    done = CliRunner().invoke(cli, ["verify", "--jobs", "2", str(tmp_path)])
    assert done.exit_code == 1, done.output
    assert done.output.splitlines() == [
        f"{tmp_path / 'changed.proof.json'}: issuer seal does not verify: SM2 signature does"
        " not verify",
        "2 valid, 1 invalid, 0 could not be checked",
    ]
