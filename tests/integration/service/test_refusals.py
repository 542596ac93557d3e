"""Refused work leaves nothing behind, and signing times are bounded (the service's side of
hostile input), on real parts: anvil, SQLite and PostgreSQL, the embedded store and a real IPFS
node (js-ipfs over the Kubo RPC API)."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.agreement import (
    Document,
    SigningWindow,
    VersionKind,
    VersionStatus,
    new_agreement_id,
)
from ledger.chain.devnode import free_port
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.db import Database
from ledger.service import Submission
from ledger.service.errors import (
    AgreementConflict,
    AgreementNotFound,
    SignatureRejected,
    SigningTimeRejected,
)
from ledger.signature import Signature
from ledger.store import EmbeddedStore, KuboStore, StoreBackend, StoreUnavailable
from tests._fixtures.ipfs import IpfsNode
from tests._fixtures.service import (
    Parties,
    ServiceHarness,
    now_s,
    running_harness,
    sign_role,
)

MIB_DOC = Document(os.urandom(1024 * 1024))
REPLAYS = 20


def _sign(
    harness: ServiceHarness,
    parties: Parties,
    agreement_id: str,
    document: Document,
    *,
    version: int = 1,
    signed_at: datetime | None = None,
) -> list[Signature]:
    return [
        sign_role(
            key,
            role=role,
            domain=harness.domain,
            agreement_id=agreement_id,
            version=version,
            document_sm3=document.sm3,
            signed_at=signed_at,
        )
        for role, key in parties.keys().items()
    ]


@pytest.fixture(params=["embedded", "kubo"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    if request.param == "embedded":
        yield EmbeddedStore(root=tmp_path / "store", deferred_sync=True)
        return
    node: IpfsNode = request.getfixturevalue("ipfs_node")
    with KuboStore(api_url=node.api_url, timeout_s=5.0, has_timeout_s=0.5) as kubo:
        yield kubo


def _stored(store: StoreBackend, request: pytest.FixtureRequest) -> object:
    """Everything the store holds: block files and their sizes, or the node's local blocks."""
    if isinstance(store, EmbeddedStore):
        blocks = store.root / "blocks"
        return sorted(
            (p.name, p.stat().st_size)
            for p in blocks.rglob("*")
            if p.is_file() and p.name[0] != "."
        )
    node: IpfsNode = request.getfixturevalue("ipfs_node")
    local = sorted(json.loads(line)["Ref"] for line in node.rpc("refs/local").text.split())
    return local, node.rpc("repo/stat").json()["RepoSize"]


@pytest.fixture
def harness(
    database: Database, evidence_ledger: EvidenceLedgerContract, store: StoreBackend
) -> Iterator[ServiceHarness]:
    with running_harness(database, evidence_ledger, store) as running:
        yield running


def test_replays_store_nothing(
    harness: ServiceHarness, parties: Parties, request: pytest.FixtureRequest
) -> None:
    svc = harness.evidence
    agreement_id = new_agreement_id()
    signatures = _sign(harness, parties, agreement_id, MIB_DOC)
    svc.submit(MIB_DOC, signatures=signatures, agreement_id=agreement_id)
    before = _stored(harness.store, request)
    for _ in range(REPLAYS):
        with pytest.raises(
            AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 1$"
        ):
            svc.submit(MIB_DOC, signatures=signatures, agreement_id=agreement_id)
    results = svc.submit_many([Submission(MIB_DOC, tuple(signatures), agreement_id)] * REPLAYS)
    assert {str(r) for r in results} == {f"{agreement_id}: the next version is 2, not 1"}
    assert _stored(harness.store, request) == before


