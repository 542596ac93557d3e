"""``ledger bench evidence``: the evidence service end to end on this machine, in one run.

1. ``openssl speed sm2`` (the reference, measured first in the same run);
2. a fresh service (its own data dir, dev chain, SQLite, embedded store, batches of up to
   ``batch_max_size`` or ``batch_max_wait_s``) takes fully signed agreements from ``workers``
   client threads for ``seconds``: each is verified (2 SM2 verifies), encrypted (SM4-GCM, key
   wrapped for its 2 readers, ``ledger-kw/1``), stored, and durably acknowledged (group commit).
   One broker signs every agreement, with a new customer every ``per_customer`` agreements: a
   reader the service has not wrapped for in this epoch costs one SM2 encryption. The parties'
   signatures are made before the clock starts: signing is the clients' work, not the service's;
3. time to acknowledgment (submit -> durable) and to on-chain inclusion (acknowledgment -> the
   batch's block recorded), p50/p99;
4. gas per agreement for batches of 1, 100, 1,000, 10,000 leaves (one ``anchorBatch`` each,
   receipt ``gasUsed`` / size), and the proof file size for each (leaf 0; bare, and with the
   document's CAR): it grows with log2 of the batch size.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ledger.agreement import Document, new_agreement_id
from ledger.chain.devnode import DEV_PRIVATE_KEY, DevNode, free_port
from ledger.crypto._bench import openssl_sm2
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import open_database
from ledger.db.schema import batches, outbox
from ledger.service import RunningService, Submission, _bench_http, prepare, running_service
from ledger.service._bench_gas import GAS_BATCH_SIZES, gas_and_proof_sizes
from ledger.service._bench_report import ms, percentile
from ledger.settings import Settings
from ledger.signature import Signature, sign_version

DOCUMENT = ("Securities account agreement. " * 34).encode()[:1024]  # 1 KiB


def _signed(
    service: RunningService, count: int, *, per_customer: int
) -> list[tuple[str, Document, list[Signature]]]:
    """``count`` agreements signed by one broker and a new customer every ``per_customer``
    agreements (each customer is a reader too: a new one costs the service an SM2 encryption)."""
    domain = service.evidence.domain
    signed_at = datetime.now(UTC).replace(microsecond=0)
    broker = SM2PrivateKey.generate()
    customers = [SM2PrivateKey.generate() for _ in range(-(-count // per_customer))]

    def one(n: int) -> tuple[str, Document, list[Signature]]:
        agreement_id = new_agreement_id()
        document = Document(DOCUMENT + agreement_id.encode())
        signatures = sign_version(
            {"customer": customers[n // per_customer], "broker": broker},
            domain=domain,
            agreement_id=agreement_id,
            version=1,
            document_sm3=document.sm3,
            signed_at=signed_at,
        )
        return agreement_id, document, signatures

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        return list(pool.map(one, range(count)))


def _acknowledge(
    service: RunningService,
    work: list[tuple[str, Document, list[Signature]]],
    *,
    seconds: float,
    workers: int,
    bulk: int,
) -> tuple[dict[str, tuple[float, datetime]], float, float]:
    """Submit until ``seconds`` pass, one agreement per call (``bulk`` 1, :meth:`submit`) or
    ``bulk`` per call (:meth:`submit_many`); agreement ID -> (ack latency s, ack wall time),
    the seconds it took, and the CPU seconds this process spent meanwhile (the service's work:
    the client threads only call it, their parties signed before)."""
    acked: dict[str, tuple[float, datetime]] = {}
    lock = threading.Lock()
    items = iter(work)
    cpu_began = time.process_time()
    began = time.perf_counter()
    deadline = began + seconds
    evidence = service.evidence

    def worker() -> None:
        while time.perf_counter() < deadline:
            with lock:
                chunk = list(itertools.islice(items, bulk))
            if not chunk:
                return
            start = time.perf_counter()
            if bulk == 1:
                ((agreement_id, document, signatures),) = chunk
                evidence.submit(document, signatures=signatures, agreement_id=agreement_id)
            else:
                results = evidence.submit_many(
                    [
                        Submission(document=d, signatures=tuple(s), agreement_id=a)
                        for a, d, s in chunk
                    ]
                )
                refused = [r for r in results if isinstance(r, Exception)]
                if refused:
                    raise RuntimeError(f"the service refused a signed agreement: {refused[0]}")
            latency = time.perf_counter() - start
            wall = datetime.now(UTC)
            with lock:
                for agreement_id, _, _ in chunk:
                    acked[agreement_id] = (latency, wall)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acked, time.perf_counter() - began, time.process_time() - cpu_began


def _inclusion_latencies(
    service: RunningService, acked: dict[str, tuple[float, datetime]]
) -> list[float]:
    """Acknowledgment -> the batch's block recorded, per agreement (all are anchored)."""
    query = sa.select(outbox.c.agreement_id, batches.c.anchored_at).join(
        batches, outbox.c.batch_id == batches.c.batch_id
    )
    with service.database.engine.connect() as conn:
        anchored = {row.agreement_id: row.anchored_at for row in conn.execute(query)}
    return [
        max(0.0, (anchored[a] - wall).total_seconds())
        for a, (_, wall) in acked.items()
        if a in anchored
    ]


