"""The real ``openssl`` command line (OpenSSL 3): a test that needs it FAILS when it is missing,
never skips, like every other real part (anvil, IPFS, PostgreSQL)."""

from __future__ import annotations

import shutil

import pytest


def openssl_binary() -> str:
    """The path of ``openssl``, or fail the calling test with the reason."""
    path = shutil.which("openssl")
    if path is None:
        pytest.fail(
            "the openssl command line (OpenSSL 3) is not on the PATH; install it "
            "(apt-get install openssl): tests that need it fail, they are never skipped",
            pytrace=False,
        )
    return path


@pytest.fixture
def openssl_cli() -> str:
    """``pytestmark = pytest.mark.usefixtures("openssl_cli")`` in a module that needs openssl."""
    return openssl_binary()
