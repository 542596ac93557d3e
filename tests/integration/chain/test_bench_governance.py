"""``ledger bench governance`` end to end on its own anvil node: every operation measured, the
references beside them."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ledger.cli import cli

KINDS = ("admit a member", "grant a role", "revoke a role", "change a threshold", "remove a member")


def test_the_bench_measures_every_operation_beside_its_references() -> None:
    result = CliRunner().invoke(cli, ["bench", "governance", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    gas = json.loads(result.output)
    expected = {
        "reference: value transfer",
        "reference: anchorBatch (one Merkle batch)",
        "deploy Consortium (3 founders)",
        "deploy KeyRegistry",
        "deploy EvidenceLedger",
        "key: register",
        "key: rotate (new key, old one ends)",
        "key: revoke",
        "cancel (by the proposer)",
    }
    for kind in KINDS:
        expected |= {
            f"propose: {kind}",
            f"vote: {kind} (first)",
            f"vote: {kind} (reaching the threshold)",
            f"execute: {kind}",
        }
    assert set(gas) == expected
    assert gas["reference: value transfer"] == 21_000
    assert all(
        value > 21_000 for label, value in gas.items() if label != "reference: value transfer"
    )


def test_the_table_names_each_operation_with_its_share_of_a_batch() -> None:
    result = CliRunner().invoke(cli, ["bench", "governance"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    header, rule, *rows = result.output.splitlines()
    assert header.split() == ["operation", "gas", "x", "anchorBatch"]
    assert set(rule) == {"-"}
    batch = next(row for row in rows if row.startswith("reference: anchorBatch"))
    assert batch.endswith(" 1.00")
    assert len(rows) == 29
