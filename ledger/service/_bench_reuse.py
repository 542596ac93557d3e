"""``ledger bench reuse``: consent-checked releases of a customer's attested fields, through
member A's real ``ledger serve``, as member B asks for them.

1. ``openssl speed sm2`` (a reference measured first in the same run);
2. a private anvil node with a consortium of two brokers, A and B, each with its request-signing
   key registered, B with its ``disclosure-receiving`` key; A's service (its own data dir, the
   EvidenceLedger and the consent contracts, ``ledger serve --workers N``, SQLite or the given
   database) attests a customer with 8 KYC fields; the customer grants B two fields for
   ``account-opening``, once ``standing`` and once ``per-use``, unlimited uses;
3. per mode, B's requests (RFC 9421-signed, and in ``per-use`` mode each with the customer's
   fresh use authorization: all made before the clock starts) are sent closed loop (releases/s
   the service sustains), then open loop at the offered rate and at 80 % of what the closed
   loop sustained (p50/p99 from when each request was due: a service that falls behind shows
   its queue in the tail). Each release reads the grant, its revocations, the attestation and the
   time from the chain, writes its receipt durably, and seals two Disclosures to B's key;
4. a reference at the same offered rate: B's signed ``GET /v1/consents/{grant_id}`` (the same
   authentication and chain reads, no receipt, no encryption);
5. gas: attestation, grant (relayed), revocation, and per receipt (``anchorBatch`` gas over the
   receipts in its batch, once every receipt is anchored).
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledger import canonical
from ledger.chain._bench_governance import funded_account, gas_used
from ledger.chain.consent import Mode
from ledger.chain.consortium import MemberSpec, ProposalKind, Thresholds
from ledger.chain.consortium_config import ConsortiumConfig, FoundingMember
from ledger.chain.deployments import Deployments, deploy_consortium, recorded_consent_contracts
from ledger.chain.devnode import DevNode, free_port
from ledger.chain.keys import KeyRegistryContract
from ledger.crypto._bench import openssl_sm2
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import CustomerWallet
from ledger.customer.documents import ConsentDomain, to_bytes
from ledger.db.schema import batches, outbox
from ledger.httpsig import RequestSigner
from ledger.service import _bench_http, prepare
from ledger.service._bench_load import LoadResult, Request, run_load
from ledger.service._bench_report import ms, percentile
from ledger.settings import Settings

__all__ = ["run"]

FIELDS = {
    "family_name": "张",
    "given_name": "三",
    "id_number": "110101199003071234",
    "birth_date": "1990-03-07",
    "nationality": "CN",
    "address": "北京市东城区某街道 1 号",
    "phone": "+86 138 0000 0000",
    "id_document_expiry": "2036-03-07",
}
RELEASED = ("family_name", "id_number")
PURPOSE = "account-opening"
_TARGET_P99_MS = 50.0


class _World:
    """The chain, A's service settings, B's keys, the customer and its grants."""

    def __init__(self, tmp: Path, url: str, database_url: str | None) -> None:
        self.url = url
        (self.a, a_key), (self.b, _) = funded_account(url), funded_account(url)
        self.a_request, self.b_request = SM2PrivateKey.generate(), SM2PrivateKey.generate()
        self.b_receiving = SM2PrivateKey.generate()
        self.settings = Settings(
            data_dir=tmp / "a",
            chain_rpc_url=url,
            chain_private_key=a_key,  # type: ignore[arg-type]
            database_url=database_url or "",
            batch_max_wait_s=0.5,
        )
        self.env = {
            "LEDGER_DATA_DIR": str(self.settings.data_dir),
            "LEDGER_CHAIN_RPC_URL": url,
            "LEDGER_CHAIN_PRIVATE_KEY": a_key,
            "LEDGER_DATABASE_URL": self.settings.resolved_database_url,
            "LEDGER_BATCH_MAX_WAIT_S": "0.5",
        }
        self.gas: dict[str, int] = {}
        self._found()
        self.wallet = CustomerWallet.create(tmp / "customer.json", b"bench", scrypt_n=2**10)

    def _found(self) -> None:
        members = []
        for n, (client, key) in enumerate(((self.a, self.a_request), (self.b, self.b_request))):
            spec = MemberSpec(
                account=client.address,
                name=f"Broker {'AB'[n]}",
                endpoint=f"http://127.0.0.1/{'ab'[n]}",
                key_fingerprint=key.public_key().fingerprint(),
                roles=("broker",),
            )
            members.append(FoundingMember(spec, key.public_key(), None))
        config = ConsortiumConfig(
            members=tuple(members),
            thresholds=Thresholds(**{kind.name.lower(): 1 for kind in ProposalKind}),
            voting_delay_s=0,
            voting_period_s=3600,
        )
        deployments = Deployments(directory=self.settings.deployments_dir)
        found = deploy_consortium(self.a, deployments, config)
        KeyRegistryContract(client=self.b, address=found.key_registry.address).register(
            "disclosure-receiving", self.b_receiving.public_key()
        )
        prepare(self.settings)  # the EvidenceLedger and the consent contracts, A's keystore
        self.registry = recorded_consent_contracts(self.a, deployments)[1]
        self.domain = ConsentDomain(chain_id=self.a.chain_id, registry=self.registry.address)

    def attest(self, port: int) -> bytes:
        """A attests the customer through its service (``POST /v1/attestations``, signed with
        A's request key): the fields encrypted into A's store, the attestation on chain."""
        body = json.dumps(
            {
                "fields": FIELDS,
                "level": "cn-aml/standard",
                "method": "id-document+liveness",
                "expires_at": canonical.timestamp(
                    datetime.fromtimestamp(time.time() + 365 * 86400, UTC).replace(microsecond=0)
                ),
                "customer_key": "0x" + self.wallet.public_key.to_raw().hex(),
                "subject": {"id_type": "cn-resident-id", "id_number": FIELDS["id_number"]},
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        RequestSigner(key=self.a_request).sign(
            method="POST",
            url=f"http://127.0.0.1:{port}/v1/attestations",
            headers=headers,
            body=body,
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            conn.request("POST", "/v1/attestations", body=body, headers=headers)
            response = conn.getresponse()
            reply = response.read()
        finally:
            conn.close()
        if response.status != 201:
            raise RuntimeError(f"A's service did not attest: {response.status} {reply[:300]!r}")
        made = json.loads(reply)
        tx_hash = canonical.unhex0x(made["tx_hash"], size=32)
        self.gas["attestation (8 fields)"] = gas_used(self.a, tx_hash)
        return canonical.unhex0x(made["attestation_id"], size=32)

    def grant(self, attestation_id: bytes, mode: Mode) -> bytes:
        now = int(time.time())
        signed = self.wallet.grant(
            self.domain,
            grantee=self.b.address,
            attestation_id=attestation_id,
            fields=RELEASED,
            purposes=(PURPOSE,),
            method="identity-reuse",
            not_before=now - 60,
            not_after=now + 86400,
            notice_text="Broker B receives your name and ID number to open your account.",
            recipient_name="Broker B",
            recipient_contact="privacy@b.example",
            categories=("identity",),
            sensitive=True,
            language="zh-CN",
            mode=mode,
        )
        recorded = self.registry.record_grant(signed.grant, signed.signature)
        self.gas.setdefault("grant (recordGrant, relayed)", gas_used(self.a, recorded.sent.tx_hash))
        return recorded.record_id

    def revoke_gas(self, grant_id: bytes) -> None:
        signed = self.wallet.revoke(self.domain, grant_id)
        recorded = self.registry.revoke(signed.revocation, signed.signature)
        self.gas["grant revocation"] = gas_used(self.a, recorded.sent.tx_hash)

    def releases(self, port: int, grant_id: bytes, mode: Mode, count: int) -> list[Request]:
        """``count`` release requests from B, signed (and authorized by the customer) now."""
        signer = RequestSigner(key=self.b_request)
        path = f"/v1/consents/0x{grant_id.hex()}/releases"
        requests = []
        for _ in range(count):
            use = None
            if mode is Mode.PER_USE:
                signed = self.wallet.authorize_use(
                    self.domain,
                    grant_id=grant_id,
                    grantee=self.b.address,
                    fields=RELEASED,
                    purpose=PURPOSE,
                )
                use = json.loads(to_bytes(signed))
            body = json.dumps({"fields": list(RELEASED), "purpose": PURPOSE, "use": use}).encode()
            headers = {"Content-Type": "application/json"}
            signer.sign(
                method="POST", url=f"http://127.0.0.1:{port}{path}", headers=headers, body=body
            )
            requests.append(("POST", path, headers, body))
        return requests

    def reads(self, port: int, grant_id: bytes, count: int) -> list[Request]:
        signer = RequestSigner(key=self.b_request)
        path = f"/v1/consents/0x{grant_id.hex()}"
        requests = []
        for _ in range(count):
            headers: dict[str, str] = {}
            signer.sign(
                method="GET", url=f"http://127.0.0.1:{port}{path}", headers=headers, body=b""
            )
            requests.append(("GET", path, headers, b""))
        return requests


def _summary(result: LoadResult, offered: float | None) -> dict[str, Any]:
    return {
        "offered_per_s": offered,
        "served": result.ok,
        "served_per_s": round(result.ok / result.seconds, 1) if result.seconds else None,
        "p50_ms": ms(percentile(result.latencies, 0.50)),
        "p99_ms": ms(percentile(result.latencies, 0.99)),
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "unexpected": result.unexpected,
    }


def run(
    *,
    seconds: float,
    rate: float,
    workers: int,
    processes: int,
    threads: int,
    database_url: str | None,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The bench (see the module docstring)."""
    progress("openssl speed sm2 (the reference)")
    reference = openssl_sm2(2)
    with tempfile.TemporaryDirectory(prefix="bench-reuse-") as tmp:
        node = DevNode(directory=Path(tmp) / "anvil", port=free_port())
        url = node.start()
        try:
            progress("a consortium of brokers A and B, A's service, a customer attested")
            world = _World(Path(tmp), url, database_url)
            server = _bench_http._Server(
                world.env, workers=workers, log=Path(tmp) / "serve.log", members_file=False
            )
            try:
                server.wait_healthy()
                attestation_id = world.attest(server.port)
                grants = {mode: world.grant(attestation_id, mode) for mode in Mode}
                phases = _measure(world, server.port, grants, seconds, rate, processes, threads)
                progress("waiting for every receipt to be anchored")
                gas_per_receipt, receipts = _receipt_gas(world, timeout_s=120)
            finally:
                server.stop()
            world.revoke_gas(grants[Mode.STANDING])
        finally:
            node.stop()
    return {
        "openssl_sm2_sign_per_s": reference[0] if reference else None,
        "openssl_sm2_verify_per_s": reference[1] if reference else None,
        "server_workers": workers,
        "client_processes": processes,
        "client_threads": threads,
        "seconds": seconds,
        **phases,
        "gas": world.gas,
        "gas_per_receipt": gas_per_receipt,
        "receipts_anchored": receipts,
        "target_p99_ms": _TARGET_P99_MS,
    }


def _measure(
    world: _World,
    port: int,
    grants: dict[Mode, bytes],
    seconds: float,
    rate: float,
    processes: int,
    threads: int,
) -> dict[str, Any]:
    phases: dict[str, Any] = {}
    for mode in Mode:
        grant = grants[mode]
        closed = world.releases(port, grant, mode, int(seconds * 400))
        phases[f"{mode.label}_closed"] = _summary(
            run_load(
                port, closed, expected=201, processes=processes, threads=threads, seconds=seconds
            ),
            None,
        )
        # open loop at the offered rate, then at 80 % of what the closed loop sustained (the
        # latency of a service that is busy but keeping up)
        sustained = phases[f"{mode.label}_closed"]["served_per_s"] or 1.0
        for phase, offered in (("open", rate), ("open_80", max(1.0, round(0.8 * sustained)))):
            opened = world.releases(port, grant, mode, int(seconds * offered))
            phases[f"{mode.label}_{phase}"] = _summary(
                run_load(
                    port,
                    opened,
                    expected=201,
                    processes=processes,
                    threads=threads,
                    seconds=seconds,
                    rate=offered,
                ),
                offered,
            )
    reads = world.reads(port, grants[Mode.STANDING], int(seconds * rate))
    phases["reference_read_open"] = _summary(
        run_load(
            port,
            reads,
            expected=200,
            processes=processes,
            threads=threads,
            seconds=seconds,
            rate=rate,
        ),
        rate,
    )
    return phases


def _receipt_gas(world: _World, *, timeout_s: float) -> tuple[float | None, int]:
    """Gas per receipt over every anchored batch (``anchorBatch`` gas / leaves), once every
    receipt the service wrote is anchored (the bench writes no agreements: every leaf is a
    receipt)."""
    engine = sa.create_engine(world.settings.resolved_database_url)
    waiting = (
        sa.select(sa.func.count())
        .select_from(outbox.outerjoin(batches, outbox.c.batch_id == batches.c.batch_id))
        .where(outbox.c.receipt_id.is_not(None))
        .where(sa.or_(batches.c.status.is_(None), batches.c.status != "anchored"))
    )
    anchored = sa.select(batches.c.tx_hash, batches.c.size).where(batches.c.status == "anchored")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            with engine.connect() as conn:
                if not conn.execute(waiting).scalar_one():
                    rows = [(bytes(r.tx_hash), int(r.size)) for r in conn.execute(anchored)]
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"receipts not anchored within {timeout_s:g} s")
            time.sleep(0.5)
    finally:
        engine.dispose()
    gas = sum(gas_used(world.a, tx_hash) for tx_hash, _ in rows)
    leaves = sum(size for _, size in rows)
    return (round(gas / leaves, 1) if leaves else None), leaves
