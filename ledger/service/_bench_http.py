"""``ledger bench evidence --http``: the same agreements as the in-process run, through a real
``ledger serve`` over HTTP: the user's path (HTTP parsing, validation, JSON both ways, the
server's worker threads) is what is measured.

The server runs as its users run it (``ledger serve --workers N`` in its own process group,
on the bench's data dir, chain and database); the clients run in their own processes, so their
work (JSON bodies made before the clock starts, one keep-alive connection per client thread,
``http.client``: the lightest client the standard library has) competes with the server for
the cores as any client on the same machine would, but not for its interpreter lock.
"""

from __future__ import annotations

import base64
import http.client
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger import canonical
from ledger.agreement import Document, SigningDomain, new_agreement_id
from ledger.chain.devnode import free_port
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import RegisteredKey, RequestSigner, default_keyid
from ledger.member import write_members_file
from ledger.signature import sign_version

_SERVE = (sys.executable, "-m", "ledger.cli", "serve")
#: How long ``ledger serve`` may take to answer /health (migration, key, deployment found).
_START_TIMEOUT_S = 120.0


def signed_bodies(
    domain: SigningDomain,
    count: int,
    *,
    per_customer: int,
    bulk: int,
    document: bytes,
    broker: SM2PrivateKey | None = None,
) -> list[bytes]:
    """Request bodies of ``count`` signed agreements (one broker, a new customer every
    ``per_customer``): one agreement per body for ``POST /v1/agreements`` (``bulk`` 1), else
    ``bulk`` per body for ``POST /v1/agreements/bulk``."""
    signed_at = canonical.timestamp(datetime.now(UTC).replace(microsecond=0))
    broker = broker or SM2PrivateKey.generate()
    customer = SM2PrivateKey.generate()
    items: list[dict[str, Any]] = []
    for n in range(count):
        if n and n % per_customer == 0:
            customer = SM2PrivateKey.generate()
        agreement_id = new_agreement_id()
        content = document + agreement_id.encode()
        signatures = sign_version(
            {"customer": customer, "broker": broker},
            domain=domain,
            agreement_id=agreement_id,
            version=1,
            document_sm3=Document(content).sm3,
            signed_at=canonical.parse_timestamp(signed_at),
        )
        items.append(
            {
                "agreement_id": agreement_id,
                "document": {"content": base64.b64encode(content).decode("ascii")},
                "signatures": [
                    {
                        "role": s.role,
                        "signed_at": signed_at,
                        "public_key": canonical.hex0x(s.public_key.to_raw()),
                        "signature": base64.b64encode(s.value).decode("ascii"),
                    }
                    for s in signatures
                ],
            }
        )
    if bulk == 1:
        return [json.dumps(item).encode() for item in items]
    return [
        json.dumps({"agreements": items[i : i + bulk]}).encode() for i in range(0, len(items), bulk)
    ]


def _client(
    port: int,
    broker_der: bytes,
    domain: tuple[int, str],
    count: int,
    threads: int,
    seconds: float,
    per_customer: int,
    bulk: int,
    document: bytes,
    barrier: Any,
    results: Any,
) -> None:
    """One client process: sign its share of agreements and each request (RFC 9421, as the
    member broker: not timed), then submit for ``seconds``."""
    broker = SM2PrivateKey.from_der(broker_der)
    bodies = signed_bodies(
        SigningDomain(chain_id=domain[0], contract=domain[1]),
        count,
        per_customer=per_customer,
        bulk=bulk,
        document=document,
        broker=broker,
    )
    path = "/v1/agreements" if bulk == 1 else "/v1/agreements/bulk"
    signer = RequestSigner(key=broker)
    requests = []
    for body in bodies:
        headers = {"Content-Type": "application/json"}
        signer.sign(method="POST", url=f"http://127.0.0.1:{port}{path}", headers=headers, body=body)
        requests.append((body, headers))
    lock = threading.Lock()
    queue = iter(requests)
    latencies: list[float] = []
    acked = 0
    failures: list[str] = []
    barrier.wait()  # the parent reads the server's CPU time as this opens
    began = time.perf_counter()
    deadline = began + seconds

    def worker() -> None:
        nonlocal acked
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    request = next(queue, None)
                if request is None:
                    return
                body, headers = request
                start = time.perf_counter()
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                reply = response.read()
                latency = time.perf_counter() - start
                ok = _acknowledged(response.status, reply, bulk)
                with lock:
                    if ok is None:
                        failures.append(f"{response.status}: {reply[:300]!r}")
                    else:
                        acked += ok
                        latencies.extend([latency] * ok)
        finally:
            conn.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put((acked, latencies, time.perf_counter() - began, failures[:3]))


