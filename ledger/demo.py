"""The main job on the embedded defaults: the evidence service end to end, in one process.

A customer and a broker sign an account agreement (SM2, over the domain-separated payload of
version 1); the service verifies both signatures, encrypts the document (SM4-GCM, key wrapped
for both parties), stores it content-addressed, acknowledges it durably, anchors it in a Merkle
batch on the chain, and hands out its ``ledger-proof/1`` file, which is verified offline and
confirmed on chain before it is written. ``count`` > 1 submits that many agreements at once
(one batch) and writes a proof file for each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger import _runtime
from ledger.agreement import Document, VersionStatus, new_agreement_id
from ledger.canonical import whole_seconds
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.errors import LedgerError
from ledger.proof import confirm_on_chain, verify_proof
from ledger.service import EvidenceService, running_service
from ledger.settings import Settings
from ledger.signature import sign_version

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
    proof_path: Path  # the first agreement's proof
    proof_paths: tuple[Path, ...]
    agreement_id: str
    cid: str
    block_number: int


def _submit_one(
    evidence: EvidenceService,
    keys: dict[str, SM2PrivateKey],
    now: Callable[[], datetime],
    distid: bytes,
) -> str:
    agreement_id = new_agreement_id()
    document = Document(
        SAMPLE_AGREEMENT.format(
            agreement_id=agreement_id,
            date=now().date().isoformat(),
            customer_fp=keys["customer"].public_key().fingerprint().hex(),
        ).encode("utf-8")
    )
    signatures = sign_version(
        keys,
        domain=evidence.domain,
        agreement_id=agreement_id,
        version=1,
        document_sm3=document.sm3,
        signed_at=whole_seconds(now()),
        distid=distid,
    )
    evidence.submit(document, signatures=signatures, agreement_id=agreement_id)
    return agreement_id


def run_demo(
    settings: Settings,
    *,
    out_dir: Path,
    count: int = 1,
    timeout_s: float = 60.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> DemoResult:
    if count < 1:
        raise LedgerError("count must be at least 1")
    keys = {
        "customer": _runtime.service_key(settings, "demo-customer"),
        "broker": _runtime.service_key(settings, "demo-broker"),
    }
    distid = settings.sm2_distid.encode("ascii")
    with running_service(settings, now=now) as service:
        evidence = service.evidence
        with ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
            ids = list(pool.map(lambda _: _submit_one(evidence, keys, now, distid), range(count)))
        deadline = time.monotonic() + timeout_s
        while any(evidence.get_version(a, 1).status is not VersionStatus.ANCHORED for a in ids):
            if time.monotonic() > deadline:
                state = service.anchoring.state()
                raise LedgerError(
                    f"not anchored within {timeout_s} s (last error: {state.last_error})"
                )
            time.sleep(0.05)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for agreement_id in ids:
            data = evidence.proof(agreement_id, 1)
            proof = verify_proof(data, trusted_issuers=[evidence.issuer_fingerprint])
            if agreement_id == ids[0]:
                confirm_on_chain(proof, client=service.chain)
            path = out_dir / f"{agreement_id}.proof.json"
            path.write_bytes(data)
            paths.append(path)
        first = evidence.get_version(ids[0], 1)
        block = service.database.inclusion(ids[0], 1).block_number
    return DemoResult(
        proof_path=paths[0],
        proof_paths=tuple(paths),
        agreement_id=ids[0],
        cid=first.document_cid,
        block_number=block,
    )
