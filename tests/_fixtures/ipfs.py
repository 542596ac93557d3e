"""A real IPFS node for tests: js-ipfs (npm ``ipfs``, from node_modules) serving the Kubo RPC API.

The node is started by the project's own launcher, ``scripts/ipfs-node/start`` (Node 20 +
``polyfill.cjs`` for ``Promise.withResolvers`` + ``node.mjs``), in a fresh repo directory, offline
and loopback-only: no swarm listeners, no bootstrap peers, no MDNS, no delegates, no preload. It
binds the API to port 0 and reports the port it got, so there is no free-port race.

``ipfshttpclient`` refuses daemons >= 0.8, so the RPC API is spoken directly with httpx.

If node or node_modules is missing the fixture FAILS (never skips): a test that needs a real node
must not pass silently without one. ``npm ci`` in the project root installs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from ledger.store.kubo import ADD_PARAMS as KUBO_ADD_PARAMS

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "scripts" / "ipfs-node" / "start"
JS_IPFS = ROOT / "node_modules" / "ipfs" / "package.json"

# What Kubo's `ipfs add --cid-version=1` does by default, spelled out so js-ipfs matches it.
ADD_PARAMS = KUBO_ADD_PARAMS

STARTUP_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0


class IpfsNodeError(RuntimeError):
    pass


class IpfsNode:
    """A running js-ipfs node; use :meth:`start` / :meth:`stop` (or the ``ipfs_node`` fixture)."""

    def __init__(
        self, process: subprocess.Popen[bytes], api_url: str, repo: Path, log: Path, startup: float
    ) -> None:
        self.process = process
        self.api_url = api_url
        self.repo = repo
        self.log_path = log
        self.startup_seconds = startup
        self._client = httpx.Client(base_url=f"{api_url}/api/v0", timeout=120.0)

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def start(cls, workdir: Path, *, timeout: float = STARTUP_TIMEOUT) -> IpfsNode:
        """Start a node with a fresh repo in ``workdir/repo``; wait until the API answers."""
        problems = []
        if shutil.which("node") is None:
            problems.append("`node` is not on PATH")
        if not JS_IPFS.exists():
            problems.append(f"{JS_IPFS.parent} is missing: run `npm ci` in {ROOT}")
        if not LAUNCHER.exists():
            problems.append(f"{LAUNCHER} is missing")
        if problems:
            raise IpfsNodeError("cannot start the js-ipfs test node: " + "; ".join(problems))

        repo = workdir / "repo"
        log = workdir / "node.log"
        began = time.monotonic()
        with log.open("wb") as log_handle:
            process = subprocess.Popen(
                ["bash", str(LAUNCHER), "--repo", str(repo), "--api-port", "0", "--watch-stdin"],
                stdin=subprocess.PIPE,  # the node exits when this pipe closes (we die -> it dies)
                stdout=subprocess.PIPE,
                stderr=log_handle,
                cwd=ROOT,
                env={**os.environ, "IPFS_PATH": str(repo)},
                start_new_session=True,  # our Ctrl-C does not hit it before teardown runs
            )
        try:
            assert process.stdout is not None
            api_url = _read_api_url(process, process.stdout, began + timeout, log)
            node = cls(process, api_url, repo, log, 0.0)
            node._wait_ready(began + timeout)
        except BaseException:
            _terminate(process)
            raise
        node.startup_seconds = time.monotonic() - began
        return node

    def _wait_ready(self, deadline: float) -> None:
        while True:
            try:
                response = self._client.post("/id", timeout=5.0)
                if response.status_code == 200 and response.json().get("ID"):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise IpfsNodeError(
                    f"js-ipfs API at {self.api_url} never answered{_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; never leaves the process behind."""
        self._client.close()
        _terminate(self.process)

    # -- RPC helpers -------------------------------------------------------------------------

    def rpc(
        self, command: str, params: dict[str, str] | None = None, *, http_timeout: float = 120.0
    ) -> httpx.Response:
        """POST ``/api/v0/<command>``; raise :class:`IpfsNodeError` on a non-200 answer."""
        response = self._client.post(f"/{command}", params=params or {}, timeout=http_timeout)
        if response.status_code != 200:
            raise IpfsNodeError(f"{command} -> HTTP {response.status_code}: {response.text[:500]}")
        return response

    def add(self, data: bytes, **params: str) -> str:
        """``ipfs add --cid-version=1`` (Kubo defaults, explicit); return the node's CID."""
        return self._add(("data", data), params)

    def add_file(self, path: Path, **params: str) -> str:
        """Like :meth:`add` but streams the upload from ``path``."""
        with path.open("rb") as handle:
            return self._add((path.name, handle), params)

    def _add(self, file: tuple[str, Any], params: dict[str, str]) -> str:
        response = self._client.post(
            "/add", params={**ADD_PARAMS, **params}, files={"file": file}, timeout=300.0
        )
        if response.status_code != 200:
            raise IpfsNodeError(f"add -> HTTP {response.status_code}: {response.text[:500]}")
        lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        if not lines or "Hash" not in lines[-1]:
            raise IpfsNodeError(f"add: unexpected answer {response.text[:500]!r}")
        return str(lines[-1]["Hash"])

    def cat(self, cid: str, *, timeout: float = 30.0) -> bytes:
        """The bytes of ``cid``. The node-side ``timeout`` makes a missing CID fail, not hang."""
        params = {"arg": cid, "timeout": f"{timeout:g}s"}
        return self.rpc("cat", params, http_timeout=timeout + 30).content

    def block_get(self, cid: str, *, timeout: float = 30.0) -> bytes:
        """The raw bytes of one block."""
        params = {"arg": cid, "timeout": f"{timeout:g}s"}
        return self.rpc("block/get", params, http_timeout=timeout + 30).content

    def refs(self, cid: str, *, timeout: float = 30.0) -> list[str]:
        """``ipfs refs -r`` (not unique): every CID below ``cid``, depth-first, in link order."""
        params = {"arg": cid, "recursive": "true", "cid-base": "base32", "timeout": f"{timeout:g}s"}
        refs = []
        for item in _ndjson(self.rpc("refs", params, http_timeout=timeout + 30)):
            if item.get("Err"):
                raise IpfsNodeError(f"refs {cid}: {item['Err']}")
            refs.append(str(item["Ref"]))
        return refs

    def pins(self) -> set[str]:
        """CIDs pinned recursively (base32)."""
        response = self.rpc("pin/ls", {"type": "recursive", "cid-base": "base32"})
        pins: set[str] = set()
        for item in _ndjson(response):
            pins.update(item.get("Keys", {}))
        return pins