def _acknowledged(status: int, reply: bytes, bulk: int) -> int | None:
    """How many agreements a reply acknowledged (None: the server refused or failed)."""
    if bulk == 1:
        return 1 if status == 201 else None
    if status != 200:
        return None
    body = json.loads(reply)
    return int(body["accepted"]) if body["refused"] == 0 else None


class _Server:
    """``ledger serve`` in its own process group, on the bench's settings."""

    def __init__(
        self, env: dict[str, str], *, workers: int, log: Path, members_file: bool = True
    ) -> None:
        """``members_file`` False: no members file, the server reads its callers' keys from
        the chain (the consortium ``env`` points at)."""
        self.port = free_port()
        self._log = log
        #: The member broker the clients sign as, registered in the server's members file.
        self.broker = SM2PrivateKey.generate()
        members = write_members_file(
            log.parent / "bench-members.toml",
            [
                RegisteredKey(
                    keyid=default_keyid(self.broker.public_key()),
                    member_id="bench-broker",
                    roles=frozenset({"broker"}),
                    public_key=self.broker.public_key(),
                    valid_from=datetime(1970, 1, 1, tzinfo=UTC),
                )
            ],
        )
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                [*_SERVE, "--port", str(self.port), "--workers", str(workers)],
                env={
                    **os.environ,
                    **env,
                    **({"LEDGER_MEMBERS_FILE": str(members)} if members_file else {}),
                },
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_healthy(self) -> dict[str, Any]:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"ledger serve exited: {self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/v1/signing-domain")
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status == 200:
                    return dict(json.loads(body))
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(
            f"ledger serve did not answer within {_START_TIMEOUT_S:g} s: {self.tail()}"
        )

    def health(self) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/health")
        body = json.loads(conn.getresponse().read())
        conn.close()
        return dict(body)

    def cpu_s(self) -> float:
        """CPU seconds spent so far by the server and every process below it (uvicorn's
        supervisor and its workers), from /proc (Linux)."""
        tick = os.sysconf("SC_CLK_TCK")
        parents: dict[int, int] = {}
        times: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # the command name (field 2) may hold spaces: split after its closing ")"
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # exited meanwhile
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime + stime
        tree = {self._process.pid}
        grew = True
        while grew:
            below = {pid for pid, parent in parents.items() if parent in tree}
            grew = not below <= tree
            tree |= below
        return sum(times.get(pid, 0) for pid in tree) / tick

    def stop(self) -> None:
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(10)

    def tail(self) -> str:
        return self._log.read_text(errors="replace")[-2000:]


def run(
    env: dict[str, str],
    *,
    log: Path,
    server_workers: int,
    client_processes: int,
    client_threads: int,
    seconds: float,
    per_customer: int,
    bulk: int,
    document: bytes,
    wait_anchored: Callable[[], None],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Acknowledgments over HTTP: acks/s, p50/p99 per request; the server stays up until
    ``wait_anchored`` returns (every acknowledged agreement anchored)."""
    server = _Server(env, workers=server_workers, log=log)
    try:
        domain = server.wait_healthy()
        count = max(200, int(seconds * 1500)) // client_processes
        progress(
            f"over HTTP: ledger serve --workers {server_workers}; {client_processes} client"
            f" process(es) sign {count:,} agreements each (not timed), then"
            f" {client_threads} connections each submit for {seconds:g} s"
        )
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(client_processes + 1)
        results = context.Queue()
        clients = [
            context.Process(
                target=_client,
                args=(
                    server.port,
                    server.broker.to_der(),
                    (domain["chain_id"], domain["contract"]),
                    count,
                    client_threads,
                    seconds,
                    per_customer,
                    bulk,
                    document,
                    barrier,
                    results,
                ),
            )
            for _ in range(client_processes)
        ]
        for client in clients:
            client.start()
        barrier.wait(timeout=900)
        cpu_began = server.cpu_s()
        acked, elapsed, latencies, failures = 0, 0.0, [], []
        for _ in clients:
            part_acked, part_latencies, part_elapsed, part_failures = results.get(timeout=900)
            acked += part_acked
            latencies.extend(part_latencies)
            elapsed = max(elapsed, part_elapsed)
            failures.extend(part_failures)
        cpu_s = server.cpu_s() - cpu_began
        for client in clients:
            client.join(60)
        if failures:
            raise RuntimeError(f"the server refused or failed requests: {failures[0]}")
        progress("over HTTP: waiting for every acknowledged agreement to be anchored")
        wait_anchored()
        return {
            "acknowledged": acked,
            "seconds": round(elapsed, 3),
            "acks_per_s": acked / elapsed if elapsed else None,
            "cpu_ms_per_agreement": round(cpu_s / acked * 1000, 3) if acked else None,
            "latencies": latencies,
            "server_workers": server_workers,
            "client_processes": client_processes,
            "client_threads": client_threads,
        }
    finally:
        server.stop()
