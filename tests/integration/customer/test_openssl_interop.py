"""A grant the customer's wallet signs verifies with the real ``openssl`` command line: SM2
with SM3 and the default distinguishing ID, over the 32-byte digest as the message, DER."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ledger.crypto.sm2 import DEFAULT_DISTID, SM2PrivateKey
from ledger.customer import CustomerWallet
from tests._fixtures.openssl import openssl_binary
from tests.unit.customer.test_documents import sample_grant

pytestmark = pytest.mark.usefixtures("openssl_cli")


def _verify(tmp_path: Path, public_pem: bytes, message: bytes, signature: bytes) -> int:
    (tmp_path / "pub.pem").write_bytes(public_pem)
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(signature)
    args = ["pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin", "-inkey", "pub.pem"]
    args += ["-pkeyopt", f"distid:{DEFAULT_DISTID.decode()}", "-in", "msg", "-sigfile", "sig"]
    done = subprocess.run(
        [openssl_binary(), *args], cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    return done.returncode


def test_openssl_verifies_a_grant_the_wallet_signed(tmp_path: Path) -> None:
    wallet = CustomerWallet(key=SM2PrivateKey.generate())
    signed = sample_grant(wallet)
    pem = wallet.public_key.to_pem()
    assert _verify(tmp_path, pem, signed.digest, signed.signature) == 0
    other = bytes([signed.digest[0] ^ 1]) + signed.digest[1:]
    assert _verify(tmp_path, pem, other, signed.signature) != 0