def _child(
    settings_kwargs: dict[str, Any],
    count: int,
    seconds: float,
    workers: int,
    per_customer: int,
    bulk: int,
    barrier: Any,
    results: Any,
) -> None:
    """One service process of a multi-process run: sign its share, wait for the others,
    acknowledge for ``seconds``, stay until every acknowledged agreement is anchored."""
    with running_service(Settings(**settings_kwargs)) as service:
        work = _signed(service, count, per_customer=per_customer)
        barrier.wait()
        acked, elapsed, cpu_s = _acknowledge(
            service, work, seconds=seconds, workers=workers, bulk=bulk
        )
        _wait_anchored(service, timeout_s=120)
        results.put(
            (
                {a: (latency, wall.isoformat()) for a, (latency, wall) in acked.items()},
                elapsed,
                cpu_s,
            )
        )


def _wait_anchored(service: RunningService, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while service.database.counts().accepted > 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all anchored within {timeout_s} s")
        time.sleep(0.05)


def _acknowledge_in_processes(
    settings_kwargs: dict[str, Any],
    *,
    processes: int,
    count: int,
    seconds: float,
    workers: int,
    per_customer: int,
    bulk: int,
) -> tuple[dict[str, tuple[float, datetime]], float, float]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    children = [
        context.Process(
            target=_child,
            args=(
                settings_kwargs,
                count // processes,
                seconds,
                workers,
                per_customer,
                bulk,
                barrier,
                results,
            ),
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    acked: dict[str, tuple[float, datetime]] = {}
    elapsed = cpu_s = 0.0
    for _ in children:
        part, part_elapsed, part_cpu_s = results.get(timeout=600)
        acked.update({a: (lat, datetime.fromisoformat(w)) for a, (lat, w) in part.items()})
        elapsed = max(elapsed, part_elapsed)
        cpu_s += part_cpu_s
    for child in children:
        child.join(60)
        if child.exitcode != 0:
            raise RuntimeError(f"a service process exited with {child.exitcode}")
    return acked, elapsed, cpu_s


def run(
    *,
    seconds: float = 5.0,
    workers: int = 16,
    processes: int = 1,
    per_customer: int = 4,
    bulk: int = 1,
    batch_max_size: int = 1000,
    batch_max_wait_s: float = 0.5,
    database_url: str | None = None,
    http: bool = False,
    http_clients: int = 1,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """``database_url``: the service database (an empty one: SQLite or PostgreSQL); None means
    ``LEDGER_DATABASE_URL``, else a fresh SQLite file. With ``http``, the same
    clients' work then goes through ``ledger serve --workers <processes>`` over HTTP, on the same
    data dir, chain and database."""
    progress("openssl speed sm2 (reference)")
    reference = openssl_sm2(max(1, round(min(seconds, 3))))
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as tmp:
        port = free_port()
        node = DevNode(directory=Path(tmp) / "chain", port=port)
        url = node.start()
        settings_kwargs: dict[str, Any] = {
            "data_dir": Path(tmp),
            "chain_rpc_url": url,
            "chain_private_key": DEV_PRIVATE_KEY,
            "batch_max_size": batch_max_size,
            "batch_max_wait_s": batch_max_wait_s,
        }
        if database_url is not None:
            settings_kwargs["database_url"] = database_url
        settings = Settings(**settings_kwargs)
        backend = make_url(settings.resolved_database_url).get_backend_name()
        progress(f"database: {backend}")
        # enough pre-signed work for 2,500 acknowledgments a second
        count = max(200, int(seconds * 2500))
        try:
            prepare(settings)
            if processes > 1:
                progress(
                    f"{processes} service processes: each signs {count // processes:,}"
                    f" agreements as the parties (not timed), then acknowledges for {seconds:g} s"
                    f" with {workers} client threads"
                )
                acked, elapsed, cpu_s = _acknowledge_in_processes(
                    settings_kwargs,
                    processes=processes,
                    count=count,
                    seconds=seconds,
                    workers=workers,
                    per_customer=per_customer,
                    bulk=bulk,
                )
            with running_service(settings) as service:
                if processes == 1:
                    progress(f"signing {count:,} agreements as the parties (not timed)")
                    work = _signed(service, count, per_customer=per_customer)
                    progress(f"acknowledging for {seconds:g} s with {workers} client threads")
                    acked, elapsed, cpu_s = _acknowledge(
                        service, work, seconds=seconds, workers=workers, bulk=bulk
                    )
                progress("waiting for every acknowledged agreement to be anchored")
                _wait_anchored(service, timeout_s=120)
                inclusion = _inclusion_latencies(service, acked)
                anchored = service.database.counts()
                progress(
                    "gas and proof sizes at batch sizes " + ", ".join(map(str, GAS_BATCH_SIZES))
                )
                gas, proof_sizes = gas_and_proof_sizes(
                    service, _signed(service, 1, per_customer=1)[0]
                )
            over_http = None
            if http:
                over_http = _bench_http.run(
                    _environment(settings_kwargs),
                    log=Path(tmp) / "serve.log",
                    server_workers=processes,
                    client_processes=http_clients,
                    client_threads=workers,
                    seconds=seconds,
                    per_customer=per_customer,
                    bulk=bulk,
                    document=DOCUMENT,
                    wait_anchored=lambda: _wait_anchored_at(settings, timeout_s=120),
                    progress=progress,
                )
        finally:
            node.stop()
    ack_latencies = [latency for latency, _ in acked.values()]
    http_result = None
    if over_http is not None:
        http_latencies = over_http.pop("latencies")
        http_result = {
            **over_http,
            "ack_p50_ms": ms(percentile(http_latencies, 0.50)),
            "ack_p99_ms": ms(percentile(http_latencies, 0.99)),
            "of_in_process": (
                over_http["acks_per_s"] / (len(acked) / elapsed)
                if over_http["acks_per_s"] and elapsed and acked
                else None
            ),
        }
    return {
        "seconds": round(elapsed, 3),
        "database": backend,
        "workers": workers,
        "processes": processes,
        "agreements_per_customer": per_customer,
        "bulk": bulk,
        "cpus": os.cpu_count(),
        "batch_max_size": batch_max_size,
        "batch_max_wait_s": batch_max_wait_s,
        "document_bytes": len(DOCUMENT) + 36,
        "acknowledged": len(acked),
        "anchored": anchored.anchored,
        "acks_per_s": len(acked) / elapsed if elapsed else None,
        "cpu_ms_per_agreement": round(cpu_s / len(acked) * 1000, 3) if acked else None,
        "ack_p50_ms": ms(percentile(ack_latencies, 0.50)),
        "ack_p99_ms": ms(percentile(ack_latencies, 0.99)),
        "inclusion_p50_ms": ms(percentile(inclusion, 0.50)),
        "inclusion_p99_ms": ms(percentile(inclusion, 0.99)),
        "gas_per_agreement": gas,
        "proof_bytes": {size: s["bare"] for size, s in proof_sizes.items()},
        "proof_bytes_with_car": {size: s["with_car"] for size, s in proof_sizes.items()},
        "proof_path_hashes": {size: s["path_hashes"] for size, s in proof_sizes.items()},
        "openssl_sm2_sign_per_s": reference[0] if reference else None,
        "openssl_sm2_verify_per_s": reference[1] if reference else None,
        "http": http_result,
    }


def _environment(settings_kwargs: dict[str, Any]) -> dict[str, str]:
    """The settings of the bench's service as ``LEDGER_*`` variables, for ``ledger serve``."""
    env = {}
    for name, value in settings_kwargs.items():
        secret = getattr(value, "get_secret_value", None)
        env[f"LEDGER_{name.upper()}"] = str(secret() if secret else value)
    return env


def _wait_anchored_at(settings: Settings, *, timeout_s: float) -> None:
    with open_database(settings.resolved_database_url) as database:
        deadline = time.monotonic() + timeout_s
        while database.counts().accepted > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not all anchored within {timeout_s} s")
            time.sleep(0.05)
