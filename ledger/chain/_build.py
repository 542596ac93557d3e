"""Reproducible, offline contract build: contracts/*.sol -> ledger/chain/artifacts/*.json.

The compiler is the pinned npm solcjs, driven through ``scripts/solc`` (a native-solc-compatible
executable). Sources under ``contracts/`` are inlined into the standard-JSON input; imports such
as ``@openzeppelin/contracts/...`` resolve from the pinned ``node_modules``. The same input always
yields the same artifact bytes, which ``tests/contracts/test_build.py`` checks.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ledger.chain.errors import CompileError

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = ROOT / "contracts"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
SOLC = ROOT / "scripts" / "solc"

#: Contracts that get a deployable artifact (interfaces and libraries are compiled, not shipped).
DEPLOYABLE = ("EvidenceLedger",)

#: Compiler settings, part of every artifact. ``paris`` keeps the bytecode free of PUSH0 and
#: other post-merge opcodes, so it runs on consortium EVMs (Besu QBFT, FISCO BCOS, GoQuorum).
SETTINGS: dict[str, Any] = {
    "evmVersion": "paris",
    "optimizer": {"enabled": True, "runs": 200},
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]}
    },
}


def standard_json_input(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Any]:
    sources = {
        path.relative_to(contracts_dir.parent).as_posix(): {"content": path.read_text("utf-8")}
        for path in sorted(contracts_dir.rglob("*.sol"))
    }
    if not sources:
        raise CompileError(f"no Solidity sources under {contracts_dir}")
    return {"language": "Solidity", "sources": sources, "settings": SETTINGS}


def compiler_version() -> str:
    out = _run([str(SOLC), "--version"], stdin=None)
    for line in out.splitlines():
        if line.startswith("Version: "):
            return line.removeprefix("Version: ").strip()
    raise CompileError(f"unexpected compiler banner: {out!r}")


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, bytes]:
    """Compile and return ``{artifact file name: exact bytes}`` for every deployable contract."""
    source_input = standard_json_input(contracts_dir)
    raw = _run([str(SOLC), "--standard-json"], stdin=json.dumps(source_input))
    try:
        output = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CompileError(f"compiler output is not JSON: {raw[:200]!r}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("; ".join(e.get("formattedMessage", e["message"]) for e in errors))
    version = compiler_version()
    artifacts: dict[str, bytes] = {}
    for source_name, contracts in sorted(output["contracts"].items()):
        for name, compiled in sorted(contracts.items()):
            if name not in DEPLOYABLE:
                continue
            metadata = json.loads(compiled["metadata"])
            artifact = {
                "format": "ledger-artifact/1",
                "contractName": name,
                "sourceName": source_name,
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "compiler": {"name": "solc", "version": version, "settings": SETTINGS},
                "sources": {
                    unit: {"keccak256": info["keccak256"]}
                    for unit, info in sorted(metadata["sources"].items())
                },
            }
            text = json.dumps(artifact, indent=2, sort_keys=True) + "\n"
            artifacts[f"{name}.json"] = text.encode("utf-8")
    missing = set(DEPLOYABLE) - {n.removesuffix(".json") for n in artifacts}
    if missing:
        raise CompileError(f"compiler produced no output for {sorted(missing)}")
    return artifacts


def write_artifacts(artifacts: dict[str, bytes], directory: Path = ARTIFACTS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in artifacts.items():
        path = directory / name
        path.write_bytes(data)
        written.append(path)
    return written


def _run(argv: list[str], *, stdin: str | None) -> str:
    try:
        done = subprocess.run(
            argv, input=stdin, capture_output=True, text=True, check=False, cwd=ROOT, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"cannot run the Solidity compiler {argv[0]}: {exc}") from exc
    if done.returncode != 0:
        raise CompileError(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[:500]}")
    return done.stdout
