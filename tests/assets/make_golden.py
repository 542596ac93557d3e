"""How the golden files in tests/assets were made. Run by hand, never by the tests:

    .venv/bin/python -m tests.assets.make_golden

The tests verify the committed files as they are (tests/unit/test_golden.py): a change of code
that no longer reads one of them, or that builds another payload or leaf from the same inputs,
fails CI. Running this again writes NEW files (SM2 signatures, key-encryption keys, keystore salt
and nonce are random) from the same keys and inputs; commit them only for a new format, never to
make a failing golden test pass.

Keys: tests/assets/keys/*.key.pem, test-only SM2 keys (made on the first run, then reused).

Names given on the command line write only those files (a new format's, leaving the committed
ones as they are):

    .venv/bin/python -m tests.assets.make_golden proof-v2.json
    .venv/bin/python -m tests.assets.make_golden consent-proof-v1.json
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eth_utils import keccak

from ledger._keywrap import KeyWrapper
from ledger.agreement import Document, LeafEntry, SigningPayload, SigningPayloadV0
from ledger.chain.consent import Mode
from ledger.consent import AccessReceipt
from ledger.crypto import keystore, sm4
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.crypto.sm3 import sm3
from ledger.proof import ProofKeys
from ledger.signature import in_role_order, sign
from ledger.store import car_of, cid_of
from tests._fixtures.consent_proofs import consent_case
from tests._fixtures.proof_keys import DEV_ACCOUNT, OFFLINE_REGISTRY, entry
from tests._fixtures.proofs import (
    OFFLINE_DOMAIN,
    Parties,
    SignedVersion,
    anchor_offline,
    offline_v0_proof,
    sign_version,
)

ASSETS = Path(__file__).resolve().parent
KEYS = ASSETS / "keys"

# --- the fixed inputs (tests/unit/test_golden.py states them again, independently)

V1_AGREEMENT_ID = "agr_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
V1_VERSION = 2
V1_CONTENT = (
    b"SECURITIES ACCOUNT AGREEMENT agr_0f1e2d3c4b5a69788796a5b4c3d2e1f0 version 2\n"
    b"The customer confirms the risk disclosure. Golden file of ledger-proof/1.\n"
)
V1_SIGNED_AT = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)  # customer; broker one second later
V1_ACCEPTED_AT = datetime(2026, 11, 21, 9, 31, tzinfo=UTC)
#: The document key and nonce of the v1 ciphertext (fixed, so its CID is too).
DOCUMENT_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
DOCUMENT_NONCE = bytes.fromhex("a1a2a3a4a5a6a7a8a9aaabac")

V0_AGREEMENT_ID = "agr_00112233445566778899aabbccddeeff"
V0_CONTENT = b"SECURITIES ACCOUNT AGREEMENT (ledger-proof/0 golden file)\n"
V0_CIPHERTEXT_KEY = bytes.fromhex("ffeeddccbbaa99887766554433221100")
V0_SIGNED_AT = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)

V2_AGREEMENT_ID = "agr_2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b"
V2_CONTENT = b"SECURITIES ACCOUNT AGREEMENT (ledger-proof/2 golden file)\n"
V2_SIGNED_AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)  # customer; broker one second later
V2_SEALED_AT = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)
#: The registry entries' times (UNIX seconds): keys registered on 2026-11-01; the seal key's
#: window ends on 2027-11-01 and it is revoked effective 2026-11-23 (after the sealing); the
#: broker's key is open-ended.
V2_REGISTERED_AT = 1_793_491_200
V2_SEAL_NOT_AFTER = 1_825_027_200
V2_SEAL_REVOKED_AT = 1_795_392_000
V2_BROKER_MEMBER = "0xB0B0b0B0B0B0B0b0B0B0B0b0b0b0b0B0b0b0B0B0"

KEYSTORE_PASSWORD = b"golden keystore password"
#: scrypt cost of the golden keystore: low, so that the one-byte test opens it ~4,000 times fast.
KEYSTORE_SCRYPT_N = 2**10


def _key(name: str) -> SM2PrivateKey:
    path = KEYS / f"{name}.key.pem"
    if not path.exists():
        path.write_bytes(SM2PrivateKey.generate().to_pem())
    return SM2PrivateKey.from_pem(path.read_bytes())


def _ciphertext(key: bytes, nonce: bytes, agreement_id: str, content: bytes) -> bytes:
    """As ledger.document.seal_and_store encrypts (nonce || SM4-GCM, AAD names the agreement)."""
    aad = b"ledger/document/0\x00" + agreement_id.encode("ascii")
    return nonce + sm4.encrypt_with_nonce(key, nonce, content, aad=aad)


def _v1(parties: Parties) -> tuple[SignedVersion, bytes, bytes]:
    """The v1 version (deterministic ciphertext), proofs with and without CAR."""
    signed = sign_version(
        parties,
        agreement_id=V1_AGREEMENT_ID,
        version=V1_VERSION,
        content=V1_CONTENT,
        signed_at=V1_SIGNED_AT,
        roles=("customer", "broker"),
    )
    ciphertext = _ciphertext(DOCUMENT_KEY, DOCUMENT_NONCE, V1_AGREEMENT_ID, V1_CONTENT)
    entry = LeafEntry(
        **{**vars(signed.entry), "document_cid": cid_of(ciphertext), "accepted_at": V1_ACCEPTED_AT}
    )
    ours = SignedVersion(entry, signed.signatures, V1_CONTENT, ciphertext, car_of(ciphertext))
    others = [sign_version(parties) for _ in range(2)]
    batch = anchor_offline([others[0], ours, others[1]], extra_leaves=2)  # leaf 1 of 5
    with_car = batch.proof(1, parties.issuer)
    redacted = batch.proof(1, parties.issuer, include_content=False, include_car=False)
    return ours, with_car, redacted


def _v2(parties: Parties) -> bytes:
    """A ledger-proof/2 file (content, CAR, both registry entries), leaf 0 of a batch of 2."""
    signed = sign_version(
        parties,
        agreement_id=V2_AGREEMENT_ID,
        content=V2_CONTENT,
        signed_at=V2_SIGNED_AT,
        roles=("customer", "broker"),
    )
    keys = ProofKeys(
        chain_id=OFFLINE_DOMAIN.chain_id,
        registry=OFFLINE_REGISTRY,
        sealed_at=V2_SEALED_AT,
        seal=entry(
            parties.issuer.public_key(),
            member=DEV_ACCOUNT,
            not_before=V2_REGISTERED_AT,
            not_after=V2_SEAL_NOT_AFTER,
            revoked_at=V2_SEAL_REVOKED_AT,
            registered_at=V2_REGISTERED_AT,
        ),
        broker=entry(
            parties.keys["broker"].public_key(),
            member=V2_BROKER_MEMBER,
            purpose="request-signing",
            not_before=V2_REGISTERED_AT,
            registered_at=V2_REGISTERED_AT,
        ),
    )
    return anchor_offline([signed], extra_leaves=1).proof(0, parties.issuer, keys=keys)


def _v0(parties: Parties) -> tuple[bytes, bytes]:
    """A ledger-proof/0 file (content and ciphertext included) and the customer's payload."""
    document = Document(V0_CONTENT)
    ciphertext = _ciphertext(V0_CIPHERTEXT_KEY, bytes(12), V0_AGREEMENT_ID, V0_CONTENT)
    cid = cid_of(ciphertext)
    payloads = {
        role: SigningPayloadV0(
            agreement_id=V0_AGREEMENT_ID,
            document_sm3=document.sm3,
            document_cid=cid,
            role=role,
            signed_at=V0_SIGNED_AT + timedelta(seconds=i),
            domain=OFFLINE_DOMAIN,
        )
        for i, role in enumerate(("customer", "broker"))
    }
    signatures = [sign(parties.keys[role], payloads[role]) for role in ("customer", "broker")]
    proof = offline_v0_proof(
        parties,
        agreement_id=V0_AGREEMENT_ID,
        document=document,
        cid=cid,
        ciphertext=ciphertext,
        signatures=signatures,
        block_hash=keccak(b"block 3"),
    )
    return proof, payloads["customer"].to_bytes()


