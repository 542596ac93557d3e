"""`ledger bench httpsig` end to end: one short run beside the real `openssl speed sm2`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ledger.cli import cli

pytestmark = pytest.mark.usefixtures("openssl_cli")


def test_bench_httpsig_json_and_table() -> None:
    result = CliRunner().invoke(cli, ["bench", "httpsig", "--json", "--seconds", "0.05"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for name in (
        "sign_us",
        "sign_sm3_digest_us",
        "verify_us",
        "nonce_store_us",
        "nonce_store_threads_us",
        "nonce_store_grouped_us",
        "sm2_sign_us",
        "sm2_verify_us",
        "openssl_sm2_sign_us",
        "openssl_sm2_verify_us",
    ):
        assert data[name] > 0, name
    assert data["verify_with_nonce_us"] == pytest.approx(data["verify_us"] + data["nonce_store_us"])
    assert data["database"] == "sqlite"
    table = CliRunner().invoke(cli, ["bench", "httpsig", "--seconds", "0.05"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split(" | ") == [
        "operation".ljust(len(lines[0].split(" | ")[0])),
        "µs per call",
    ]
    assert any(line.startswith("openssl speed sm2: verify") for line in lines)
    assert any(line.startswith("nonces, 16 threads, grouped commits") for line in lines)
