"""The evidence service: agreements signed by every party, acknowledged durably, anchored in
Merkle batches, each with a proof file.

* :class:`EvidenceService` — the workflow (draft, signatures, submit, bulk submit of
  :class:`Submission` s, supersede, void, proof, erasure);
* :func:`running_service` — everything wired from :class:`~ledger.settings.Settings` (database
  migrated to head, content store, chain and deployment, issuer key, group committer, anchoring
  loop, lifecycle follower), stopped cleanly on exit; it starts while the chain node is
  unreachable (the signing domain then comes from the recorded deployment or the
  configuration); its callers are verified against the key directory it is given
  (:class:`~ledger.httpsig.RequestVerifier`); it also relays consents, makes this member's
  attestations and releases attested fields (:mod:`ledger.member.consents`,
  :mod:`~ledger.member.attestations`, :mod:`~ledger.member.releases`), and reuses other
  members' (:mod:`~ledger.member.reuse`, :mod:`~ledger.member.lifecycle`);
* :class:`Health` — what ``GET /health`` reports (also whether this process's anchoring loop
  is the one acting for the database, or stands by);
* errors in :mod:`ledger.service.errors`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from ledger import _runtime
from ledger._runtime import ISSUER_KEY_NAME
from ledger.agreement import SigningDomain, SigningWindow
from ledger.batcher import Batcher
from ledger.chain.client import ChainClient
from ledger.chain.deployments import (
    Deployments,
    ensure_consent_contracts,
    recorded_consent_contracts,
)
from ledger.chain.devnode import DEV_CHAIN_ID
from ledger.chain.errors import NodeError
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import Database, open_database, upgrade
from ledger.db.errors import DatabaseError
from ledger.errors import ConfigurationError
from ledger.httpsig import KeyDirectory, RequestVerifier
from ledger.member import directory_for
from ledger.member.attestations import AttestationDesk
from ledger.member.consents import ConsentRelay
from ledger.member.governance import Governance
from ledger.member.lifecycle import LifecycleFollower
from ledger.member.releases import ReleaseDesk
from ledger.member.reuse import ReuseDesk
from ledger.service._anchoring import AnchoringLoop, AnchoringState
from ledger.service._committer import GroupCommitter, NonceCommitter
from ledger.service._proof_keys import recorded_registry_keys
from ledger.service._rows import Submission
from ledger.service._service import EvidenceService
from ledger.settings import Settings
from ledger.store import StoreBackend

__all__ = [
    "AnchoringState",
    "EvidenceService",
    "Health",
    "RunningService",
    "Submission",
    "prepare",
    "running_service",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    status: Literal["ok", "degraded", "down"]
    database: Literal["ok", "failed"]
    chain: Literal["ok", "unreachable"]
    store: Literal["ok", "unreachable"]
    anchoring: AnchoringState
    accepted_waiting: int | None  # acknowledged, not yet anchored
    oldest_waiting_s: float | None
    anchored: int | None
    chain_id: int
    contract: str


@dataclass(frozen=True)
class RunningService:
    evidence: EvidenceService
    database: Database
    store: StoreBackend
    chain: ChainClient
    ledger: EvidenceLedgerContract
    issuer: SM2PrivateKey
    anchoring: AnchoringLoop
    now: Callable[[], datetime]
    #: a short-timeout reader of the same node, for liveness (the signing client waits longer)
    probe: ChainClient
    #: who signed a request (RFC 9421), against the service's key directory
    verifier: RequestVerifier
    #: the consortium as this service's member (its chain account) reads and governs it
    governance: Governance
    #: customers' consents relayed to chain with the service's account, and read back
    consents: ConsentRelay
    #: accounts opened on another member's KYC (releases asked, checked; reliances recorded)
    reuse: ReuseDesk
    #: follows the lifecycle feed: reliances on what ended are marked for re-verification
    lifecycle: LifecycleFollower
    #: this member's identity attestations (fields stored encrypted, attested on chain)
    attestations: AttestationDesk
    #: releases of attested fields under grants (a receipt first, then the sealed fields)
    releases: ReleaseDesk

    def health(self) -> Health:
        """Degraded while the chain or the store is unreachable or anchoring keeps failing
        (acknowledgments go on while only the chain is down); down when the database fails."""
        try:
            self.probe.block_number()
            chain: Literal["ok", "unreachable"] = "ok"
        except NodeError:
            chain = "unreachable"
        store: Literal["ok", "unreachable"] = "ok" if self.store.healthy() else "unreachable"
        state = self.anchoring.state()
        try:
            counts = self.database.counts()
        except DatabaseError:
            counts = None
        oldest = None
        if counts is not None and counts.oldest_unanchored_at is not None:
            oldest = (self.now() - counts.oldest_unanchored_at).total_seconds()
        if counts is None:
            status: Literal["ok", "degraded", "down"] = "down"
        elif chain != "ok" or store != "ok" or state.last_error is not None or not state.running:
            status = "degraded"
        else:
            status = "ok"
        return Health(
            status=status,
            database="ok" if counts is not None else "failed",
            chain=chain,
            store=store,
            anchoring=state,
            accepted_waiting=counts.accepted if counts else None,
            oldest_waiting_s=oldest,
            anchored=counts.anchored if counts else None,
            chain_id=self.evidence.domain.chain_id,
            contract=self.evidence.domain.contract,
        )


def prepare(settings: Settings) -> None:
    """What must happen once before several service processes share one data dir and database:
    migrate the database, create the issuer key, deploy (or find) the contracts (on the dev
    chain the consent contracts too, which services otherwise deploy on first use). Each
    :func:`running_service` does the same, but concurrently they would race.

    With the managed dev chain the node is started and left running, so worker processes find
    it up (``ledger chain stop`` stops it).
    """
    upgrade(settings.resolved_database_url)
    _runtime.service_key(settings, ISSUER_KEY_NAME)
    if not settings.chain_rpc_url:
        _runtime.dev_node(settings).start()
    with _runtime.chain_client(settings) as client:
        _anchoring_target(settings, client)
        try:
            dev_chain = client.chain_id == DEV_CHAIN_ID
        except NodeError:
            dev_chain = False  # the node is down: the consent contracts are found once it is up
        if dev_chain:  # deployed here once, not by each worker on its first consent request
            ensure_consent_contracts(client, Deployments(directory=settings.deployments_dir))


def _anchoring_target(
    settings: Settings, client: ChainClient
) -> tuple[EvidenceLedgerContract, SigningDomain, Callable[[], None] | None]:
    """The contract, the signing domain, and what to check once the node answers.

    From the node when it answers (the contract deployed there first, if need be); while it is
    unreachable, from what is known already (:func:`ledger._runtime.recorded_domain`: the
    recorded deployment or the configuration), checked against the node when it appears. With
    neither, :class:`~ledger.errors.ConfigurationError`: the service cannot start.
    """
    try:
        ledger = _runtime.evidence_ledger(settings, client)
        domain = SigningDomain(chain_id=client.chain_id, contract=ledger.address)
        check = None
    except NodeError as exc:
        domain = _runtime.recorded_domain(settings)
        ledger = EvidenceLedgerContract(client=client, address=domain.contract)
        check = functools.partial(ledger.check_deployed, chain_id=domain.chain_id)
        _log.warning(
            "chain node unreachable at start (%s): signing for chain %d, contract %s;"
            " anchoring waits for the node",
            exc,
            domain.chain_id,
            domain.contract,
        )
    if settings.chain_id is not None and domain.chain_id != settings.chain_id:
        raise ConfigurationError(
            f"LEDGER_CHAIN_ID is {settings.chain_id} but the chain node serves chain"
            f" {domain.chain_id}"
        )
    return ledger, domain, check


@contextmanager
def running_service(
    settings: Settings,
    *,
    directory: KeyDirectory | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[RunningService]:
    """Start the service from settings; on exit, commit what is queued and stop the loops.
    ``directory`` holds the keys callers sign with (default: :func:`ledger.member.directory_for`
    the settings)."""
    url = settings.resolved_database_url
    upgrade(url)
    database = open_database(url)
    # Documents are synced once per group commit, before the group's transaction.
    store = _runtime.content_store(settings, deferred_sync=True)
    issuer = _runtime.service_key(settings, ISSUER_KEY_NAME)
    distid = settings.sm2_distid.encode("ascii")
    try:
        with _runtime.chain_client(settings) as client:
            ledger, domain, check_chain = _anchoring_target(settings, client)
            governance = Governance(
                client=client, deployments=Deployments(directory=settings.deployments_dir)
            )
            if directory is None:
                directory = directory_for(settings, governance=governance)
            lease = database.anchoring_lease()
            anchoring = AnchoringLoop(
                database=database,
                batcher=Batcher(
                    database=database,
                    ledger=ledger,
                    max_size=settings.batch_max_size,
                    receipt_timeout_s=settings.receipt_timeout_s,
                    is_leader=lease.check,
                    check_chain=check_chain,
                    now=now,
                ),
                lease=lease,
                max_size=settings.batch_max_size,
                max_wait_s=settings.batch_max_wait_s,
                now=now,
            )
            committer = GroupCommitter(
                database=database,
                max_items=settings.commit_max_items,
                before_commit=store.sync,
                on_commit=anchoring.notify,
            )
            evidence = EvidenceService(
                database=database,
                store=store,
                domain=domain,
                issuer_key=issuer,
                distid=distid,
                committer=committer,
                signing_window=SigningWindow(
                    max_age=timedelta(seconds=settings.signing_max_age_s),
                    max_skew=timedelta(seconds=settings.signing_max_skew_s),
                ),
                on_accepted=anchoring.notify,
                directory=directory,
                proof_keys=recorded_registry_keys(
                    deployments=Deployments(directory=settings.deployments_dir),
                    chain_id=domain.chain_id,
                    ledger=ledger,
                    sealing=_runtime.SealingKeys(settings),
                ),
                now=now,
            )
            consents = ConsentRelay(
                client=client,
                find_contracts=functools.partial(
                    ensure_consent_contracts,
                    client,
                    Deployments(directory=settings.deployments_dir),
                ),
                receipts_of=database.receipts_of_grant,
            )
            attestations = AttestationDesk(
                relay=consents, database=database, store=store, service_key=issuer, now=now
            )
            releases = ReleaseDesk(
                relay=consents,
                attestations=attestations,
                keys=lambda: governance.contracts()[1],
                database=database,
                on_receipt=anchoring.notify,
                now=now,
            )
            nonces = NonceCommitter(database=database)
            deployments = Deployments(directory=settings.deployments_dir)
            lifecycle = LifecycleFollower(
                database=database,
                find_contracts=functools.partial(recorded_consent_contracts, client, deployments),
                member=client.address,
                poll_s=settings.lifecycle_poll_s,
                now=now,
            )
            reuse = ReuseDesk(
                database=database,
                create_agreement=evidence.create_agreement,
                find_contracts=consents.contracts,
                member=client.address,
                disclosure_key=functools.partial(
                    _runtime.service_key, settings, settings.disclosure_key_name
                ),
                request_key=functools.partial(
                    _runtime.service_key, settings, settings.request_key_name
                ),
                endpoint_of=lambda account: governance.contracts()[0].member(account).endpoint,
                now=now,
            )
            committer.start()
            nonces.start()
            anchoring.start()
            lifecycle.start()
            try:
                yield RunningService(
                    evidence=evidence,
                    database=database,
                    store=store,
                    chain=client,
                    ledger=ledger,
                    issuer=issuer,
                    anchoring=anchoring,
                    now=now,
                    probe=ChainClient(rpc_url=client.rpc_url, timeout_s=2.0),
                    verifier=RequestVerifier(
                        keys=directory,
                        nonces=nonces,
                        max_age_s=settings.request_signature_max_age_s,
                        max_skew_s=settings.request_signature_max_skew_s,
                    ),
                    governance=governance,
                    consents=consents,
                    attestations=attestations,
                    releases=releases,
                    reuse=reuse,
                    lifecycle=lifecycle,
                )
            finally:
                lifecycle.stop()
                releases.close()
                committer.stop()
                nonces.stop()
                anchoring.stop()
    finally:
        database.close()
        close = getattr(store, "close", None)
        if close is not None:
            close()
