"""`ledger bench crypto` end to end: ours and the real `openssl speed`, one short run."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ledger.cli import cli

pytestmark = pytest.mark.usefixtures("openssl_cli")


def test_bench_crypto_json() -> None:
    result = CliRunner().invoke(cli, ["bench", "crypto", "--json", "--seconds", "0.1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for name in (
        "sm2_sign_per_s",
        "sm2_verify_per_s",
        "sm3_mb_per_s",
        "sm4_gcm_mb_per_s",
        "openssl_sm2_sign_per_s",
        "openssl_sm2_verify_per_s",
        "openssl_sm3_mb_per_s",
        "openssl_sm4_mb_per_s",
    ):
        assert data[name] > 0, name
    assert data["sm2_sign_ratio"] == pytest.approx(
        data["sm2_sign_per_s"] / data["openssl_sm2_sign_per_s"]
    )
    assert data["sm4_ratio"] == pytest.approx(
        data["sm4_gcm_mb_per_s"] / data["openssl_sm4_mb_per_s"]
    )
    assert data["openssl_sm4_mode"].startswith(("sm4-gcm", "sm4-ctr"))
    assert data["openssl_version"].startswith("OpenSSL 3")