def _receipt() -> bytes:
    """An access receipt (``ledger/access-receipt`` v1) of fixed inputs: a per-use release of
    two fields (stated in tests/unit/consent/test_receipt.py as well)."""
    return AccessReceipt(
        receipt_id="rcpt_00112233445566778899aabbccddeeff",
        grant_id=bytes.fromhex("6b" * 32),
        attestation_id=bytes.fromhex("a7" * 32),
        attester="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        caller="0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        fields=("given_name", "date_of_birth"),
        purpose="account_opening",
        used_at=datetime(2026, 11, 29, 3, 0, 5, tzinfo=UTC),
        request_sm3=sm3(b"the request as sent"),
        mode=Mode.PER_USE,
        use_authorization=bytes.fromhex("5e" * 32),
        chain_id=31337,
        consent_registry="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    ).to_bytes()


def main() -> None:
    KEYS.mkdir(exist_ok=True)
    parties = Parties(
        issuer=_key("issuer"), keys={role: _key(role) for role in ("customer", "broker")}
    )
    version, with_car, redacted = _v1(parties)
    customer = next(s for s in version.signatures if s.role == "customer")
    payload_v1 = SigningPayload(
        agreement_id=V1_AGREEMENT_ID,
        agreement_version=V1_VERSION,
        document_sm3=Document(V1_CONTENT).sm3,
        role="customer",
        signed_at=customer.signed_at,
        domain=OFFLINE_DOMAIN,
    ).to_bytes()
    reader = parties.keys["customer"].public_key()
    binding = b"\x00".join(
        (V1_AGREEMENT_ID.encode(), version.entry.document_cid.encode(), reader.fingerprint())
    )
    files = {
        "proof-v1-car.json": with_car,
        "proof-v1-redacted.json": redacted,
        "payload-v1.json": payload_v1,
        "leaf-v1.json": version.entry.to_bytes(),
        "document-key.lkw1": KeyWrapper().wrap(DOCUMENT_KEY, reader=reader, binding=binding),
        "keystore.json": keystore.encrypt_key(
            parties.issuer, KEYSTORE_PASSWORD, scrypt_n=KEYSTORE_SCRYPT_N
        ),
    }
    files["proof-v0.json"], files["payload-v0.json"] = _v0(parties)
    files["proof-v2.json"] = _v2(parties)
    files["receipt-v1.json"] = _receipt()
    # a per-use grant of the golden customer key, three uses proven in two batches, one
    # pending, revoked after them; sealed by the issuer key with its registry entry
    # (tests/_fixtures/consent_proofs.py states the inputs; nonces are fixed by the seed)
    files["consent-proof-v1.json"] = consent_case(
        parties.keys["customer"], parties.issuer, seed=b"golden consent proof"
    ).build()
    chosen = sys.argv[1:] or sorted(files)
    for name in chosen:
        data = files[name]
        (ASSETS / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")
    print("signature_set_digest of leaf-v1:", version.entry.signature_set_digest.hex())
    print("role order:", [s.role for s in in_role_order(version.signatures)])


if __name__ == "__main__":
    main()
