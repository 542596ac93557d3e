"""An evidence service wired in-process to real parts (anvil, SQLite/PostgreSQL, a blockstore),
and helpers that sign versions the way parties do."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger import signature
from ledger.agreement import Document, SigningDomain, SigningWindow
from ledger.batcher import Batcher
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import AgreementVersion, Database, VersionStatus
from ledger.service import EvidenceService
from ledger.service._anchoring import AnchoringLoop
from ledger.service._committer import GroupCommitter
from ledger.signature import Signature
from ledger.store import StoreBackend
from ledger.store.embedded import EmbeddedStore


@dataclass
class Parties:
    customer: SM2PrivateKey
    broker: SM2PrivateKey

    def keys(self) -> dict[str, SM2PrivateKey]:
        return {"customer": self.customer, "broker": self.broker}


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def sign_role(
    key: SM2PrivateKey,
    *,
    role: str,
    domain: SigningDomain,
    agreement_id: str,
    version: int,
    document_sm3: bytes,
    signed_at: datetime | None = None,
) -> Signature:
    """One party's signature of one version (step-by-step signing)."""
    (one,) = signature.sign_version(
        {role: key},
        domain=domain,
        agreement_id=agreement_id,
        version=version,
        document_sm3=document_sm3,
        signed_at=signed_at or now_s(),
    )
    return one


def sign_all(
    keys: dict[str, SM2PrivateKey],
    *,
    domain: SigningDomain,
    agreement_id: str,
    version: int,
    document: Document,
) -> list[Signature]:
    return signature.sign_version(
        keys,
        domain=domain,
        agreement_id=agreement_id,
        version=version,
        document_sm3=document.sm3,
        signed_at=now_s(),
    )


@dataclass
class ServiceHarness:
    evidence: EvidenceService
    database: Database
    store: StoreBackend
    ledger: EvidenceLedgerContract
    anchoring: AnchoringLoop
    issuer: SM2PrivateKey

    @property
    def domain(self) -> SigningDomain:
        return self.evidence.domain

    def wait_anchored(
        self, versions: Sequence[tuple[str, int]], *, timeout_s: float = 30.0
    ) -> list[AgreementVersion]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [self.database.get_version(a, v) for a, v in versions]
            if all(f.status is VersionStatus.ANCHORED for f in found):
                return found
            if time.monotonic() > deadline:
                waiting = [f"{f.agreement_id} v{f.version}: {f.status}" for f in found][:5]
                raise AssertionError(f"not anchored in {timeout_s} s: {waiting}")
            time.sleep(0.05)


@pytest.fixture
def parties() -> Parties:
    return Parties(customer=SM2PrivateKey.generate(), broker=SM2PrivateKey.generate())


@contextmanager
def running_harness(
    database: Database,
    evidence_ledger: EvidenceLedgerContract,
    store: StoreBackend,
    *,
    before_commit: Callable[[], None] | None = None,
    signing_window: SigningWindow | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[ServiceHarness]:
    """A running service on ``store``: group committer and anchoring loop (batches of up to 50
    or 0.2 s). ``before_commit`` runs before each group transaction (default: the store's
    sync); a test uses it to play a concurrent writer."""
    issuer = SM2PrivateKey.generate()
    lease = database.anchoring_lease()
    anchoring = AnchoringLoop(
        database=database,
        batcher=Batcher(
            database=database, ledger=evidence_ledger, max_size=50, is_leader=lease.check
        ),
        lease=lease,
        max_size=50,
        max_wait_s=0.2,
    )
    committer = GroupCommitter(
        database=database,
        before_commit=before_commit if before_commit is not None else store.sync,
        on_commit=anchoring.notify,
    )
    evidence = EvidenceService(
        database=database,
        store=store,
        domain=SigningDomain(
            chain_id=evidence_ledger.client.chain_id, contract=evidence_ledger.address
        ),
        issuer_key=issuer,
        distid=b"1234567812345678",
        committer=committer,
        signing_window=signing_window,
        on_accepted=anchoring.notify,
        now=now,
    )
    committer.start()
    anchoring.start()
    try:
        yield ServiceHarness(evidence, database, store, evidence_ledger, anchoring, issuer)
    finally:
        committer.stop()
        anchoring.stop()


@pytest.fixture
def evidence_service(
    database: Database, evidence_ledger: EvidenceLedgerContract, tmp_path: Path
) -> Iterator[ServiceHarness]:
    """A running service on an embedded store (see :func:`running_harness`)."""
    store = EmbeddedStore(root=tmp_path / "store", deferred_sync=True)
    with running_harness(database, evidence_ledger, store) as harness:
        yield harness