def _ndjson(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.text.splitlines():
        if line.strip():
            yield json.loads(line)


def _read_api_url(
    process: subprocess.Popen[bytes], stdout: IO[bytes], deadline: float, log: Path
) -> str:
    buffer = b""
    fd = stdout.fileno()
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise IpfsNodeError(f"js-ipfs did not start within {STARTUP_TIMEOUT:g}s{_tail(log)}")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                process.wait(timeout=5)
                raise IpfsNodeError(
                    f"js-ipfs exited with status {process.returncode} before serving{_tail(log)}"
                )
            buffer += chunk
    line = buffer.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    tag, _, url = line.partition(" ")
    if tag != "IPFS_API_URL" or not url.startswith("http://127.0.0.1:"):
        raise IpfsNodeError(
            f"unexpected first line from the js-ipfs launcher: {line!r}{_tail(log)}"
        )
    return url


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=STOP_TIMEOUT)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace").strip()
    except OSError:
        return ""
    if not text:
        return ""
    return "\n--- js-ipfs log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])


def start_or_fail(workdir: Path) -> IpfsNode:
    """Start a node, or FAIL the test (never skip) with the reason: missing node/node_modules,
    a launcher that died, an API that never answered."""
    try:
        return IpfsNode.start(workdir)
    except IpfsNodeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def ipfs_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpfsNode]:
    """A running js-ipfs node (Kubo RPC API on 127.0.0.1), fresh repo, one per test session."""
    node = start_or_fail(tmp_path_factory.mktemp("ipfs-node"))
    try:
        yield node
    finally:
        node.stop()
