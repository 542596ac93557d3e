"""The project-managed dev chain: an anvil node (pinned npm binary) with persistent state.

``DevNode`` starts anvil as a daemon bound to loopback, with ``--state`` in the data directory so
that a stop (SIGTERM: anvil dumps its state) and a later start keep every deployment. A pid file
records the running node, so ``ledger chain start`` / ``stop`` / ``status`` work across processes.
Nobody starts anvil by hand: the CLI, the demo and the tests all go through this class.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ledger.chain.errors import NodeError

ROOT = Path(__file__).resolve().parents[2]
ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
DEV_CHAIN_ID = 31337

#: The well-known first account of anvil's default test mnemonic. Only ever used on the dev
#: chain (chain ID 31337); any other chain needs ``LEDGER_CHAIN_PRIVATE_KEY``.
DEV_PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@dataclass(frozen=True)
class NodeStatus:
    running: bool
    pid: int | None
    rpc_url: str | None
    state_file: Path


class DevNode:
    """An anvil node whose files live in ``directory`` (state, pid file, log)."""

    def __init__(
        self,
        *,
        directory: Path,
        port: int = 8545,
        chain_id: int = DEV_CHAIN_ID,
        binary: Path = ANVIL,
        state_interval_s: int = 1,
        block_time_s: float | None = None,
    ) -> None:
        """``block_time_s``: mine a block every so many seconds, as a consortium chain does;
        None mines each transaction at once (anvil's automine)."""
        self.directory = directory
        self.port = port
        self.chain_id = chain_id
        self.binary = binary
        self.state_interval_s = state_interval_s
        self.block_time_s = block_time_s

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def _pid_file(self) -> Path:
        return self.directory / "anvil.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / "anvil.log"

    def status(self) -> NodeStatus:
        record = self._read_pid_file()
        if record is None or not _alive(record["pid"]):
            return NodeStatus(False, None, None, self.state_file)
        url = f"http://127.0.0.1:{record['port']}"
        return NodeStatus(_answers(url), record["pid"], url, self.state_file)

    def start(self, *, timeout_s: float = 15.0) -> str:
        """Start the node unless it already runs; return its RPC URL."""
        current = self.status()
        if current.running and current.rpc_url:
            return current.rpc_url
        if current.pid is not None:  # a process that no longer answers: stop it first
            self.stop()
        if not self.binary.is_file():
            raise NodeError(f"anvil not found at {self.binary}: run `make setup` (npm ci)")
        if _port_in_use(self.port):
            raise NodeError(f"port {self.port} on 127.0.0.1 is in use; set LEDGER_DEV_CHAIN_PORT")
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--state", str(self.state_file),
            "--state-interval", str(self.state_interval_s),
            "--hardfork", "prague",
        ]  # fmt: skip
        if self.block_time_s is not None:
            argv += ["--block-time", str(self.block_time_s)]
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the CLI process that started it
            )
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise NodeError(
                    f"anvil exited with {process.returncode} at start; see {self.log_file}"
                )
            if _answers(url):
                self._pid_file.write_text(json.dumps({"pid": process.pid, "port": self.port}))
                return url
            time.sleep(0.05)
        process.kill()
        raise NodeError(f"anvil did not answer on {url} within {timeout_s} s; see {self.log_file}")

    def stop(self, *, timeout_s: float = 15.0) -> bool:
        """Stop the node (state is dumped on SIGTERM). Return whether one was running."""
        record = self._read_pid_file()
        if record is None:
            return False
        pid = record["pid"]
        was_running = _alive(pid)
        if was_running:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
            # A multi-threaded process shows as a zombie while its other threads still exit:
            # wait until its port is closed too, so that a start right after works.
            while _port_in_use(record["port"]) and time.monotonic() < deadline:
                time.sleep(0.02)
        self._pid_file.unlink(missing_ok=True)
        return was_running

    def _read_pid_file(self) -> dict[str, int] | None:
        try:
            record = json.loads(self._pid_file.read_text())
            return {"pid": int(record["pid"]), "port": int(record["port"])}
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
        if state == "Z":
            return False
    return True


def _answers(url: str) -> bool:
    try:
        reply = httpx.post(
            url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1
        )
        return reply.status_code == 200 and "result" in reply.json()
    except (httpx.HTTPError, ValueError):
        return False


def free_port() -> int:
    """A loopback TCP port nothing listens on now (for nodes started on a port of their own)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
