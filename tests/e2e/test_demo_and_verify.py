"""The whole path on embedded defaults: `ledger demo` writes a proof, `ledger verify` checks it."""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.client import ChainClient
from ledger.chain.devnode import DevNode
from ledger.demo import run_demo
from ledger.proof import ProofInvalid, confirm_on_chain, verify_proof
from ledger.settings import Settings
from ledger.store.car import verify_car
from tests._fixtures.anvil import free_port


def _ledger(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(scope="module")
def demo_proof(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("demo")
    settings = Settings(data_dir=root / "data", dev_chain_port=free_port())
    return run_demo(settings, out_dir=root / "out").proof_path.read_bytes()


def test_cli_demo_then_verify(tmp_path: Path) -> None:
    env = {"LEDGER_DATA_DIR": str(tmp_path / "data"), "LEDGER_DEV_CHAIN_PORT": str(free_port())}
    first = _ledger("demo", "--out", "out", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    proof_path = tmp_path / first.stdout.strip()
    assert proof_path.parent == tmp_path / "out" and proof_path.is_file()

    verified = _ledger("verify", str(proof_path), env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("valid (offline): agreement agr_")

    # the demo stopped the chain it started, and a second run reuses the persisted deployment
    assert not DevNode(directory=tmp_path / "data" / "chain").status().running
    deployments = json.loads((tmp_path / "data" / "deployments" / "31337.json").read_text())
    second = _ledger("demo", "--out", "out", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads((tmp_path / "data" / "deployments" / "31337.json").read_text())
    assert again == deployments
    first_block = json.loads(proof_path.read_bytes())["anchor"]["block"]["number"]
    second_proof = json.loads((tmp_path / second.stdout.strip()).read_bytes())
    assert second_proof["anchor"]["block"]["number"] > first_block  # chain state was kept


def test_verify_reports_invalid_with_exit_1(tmp_path: Path, demo_proof: bytes) -> None:
    tampered = bytearray(demo_proof)
    index = demo_proof.index(b'"role":"customer"') + len(b'"role":"')
    tampered[index : index + 8] = b"employee"
    path = tmp_path / "tampered.json"
    path.write_bytes(bytes(tampered))
    done = _ledger("verify", str(path), env={}, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.startswith("invalid: ")
    assert len(done.stdout.strip().splitlines()) == 1


def test_verify_unreadable_node_exits_2(tmp_path: Path, demo_proof: bytes) -> None:
    path = tmp_path / "proof.json"
    path.write_bytes(demo_proof)
    url = f"http://127.0.0.1:{free_port()}"
    done = _ledger("verify", "--rpc", url, str(path), env={}, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: chain node at")


def test_valid_proof_verifies(demo_proof: bytes) -> None:
    summary = verify_proof(demo_proof)
    assert summary.format == "ledger-proof/2"  # the dev consortium registers the issuer key
    assert summary.keys is not None
    assert [(k.signer, k.purpose) for k in summary.keys.entries] == [("seal", "proof-sealing")]
    assert summary.roles == ("broker", "customer")  # role order
    assert summary.chain_id == 31337
    assert summary.tree_size == 1 and summary.agreement_version == 1


def test_issuer_pinning(demo_proof: bytes) -> None:
    summary = verify_proof(demo_proof)
    verify_proof(demo_proof, trusted_issuers={summary.issuer_fingerprint})
    with pytest.raises(ProofInvalid, match="is not trusted"):
        verify_proof(demo_proof, trusted_issuers={b"\x00" * 32})


def test_every_single_byte_change_makes_the_proof_invalid(demo_proof: bytes) -> None:
    rng = random.Random(20261121)
    survivors = []
    for index in range(len(demo_proof)):
        other = rng.choice([b for b in range(256) if b != demo_proof[index]])
        for replacement in (demo_proof[index] ^ 0x01, other):
            mutated = bytearray(demo_proof)
            mutated[index] = replacement
            try:
                verify_proof(bytes(mutated))
            except ProofInvalid:
                continue
            survivors.append((index, replacement))
    assert survivors == []


@pytest.mark.parametrize("edit", ["truncate", "append-newline", "append-space", "prepend-space"])
def test_framing_changes_make_the_proof_invalid(demo_proof: bytes, edit: str) -> None:
    mutated = {
        "truncate": demo_proof[:-1],
        "append-newline": demo_proof + b"\n",
        "append-space": demo_proof + b" ",
        "prepend-space": b" " + demo_proof,
    }[edit]
    refusal = {  # a cut proof no longer parses; added whitespace parses but is not canonical
        "truncate": r"^not a proof file: not JSON: ",
        "append-newline": r"^not a proof file: not in canonical JSON \(RFC 8785\) form$",
        "append-space": r"^not a proof file: not in canonical JSON \(RFC 8785\) form$",
        "prepend-space": r"^not a proof file: not in canonical JSON \(RFC 8785\) form$",
    }[edit]
    with pytest.raises(ProofInvalid, match=refusal):
        verify_proof(mutated)


def test_confirm_on_chain(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", dev_chain_port=port)
    node = DevNode(directory=settings.chain_dir, port=port)
    url = node.start()  # kept running across the demo, so the proof can be checked on chain
    try:
        proof = run_demo(settings, out_dir=tmp_path / "out").proof_path.read_bytes()
        confirm_on_chain(verify_proof(proof), client=ChainClient(rpc_url=url))
        path = next((tmp_path / "out").iterdir())
        done = _ledger("verify", "--rpc", url, str(path), env={}, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("valid (confirmed on chain)")
    finally:
        node.stop()

    # Another chain with the same chain ID and the contract at the same address, but not this
    # anchor: offline the proof is still self-consistent; on chain it is refused.
    other_settings = Settings(data_dir=tmp_path / "other", dev_chain_port=free_port())
    other = DevNode(directory=other_settings.chain_dir, port=other_settings.dev_chain_port)
    other_url = other.start()
    try:
        run_demo(other_settings, out_dir=tmp_path / "other-out")
        with pytest.raises(ProofInvalid, match="batch not found on chain"):
            confirm_on_chain(verify_proof(proof), client=ChainClient(rpc_url=other_url))
    finally:
        other.stop()


def test_demo_on_a_real_ipfs_node(tmp_path: Path, ipfs_node: Any) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        dev_chain_port=free_port(),
        store_backend="kubo",
        ipfs_api_url=ipfs_node.api_url,
    )
    result = run_demo(settings, out_dir=tmp_path / "out")
    proof = json.loads(result.proof_path.read_bytes())
    ciphertext = verify_car(base64.b64decode(proof["agreement"]["stored"]["car"]), result.cid)
    assert ipfs_node.cat(result.cid) == ciphertext  # the node holds exactly the encrypted document
    assert not (tmp_path / "data" / "store").exists()  # nothing went to the embedded store
    verify_proof(result.proof_path.read_bytes())
