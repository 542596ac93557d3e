"""One real signed-proof path through every layer, on the embedded defaults.

A customer and a broker sign an account agreement with SM2; the document is encrypted with
SM4-GCM and stored content-addressed; its commitment is anchored on the chain; one proof file
comes out that verifies offline (and is confirmed against the chain before it is handed out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger import _runtime
from ledger.agreement import Document, SigningDomain, SigningPayloadV0, new_agreement_id
from ledger.crypto.keystore import Keystore
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.document import KeyEnvelopes, seal_and_store
from ledger.proof import AnchorEvidence, build_proof, confirm_on_chain, verify_proof
from ledger.settings import Settings
from ledger.signature import sign, signature_set_digest

SAMPLE_AGREEMENT = """\
SECURITIES ACCOUNT AGREEMENT (sample)

Agreement ID: {agreement_id}
Date: {date}

Broker: Example Securities Co., Ltd. (consortium member)
Customer: holder of the SM2 key with fingerprint sm3:{customer_fp}

1. The broker opens a securities trading account for the customer.
2. The customer confirms the risk disclosure and the suitability assessment.
3. Both parties sign this agreement with their SM2 keys; its SM3 digest is anchored on the
   consortium ledger, and the document is stored encrypted.
"""


@dataclass(frozen=True)
class DemoResult:
    proof_path: Path
    agreement_id: str
    cid: str
    block_number: int


def _key(keystore: Keystore, name: str, password: bytes) -> SM2PrivateKey:
    if name in keystore.names():
        return keystore.load(name, password)
    return keystore.create(name, password)


def run_demo(
    settings: Settings,
    *,
    out_dir: Path,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DemoResult:
    keystore = _runtime.keystore(settings)
    password = settings.keystore_password.get_secret_value().encode("utf-8")
    issuer = _key(keystore, "ledger-service", password)
    customer = _key(keystore, "demo-customer", password)
    broker = _key(keystore, "demo-broker", password)
    distid = settings.sm2_distid.encode("ascii")
    store = _runtime.content_store(settings)

    with _runtime.chain_client(settings) as client:
        ledger = _runtime.evidence_ledger(settings, client)
        domain = SigningDomain(chain_id=client.chain_id, contract=ledger.address)

        agreement_id = new_agreement_id()
        document = Document(
            SAMPLE_AGREEMENT.format(
                agreement_id=agreement_id,
                date=now().date().isoformat(),
                customer_fp=customer.public_key().fingerprint().hex(),
            ).encode("utf-8")
        )
        sealed = seal_and_store(
            document,
            agreement_id=agreement_id,
            readers=[customer.public_key(), broker.public_key()],
            store=store,
        )
        KeyEnvelopes(directory=settings.documents_dir).save(sealed)

        signatures = []
        for role, key in (("customer", customer), ("broker", broker)):
            payload = SigningPayloadV0(
                agreement_id=agreement_id,
                document_sm3=document.sm3,
                document_cid=sealed.cid,
                role=role,
                signed_at=now(),
                domain=domain,
            )
            signatures.append(sign(key, payload, distid=distid))

        receipt = ledger.anchor_agreement(
            document_digest=document.sm3,
            cid=sealed.cid,
            signer_fingerprints=[s.key_fingerprint for s in signatures],
            signature_set_digest=signature_set_digest(signatures),
        )
        proof = build_proof(
            agreement_id=agreement_id,
            document=document,
            cid=sealed.cid,
            ciphertext=sealed.ciphertext,
            signatures=signatures,
            anchor=AnchorEvidence(
                chain_id=domain.chain_id,
                contract=domain.contract,
                anchor_id=receipt.anchor_id,
                writer=receipt.writer,
                tx_hash=receipt.tx_hash,
                raw_transaction=receipt.raw_transaction,
                block_number=receipt.block_number,
                block_hash=receipt.block_hash,
            ),
            issuer_key=issuer,
            distid=distid,
        )
        confirm_on_chain(verify_proof(proof), client=client)

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{agreement_id}.proof.json"
    path.write_bytes(proof)
    return DemoResult(
        proof_path=path,
        agreement_id=agreement_id,
        cid=sealed.cid,
        block_number=receipt.block_number,
    )
