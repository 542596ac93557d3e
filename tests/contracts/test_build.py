"""The committed artifacts are exactly what the pinned offline compiler produces from contracts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.chain._build import ARTIFACTS_DIR, DEPLOYABLE, compile_contracts, compiler_version
from ledger.chain.errors import CompileError


def test_pinned_compiler_is_used() -> None:
    assert compiler_version() == "0.8.28+commit.7893614a.Emscripten.clang"


def test_artifacts_are_reproducible_byte_for_byte() -> None:
    rebuilt = compile_contracts()
    committed = {path.name: path.read_bytes() for path in ARTIFACTS_DIR.glob("*.json")}
    assert sorted(rebuilt) == sorted(committed) == sorted(f"{n}.json" for n in DEPLOYABLE)
    for name, data in rebuilt.items():
        assert data == committed[name], f"{name} differs from a fresh build: run scripts/compile.py"


def test_artifact_records_compiler_and_settings() -> None:
    artifact = json.loads((ARTIFACTS_DIR / "EvidenceLedger.json").read_text())
    assert artifact["compiler"]["version"].startswith("0.8.28+commit.7893614a")
    assert artifact["compiler"]["settings"]["evmVersion"] == "paris"
    assert artifact["compiler"]["settings"]["optimizer"] == {"enabled": True, "runs": 200}
    assert artifact["bytecode"].startswith("0x6080")
    # who may write is the consortium's to say, in one home for the role IDs
    assert {"contracts/Roles.sol", "contracts/interfaces/IConsortium.sol"} <= set(
        artifact["sources"]
    )
    names = {entry.get("name") for entry in artifact["abi"]}
    assert {
        "anchorAgreement",
        "AgreementAnchored",
        "EvidenceLedger__AlreadyAnchored",
        "EvidenceLedger__NotPermitted",
        "consortium",
    } <= names


def test_compiler_errors_are_compile_errors(tmp_path: Path) -> None:
    """solcx runs the pinned compiler; its refusal is our CompileError with solc's message."""
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "Broken.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.28;\ncontract Broken { uint x = ; }\n"
    )
    with pytest.raises(
        CompileError,
        match=r"^solc failed: ParserError: Expected primary expression\. --> contracts/Broken",
    ):
        compile_contracts(tmp_path / "contracts")


def test_no_sources_is_a_compile_error(tmp_path: Path) -> None:
    with pytest.raises(CompileError, match=r"^no Solidity sources under "):
        compile_contracts(tmp_path)
