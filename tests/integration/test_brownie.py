"""Brownie, in its own environment (.venv-brownie), builds and deploys our contracts offline.

``scripts/setup-brownie.sh`` makes the environment (idempotent; it fails the test, never skips
it). Brownie works on a temporary copy of the project with a temporary HOME (``~/.brownie``),
so neither the work tree nor the developer's home is touched. Its compiler is our
``scripts/solc`` (pinned solcjs 0.8.28), found by py-solc-x through the setup's defaults.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.chain.artifact import load_artifact
from ledger.chain.client import ChainClient
from ledger.chain.consortium import CONTRACT_NAME as CONSORTIUM
from ledger.chain.consortium import ConsortiumContract, role_id
from ledger.chain.devnode import DEV_CHAIN_ID, DEV_PRIVATE_KEY
from ledger.chain.evidence import CONTRACT_NAME
from ledger.crypto.sm2 import SM2PrivateKey

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-brownie"
BROWNIE = VENV / "bin" / "brownie"
SETUP = ROOT / "scripts" / "setup-brownie.sh"
MEMBER_KEY = SM2PrivateKey.generate().public_key()
DEPLOYED_LINE = re.compile(rf"^{CONTRACT_NAME} (0x[0-9a-fA-F]{{40}}) \(chain (\d+)\)$", re.M)


def strip_metadata(code: str | bytes) -> bytes:
    """Runtime code without solc's trailing CBOR metadata (its length is in the last 2 bytes)."""
    raw = code if isinstance(code, bytes) else bytes.fromhex(code.removeprefix("0x"))
    length = int.from_bytes(raw[-2:], "big")
    assert 0 < length + 2 < len(raw), "no CBOR metadata trailer"
    return raw[: -(length + 2)]


@pytest.fixture(scope="session")
def brownie_env() -> Path:
    """The brownie environment, set up (or checked, a couple of seconds) by the project script."""
    done = subprocess.run(
        ["bash", str(SETUP)], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/setup-brownie.sh failed: {done.stderr.strip() or done.stdout}")
    assert BROWNIE.is_file(), f"setup-brownie.sh left no {BROWNIE}"
    return VENV


@pytest.fixture(scope="module")
def brownie_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What brownie needs of the project, copied; node_modules (OpenZeppelin) linked."""
    project = tmp_path_factory.mktemp("brownie-project")
    shutil.copy2(ROOT / "brownie-config.yaml", project)
    shutil.copytree(ROOT / "contracts", project / "contracts")
    (project / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "deploy.py", project / "scripts")
    (project / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return project


@pytest.fixture(scope="module")
def brownie_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("brownie-home")


def run_brownie(
    args: list[str], *, cwd: Path, home: Path, offline: bool = False, extra_env: dict | None = None
) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LEDGER_", "SOLCX_", "VIRTUAL_ENV", "PYTHON"))
    }
    # Whatever would reach beyond loopback fails at once: no proxy is listening on port 9.
    proxy = "http://127.0.0.1:9"
    env.update(HOME=str(home), http_proxy=proxy, https_proxy=proxy, no_proxy="127.0.0.1,localhost")
    env.update(extra_env or {})
    argv = [str(BROWNIE), *args]
    if offline and _can_unshare_network():
        argv = ["unshare", "--net", *argv]  # no network at all, loopback included
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"brownie {' '.join(args)} exited {done.returncode}:\n{output}"
    return output


def _can_unshare_network() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def test_brownie_compiles_evidence_ledger_offline_to_our_code(
    brownie_env: Path, brownie_project: Path, brownie_home: Path
) -> None:
    output = run_brownie(["compile"], cwd=brownie_project, home=brownie_home, offline=True)

    built = json.loads((brownie_project / "build/contracts/EvidenceLedger.json").read_text())
    assert "anchorAgreement" in {e.get("name") for e in built["abi"] if e["type"] == "function"}
    assert built["compiler"] == {
        "evm_version": "paris",
        "optimizer": {"enabled": True, "runs": 200},
        "version": "0.8.28+commit.7893614a",
    }, output
    ours = load_artifact(CONTRACT_NAME)
    # Same compiler, settings and sources: the same code. Only the metadata differs, since
    # brownie names the OpenZeppelin sources node_modules/@openzeppelin/... (remapping).
    assert strip_metadata(built["deployedBytecode"]) == strip_metadata(ours.deployed_bytecode)
    assert strip_metadata(built["bytecode"]) == strip_metadata(ours.bytecode)
    # Brownie's own folders (interfaces, reports, tests) all went under the git-ignored build/.
    assert sorted(p.name for p in brownie_project.iterdir()) == [
        "brownie-config.yaml", "build", "contracts", "node_modules", "scripts",
    ]  # fmt: skip


def test_brownie_run_deploy_script_on_anvil(
    brownie_env: Path, brownie_project: Path, brownie_home: Path, anvil_url: str
) -> None:
    network = "ledger-test-anvil"
    networks_add = [
        "networks", "add", "Ethereum", network, f"host={anvil_url}", f"chainid={DEV_CHAIN_ID}",
    ]  # fmt: skip
    run_brownie(networks_add, cwd=brownie_project, home=brownie_home)
    output = run_brownie(
        ["run", "scripts/deploy.py", "--network", network],
        cwd=brownie_project,
        home=brownie_home,
        extra_env={
            "LEDGER_CHAIN_PRIVATE_KEY": DEV_PRIVATE_KEY,
            "LEDGER_MEMBER_KEY_FINGERPRINT": "0x" + MEMBER_KEY.fingerprint().hex(),
        },
    )

    found = DEPLOYED_LINE.search(output)
    assert found, output
    address, chain_id = found.group(1), int(found.group(2))
    assert chain_id == DEV_CHAIN_ID
    client = ChainClient(rpc_url=anvil_url, private_key=DEV_PRIVATE_KEY)
    code = client.code_at(address)
    assert code, f"no code at {address}"
    artifact = load_artifact(CONTRACT_NAME)
    assert strip_metadata(code) == strip_metadata(artifact.deployed_bytecode)
    ledger = client.contract(artifact, address)
    consortium = ledger.functions.consortium().call()
    assert f"{CONSORTIUM} {consortium} (chain {DEV_CHAIN_ID})" in output
    governing = client.contract(load_artifact(CONSORTIUM), consortium)
    assert governing.functions.isAllowed(client.address, role_id("broker")).call()
    member = ConsortiumContract(client=client, address=consortium).member(client.address)
    assert member.key_fingerprint == MEMBER_KEY.fingerprint()
