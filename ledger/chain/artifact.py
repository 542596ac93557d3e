"""Compiled contract artifacts shipped with the package (built by ``scripts/compile.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.crypto import keccak

from ledger.chain.errors import DeploymentError

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler_version: str

    def error_by_selector(self) -> dict[bytes, dict[str, Any]]:
        """ABI entries of custom errors keyed by their 4-byte selector."""
        return {
            function_abi_to_4byte_selector(entry): entry  # type: ignore[arg-type]
            for entry in self.abi
            if entry["type"] == "error"
        }

    @property
    def deployed_code_hash(self) -> bytes:
        return keccak(hexstr=self.deployed_bytecode)


@cache
def load_artifact(name: str) -> Artifact:
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise DeploymentError(f"no compiled artifact for {name} at {path}") from exc
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
        compiler_version=data["compiler"]["version"],
    )