def test_refused_versions_store_nothing(
    harness: ServiceHarness, parties: Parties, request: pytest.FixtureRequest
) -> None:
    svc = harness.evidence
    agreement_id = new_agreement_id()
    svc.submit(
        MIB_DOC,
        signatures=_sign(harness, parties, agreement_id, MIB_DOC),
        agreement_id=agreement_id,
    )
    before = _stored(harness.store, request)
    doc = Document(os.urandom(300_000))
    # a version number that does not follow
    with pytest.raises(AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 3$"):
        svc.submit(
            doc,
            signatures=_sign(harness, parties, agreement_id, doc, version=3),
            agreement_id=agreement_id,
            version=3,
        )
    # signatures over another version
    with pytest.raises(
        SignatureRejected, match=r"^signature of '(customer|broker)' does not verify"
    ):
        svc.submit(
            doc,
            signatures=_sign(harness, parties, agreement_id, doc, version=3),
            agreement_id=agreement_id,
            version=2,
        )
    # one role missing
    only_customer = _sign(harness, parties, agreement_id, doc, version=2)[:1]
    with pytest.raises(AgreementConflict, match="needs exactly one signature of each of"):
        svc.submit(doc, signatures=only_customer, agreement_id=agreement_id, version=2)
    # a draft for a version that exists, and for a wrong version number
    with pytest.raises(AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 1$"):
        svc.create_draft(doc, readers=[parties.customer.public_key()], agreement_id=agreement_id)
    with pytest.raises(AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 5$"):
        svc.create_version(
            agreement_id, version=5, document=doc, readers=[parties.customer.public_key()]
        )
    assert _stored(harness.store, request) == before
    assert [v.version for v in svc.versions(agreement_id)] == [1]


def test_nothing_follows_a_void_and_nothing_is_stored(
    harness: ServiceHarness, parties: Parties, request: pytest.FixtureRequest
) -> None:
    svc = harness.evidence
    agreement_id = new_agreement_id()
    svc.submit(
        MIB_DOC,
        signatures=_sign(harness, parties, agreement_id, MIB_DOC),
        agreement_id=agreement_id,
    )
    draft = svc.create_version(
        agreement_id, version=2, kind="void", reason="closed", readers=[parties.broker.public_key()]
    )
    for role, key in parties.keys().items():
        svc.add_signature(
            agreement_id,
            2,
            sign_role(
                key,
                role=role,
                domain=harness.domain,
                agreement_id=agreement_id,
                version=2,
                document_sm3=draft.document_sm3,
            ),
        )
    before = _stored(harness.store, request)
    with pytest.raises(
        AgreementConflict, match=f"^{agreement_id} is void: no version follows an accepted void$"
    ):
        svc.supersede(agreement_id, MIB_DOC, readers=[parties.customer.public_key()])
    assert _stored(harness.store, request) == before
    assert svc.agreement(agreement_id).state == "void"


def _concurrent_writer(
    database: Database, target: dict[str, str], store: StoreBackend
) -> Callable[[], None]:
    """A before_commit hook: once ``target["agreement_id"]`` is set, store version 1 of it
    directly (as another service process would) just before the group's transaction."""

    def before_commit() -> None:
        store.sync()
        agreement_id = target.pop("agreement_id", None)
        if agreement_id is None:
            return
        now = datetime.now(UTC).replace(microsecond=0)
        database.create_draft(
            agreement_id,
            1,
            kind=VersionKind.AGREEMENT,
            document_sm3=bytes(32),
            document_cid=target["cid"],
            media_type="text/plain",
            size=0,
            required_roles=("broker", "customer"),
            chain_id=1,
            contract="0x" + "00" * 20,
            created_at=now,
        )

    return before_commit


def test_a_conflict_found_at_commit_removes_the_document(
    database: Database,
    evidence_ledger: EvidenceLedgerContract,
    store: StoreBackend,
    parties: Parties,
    request: pytest.FixtureRequest,
) -> None:
    other_cid = store.put(b"the other writer's document")  # stays: it is referenced
    target = {"cid": other_cid}
    hook = _concurrent_writer(database, target, store)
    with running_harness(database, evidence_ledger, store, before_commit=hook) as harness:
        svc = harness.evidence
        before = _stored(store, request)
        agreement_id = new_agreement_id()
        signatures = _sign(harness, parties, agreement_id, MIB_DOC)
        target["agreement_id"] = agreement_id  # the other writer wins the race
        with pytest.raises(
            AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 1$"
        ):
            svc.submit(MIB_DOC, signatures=signatures, agreement_id=agreement_id)
        assert _stored(store, request) == before
        assert store.get(other_cid) == b"the other writer's document"
        assert svc.get_version(agreement_id, 1).document_cid == other_cid


def test_concurrent_drafts_and_submissions_leave_only_the_winners_documents(
    harness: ServiceHarness, parties: Parties, request: pytest.FixtureRequest
) -> None:
    svc = harness.evidence
    before = _stored(harness.store, request)
    draft_id, submitted_id = new_agreement_id(), new_agreement_id()
    doc = Document(os.urandom(200_000))
    signatures = _sign(harness, parties, submitted_id, doc)
    outcomes: list[object] = []

    def draft() -> None:
        try:
            outcomes.append(
                svc.create_draft(
                    doc, readers=[parties.customer.public_key()], agreement_id=draft_id
                )
            )
        except AgreementConflict as exc:
            outcomes.append(exc)

    def submit() -> None:
        try:
            outcomes.append(svc.submit(doc, signatures=signatures, agreement_id=submitted_id))
        except AgreementConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=work) for work in (draft, submit) * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    conflicts = [o for o in outcomes if isinstance(o, AgreementConflict)]
    assert len(outcomes) == 12 and len(conflicts) == 10
    # refused by the next-version rule (before or at commit) or by the primary key
    for conflict in conflicts:
        assert str(conflict).startswith(
            (
                f"{draft_id}: the next version is 2, not 1",
                f"{submitted_id}: the next version is 2",
                "refused by the database: ",
            )
        ), conflict
    winners = [svc.get_version(draft_id, 1), svc.get_version(submitted_id, 1)]
    after = _stored(harness.store, request)
    if isinstance(harness.store, EmbeddedStore):
        added = sorted(set(after) - set(before))  # type: ignore[call-overload]
        assert [name for name, _ in added] == sorted(w.document_cid for w in winners)
    else:
        local_before, _ = before  # type: ignore[misc]
        local_after, _ = after  # type: ignore[misc]
        assert sorted(set(local_after) - set(local_before)) == sorted(
            w.document_cid for w in winners
        )


# -- signing times ---------------------------------------------------------------------------

OUT_OF_WINDOW = [
    ("1970", datetime(1970, 1, 1, tzinfo=UTC), "before"),
    ("2099", datetime(2099, 1, 1, tzinfo=UTC), "after"),
    ("24 h + 1 min ago", None, "before"),
    ("6 min ahead", None, "after"),
]


def _when(label: str, fixed: datetime | None) -> datetime:
    if fixed is not None:
        return fixed
    now = now_s()
    if label.endswith("ago"):
        return now - timedelta(hours=24, minutes=1)  # exact bounds: unit tests, fixed clock
    return now + timedelta(minutes=6)


@pytest.mark.parametrize(
    ("label", "fixed", "side"), OUT_OF_WINDOW, ids=[o[0] for o in OUT_OF_WINDOW]
)
def test_out_of_window_signatures_are_refused_and_nothing_is_stored(
    harness: ServiceHarness,
    parties: Parties,
    request: pytest.FixtureRequest,
    label: str,
    fixed: datetime | None,
    side: str,
) -> None:
    svc = harness.evidence
    signed_at = _when(label, fixed)
    agreement_id = new_agreement_id()
    signatures = _sign(harness, parties, agreement_id, MIB_DOC, signed_at=signed_at)
    before = _stored(harness.store, request)
    message = (
        rf"^signature of 'customer' over {agreement_id} v1: signed at"
        rf" {signed_at:%Y-%m-%dT%H:%M:%SZ}, more than (86400|300) s {side} "
    )
    with pytest.raises(SigningTimeRejected, match=message):
        svc.submit(MIB_DOC, signatures=signatures, agreement_id=agreement_id)
    (result,) = svc.submit_many([Submission(MIB_DOC, tuple(signatures), agreement_id)])
    assert isinstance(result, SigningTimeRejected)
    assert _stored(harness.store, request) == before
    # step by step: the draft is stored, the late or early signature is not
    draft = svc.create_draft(MIB_DOC, readers=[parties.customer.public_key()])
    with_draft = _stored(harness.store, request)
    late = sign_role(
        parties.customer,
        role="customer",
        domain=harness.domain,
        agreement_id=draft.agreement_id,
        version=1,
        document_sm3=MIB_DOC.sm3,
        signed_at=signed_at,
    )
    with pytest.raises(SigningTimeRejected, match=r"^signature of 'customer' over "):
        svc.add_signature(draft.agreement_id, 1, late)
    assert svc.get_version(draft.agreement_id, 1).signatures == ()
    assert _stored(harness.store, request) == with_draft
    with pytest.raises(AgreementNotFound, match=f"^no agreement {agreement_id}$"):
        svc.versions(agreement_id)


def test_signing_window_is_configurable(
    database: Database, evidence_ledger: EvidenceLedgerContract, tmp_path: Path, parties: Parties
) -> None:
    clock = [datetime(2030, 1, 1, 12, 0, tzinfo=UTC)]
    window = SigningWindow(max_age=timedelta(minutes=10), max_skew=timedelta(0))
    store = EmbeddedStore(root=tmp_path / "store", deferred_sync=True)
    with running_harness(
        database, evidence_ledger, store, signing_window=window, now=lambda: clock[0]
    ) as harness:
        svc = harness.evidence
        doc = Document(b"window")
        ok_id, late_id, early_id = (new_agreement_id() for _ in range(3))
        at = clock[0] - timedelta(minutes=10)
        accepted = svc.submit(
            doc, signatures=_sign(harness, parties, ok_id, doc, signed_at=at), agreement_id=ok_id
        )
        assert accepted.status is VersionStatus.ACCEPTED
        with pytest.raises(
            SigningTimeRejected, match="more than 600 s before 2030-01-01T12:00:00Z"
        ):
            svc.submit(
                doc,
                signatures=_sign(
                    harness, parties, late_id, doc, signed_at=at - timedelta(seconds=1)
                ),
                agreement_id=late_id,
            )
        with pytest.raises(SigningTimeRejected, match="more than 0 s after 2030-01-01T12:00:00Z"):
            svc.submit(
                doc,
                signatures=_sign(
                    harness, parties, early_id, doc, signed_at=clock[0] + timedelta(seconds=1)
                ),
                agreement_id=early_id,
            )
        # one timely signature does not carry a late one
        mixed_id = new_agreement_id()
        customer, broker = (
            sign_role(
                key,
                role=role,
                domain=harness.domain,
                agreement_id=mixed_id,
                version=1,
                document_sm3=doc.sm3,
                signed_at=when,
            )
            for role, key, when in (
                ("customer", parties.customer, clock[0]),
                ("broker", parties.broker, at - timedelta(seconds=1)),
            )
        )
        with pytest.raises(
            SigningTimeRejected,
            match=rf"^signature of 'broker' over {mixed_id} v1: signed at 2030-01-01T11:49:59Z,",
        ):
            svc.submit(doc, signatures=[customer, broker], agreement_id=mixed_id)


class _RacedStore(EmbeddedStore):
    """The embedded store; its sync (the service's last step before it writes a draft) also
    lets a test play another writer taking the draft's version at that very moment."""

    race: Callable[[], None] | None = None

    def sync(self) -> None:
        super().sync()
        race, self.race = self.race, None
        if race is not None:
            race()


def test_a_draft_refused_at_commit_removes_its_document(
    database: Database, evidence_ledger: EvidenceLedgerContract, tmp_path: Path, parties: Parties
) -> None:
    store = _RacedStore(root=tmp_path / "store", deferred_sync=True)
    other_cid = store.put(b"the other writer's draft")
    agreement_id = new_agreement_id()
    target = {"cid": other_cid}
    with running_harness(database, evidence_ledger, store) as harness:
        before = _stored(store, request=None)  # type: ignore[arg-type]

        def race() -> None:
            target["agreement_id"] = agreement_id
            _concurrent_writer(database, target, store)()

        store.race = race
        with pytest.raises(
            AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 1$"
        ):
            harness.evidence.create_draft(
                MIB_DOC, readers=[parties.customer.public_key()], agreement_id=agreement_id
            )
        assert _stored(store, request=None) == before  # type: ignore[arg-type]
        assert harness.evidence.get_version(agreement_id, 1).document_cid == other_cid


def test_replays_and_wrong_versions_are_refused_before_the_store_is_touched(
    database: Database, evidence_ledger: EvidenceLedgerContract, tmp_path: Path, parties: Parties
) -> None:
    """With the content store down, a replay is still a 409 (not a 503): it was refused before
    its document was encrypted or stored."""
    store = EmbeddedStore(root=tmp_path / "store", deferred_sync=True)
    with running_harness(database, evidence_ledger, store) as harness:
        agreement_id = new_agreement_id()
        signatures = _sign(harness, parties, agreement_id, MIB_DOC)
        harness.evidence.submit(MIB_DOC, signatures=signatures, agreement_id=agreement_id)
    down = KuboStore(api_url=f"http://127.0.0.1:{free_port()}", timeout_s=1.0)
    with running_harness(database, evidence_ledger, down) as harness:
        svc = harness.evidence
        with pytest.raises(  # the store is really down
            StoreUnavailable,
            match=rf"^IPFS node at {re.escape(down.api_url)} is unreachable \(add\): ",
        ):
            down.put(b"x")
        with pytest.raises(
            AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 1$"
        ):
            svc.submit(MIB_DOC, signatures=signatures, agreement_id=agreement_id)
        with pytest.raises(
            AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 3$"
        ):
            svc.create_version(
                agreement_id, version=3, document=MIB_DOC, readers=[parties.customer.public_key()]
            )
        with pytest.raises(
            AgreementConflict, match=f"^{agreement_id}: the next version is 2, not 1$"
        ):
            svc.create_draft(
                MIB_DOC, readers=[parties.customer.public_key()], agreement_id=agreement_id
            )
        late_id = new_agreement_id()
        late = _sign(harness, parties, late_id, MIB_DOC, signed_at=datetime(1970, 1, 1, tzinfo=UTC))
        with pytest.raises(SigningTimeRejected, match=f"^signature of 'customer' over {late_id} "):
            svc.submit(MIB_DOC, signatures=late, agreement_id=late_id)
