"""Parsing of `openssl speed -mr` output and the table layout (no benchmark is run here)."""

from __future__ import annotations

import pytest

from ledger.crypto import CryptoError, _bench

# Captured from OpenSSL 3.0.19 (stdout and stderr interleaved, as it may be).
SM2_OUTPUT = """+DTP:256:sign:CurveSM2:1
+R10:2211:256:CurveSM2:1.00
+DTP:256:verify:CurveSM2:1
+R11:2188:256:CurveSM2:1.00
+F7:0:256:CurveSM2:2211.000000:2188.000000
"""
SM3_OUTPUT = """+DT:sm3:1:1048576
+R:229:sm3:1.000000
+H:1048576
+F:25:sm3:240123904.00
"""
SM4_CTR_OUTPUT = """+DT:SM4-CTR:1:1048576
+R:106:SM4-CTR:1.000000
+H:1048576
+F:25:SM4-CTR:111149056.00
"""


def test_parse_sm2() -> None:
    assert _bench.parse_sm2(SM2_OUTPUT) == (2211.0, 2188.0)
    # later OpenSSL versions renumber the +F line; the curve name is what matters
    assert _bench.parse_sm2("+F9:0:256:CurveSM2:10.5:20\n") == (10.5, 20.0)
    with pytest.raises(
        CryptoError, match=r"^no SM2 result line in `openssl speed -mr sm2` output$"
    ):
        _bench.parse_sm2("+F4:0:256:nistp256:1:2\n")


def test_parse_throughput() -> None:
    assert _bench.parse_throughput(SM3_OUTPUT) == 240123904.0
    assert _bench.parse_throughput(SM4_CTR_OUTPUT) == 111149056.0
    with pytest.raises(CryptoError, match=r"^no throughput line in `openssl speed -mr` output$"):
        _bench.parse_throughput("+H:1048576\n")


def _result() -> dict[str, object]:
    return {
        "seconds": 2.0,
        "sm2_message_bytes": 1024,
        "sm2_sign_per_s": 2000.0,
        "sm2_verify_per_s": 2100.0,
        "sm3_mb_per_s": 250.0,
        "sm4_gcm_mb_per_s": 100.0,
        "openssl_version": "OpenSSL 3.0.19",
        "openssl_sm2_sign_per_s": 2211.0,
        "openssl_sm2_verify_per_s": 2188.0,
        "openssl_sm3_mb_per_s": 240.1,
        "openssl_sm4_mb_per_s": None,
        "openssl_sm4_mode": "sm4-ctr (this openssl speed has no sm4-gcm)",
        "sm2_sign_ratio": 2000 / 2211,
        "sm2_verify_ratio": 2100 / 2188,
        "sm3_ratio": 250 / 240.1,
        "sm4_ratio": None,
    }


def test_format_table() -> None:
    lines = _bench.format_table(_result()).splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["metric", "ledger", "openssl", "ratio"]
    rows = {
        line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]] for line in lines[2:6]
    }
    assert rows["SM2 sign/s (1024 B msg)"] == ["2,000", "2,211", "0.90"]
    assert rows["SM2 verify/s (1024 B msg)"] == ["2,100", "2,188", "0.96"]
    assert rows["SM3 MB/s (1 MiB buffers)"] == ["250.0", "240.1", "1.04"]
    assert rows["SM4-GCM MB/s (openssl: sm4-ctr)"] == ["100.0", "n/a", "n/a"]
    assert len({len(line) for line in lines[:6]}) == 1  # aligned columns
    assert "OpenSSL 3.0.19" in lines[-2] and "sm4-ctr" in lines[-1]


def test_run_rejects_non_positive_seconds() -> None:
    with pytest.raises(ValueError, match=r"^seconds must be positive$"):
        _bench.run(seconds=0)
