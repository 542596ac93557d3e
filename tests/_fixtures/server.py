"""The service as its users run it: ``python -m api`` in its own process, spoken to over HTTP.

Acceptance tests kill it (SIGKILL), restart it, and stop the parts it depends on. It verifies
callers against a test consortium's keys (``LEDGER_MEMBERS_FILE``); ``http`` signs as member
A's broker.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from ledger import canonical
from ledger.agreement import Document, SigningDomain
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.signature import Signature
from tests._fixtures.members import Consortium, signing
from tests._fixtures.paths import ROOT
from tests._fixtures.service import sign_all


class ServiceProcess:
    def __init__(
        self,
        *,
        data_dir: Path,
        port: int,
        env: dict[str, str],
        consortium: Consortium | None = None,
        signer: SM2PrivateKey | None = None,
    ) -> None:
        """``signer``: the service reads its members from the consortium on its chain (no
        members file) and ``http`` signs with this key; otherwise with member A's broker key
        of ``consortium`` (a members file)."""
        self.data_dir = data_dir
        self.port = port
        self.env = env
        self.consortium = consortium or Consortium()
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir / "service.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.on_chain = signer is not None
        self.auth = signing(signer or self.consortium.broker_a)
        self.http = httpx.Client(base_url=self.url, timeout=30.0, auth=self.auth)

    def start(self, *, timeout_s: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "LEDGER_DATA_DIR": str(self.data_dir),
            "LEDGER_API_PORT": str(self.port),
            **self.env,
        }
        if not self.on_chain and "LEDGER_MEMBERS_FILE" not in self.env:
            members = self.consortium.members_file(self.data_dir / f"members-{self.port}.toml")
            env["LEDGER_MEMBERS_FILE"] = str(members)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "api"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"service exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                if self.http.get("/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"service did not come up in {timeout_s} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing; what was not durable is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def close(self) -> None:
        self.stop()
        self.http.close()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- the API, as a client uses it --------------------------------------------------------

    def domain(self) -> SigningDomain:
        body = self.http.get("/v1/signing-domain").raise_for_status().json()
        return SigningDomain(chain_id=body["chain_id"], contract=body["contract"])

    def health(self) -> dict[str, Any]:
        return self.http.get("/health", timeout=10.0).json()  # type: ignore[no-any-return]

    def wait_until_anchored(self, *, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            health = self.health()
            if health["anchoring"]["waiting"] == 0:
                return health
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting for anchors: {health}\n{self.tail()}")
            time.sleep(0.2)


def submission(
    keys: dict[str, SM2PrivateKey], domain: SigningDomain, agreement_id: str, document: Document
) -> dict[str, Any]:
    """The JSON body of a fully signed POST /v1/agreements."""
    signatures = sign_all(
        keys, domain=domain, agreement_id=agreement_id, version=1, document=document
    )
    return {
        "agreement_id": agreement_id,
        "document": {
            "content": base64.b64encode(document.content).decode(),
            "media_type": document.media_type,
        },
        "signatures": [signature_json(s) for s in signatures],
    }


def signature_json(signature: Signature) -> dict[str, str]:
    return {
        "role": signature.role,
        "signed_at": canonical.timestamp(signature.signed_at),
        "public_key": canonical.hex0x(signature.public_key.to_raw()),
        "signature": base64.b64encode(signature.value).decode(),
        "distid": signature.distid.decode(),
    }


def post_all(
    service: ServiceProcess, bodies: Sequence[dict[str, Any]], *, workers: int = 8
) -> dict[str, int | str]:
    """POST each body from a pool of clients; agreement ID -> HTTP status, or the error text
    when no reply came (the service died mid-request)."""
    from concurrent.futures import ThreadPoolExecutor

    def post(body: dict[str, Any]) -> tuple[str, int | str]:
        try:
            with httpx.Client(base_url=service.url, timeout=30.0, auth=service.auth) as client:
                return body["agreement_id"], client.post("/v1/agreements", json=body).status_code
        except httpx.HTTPError as exc:
            return body["agreement_id"], f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(post, bodies))
