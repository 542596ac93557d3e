"""Reproducible, offline contract build: contracts/*.sol -> ledger/chain/artifacts/*.json.

The compiler is the pinned npm solcjs behind ``scripts/solc`` (a native-solc-compatible
executable), driven through py-solc-x (``solcx``) as a local ``solc_binary``: nothing is
downloaded or installed by solcx. Sources under ``contracts/`` are inlined into the
standard-JSON input; imports such as ``@openzeppelin/contracts/...`` resolve from the pinned
``node_modules``. The same input always yields the same artifact bytes, which
``tests/contracts/test_build.py`` checks.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import solcx
from solcx.exceptions import SolcError

from ledger.chain.errors import CompileError

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = ROOT / "contracts"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
SOLC = ROOT / "scripts" / "solc"

T = TypeVar("T")

#: Contracts that get a deployable artifact (interfaces and libraries are compiled, not shipped).
DEPLOYABLE = (
    "ConsentRegistry",
    "Consortium",
    "EvidenceLedger",
    "IdentityAttestations",
    "KeyRegistry",
)

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
    """The full version the compiler reports (``0.8.28+commit.7893614a.Emscripten.clang``);
    solcx's own version parser drops the platform part, which the artifacts record."""
    out, _, _, _ = _solc(lambda: solcx.wrapper.solc_wrapper(solc_binary=SOLC, version=True))
    for line in out.splitlines():
        if line.startswith("Version: "):
            return line.removeprefix("Version: ").strip()
    raise CompileError(f"unexpected compiler banner: {out!r}")


def compile_contracts(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, bytes]:
    """Compile and return ``{artifact file name: exact bytes}`` for every deployable contract."""
    source_input = standard_json_input(contracts_dir)
    output: dict[str, Any] = _solc(
        lambda: solcx.compile_standard(source_input, solc_binary=SOLC, base_path=ROOT)
    )
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


def _solc(call: Callable[[], T]) -> T:
    """Run one solcx call; the compiler's failures become :class:`CompileError`."""
    try:
        return call()
    except SolcError as exc:  # its str() appends the whole command line and output
        detail = exc.message if exc.return_code == 0 else (exc.stderr_data or exc.message)
        raise CompileError(f"solc failed: {' '.join(detail.split())[:500]}") from exc
    except (OSError, subprocess.SubprocessError, ValueError) as exc:  # missing, not JSON ...
        raise CompileError(f"cannot run the Solidity compiler {SOLC}: {exc}") from exc
