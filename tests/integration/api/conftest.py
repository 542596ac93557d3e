"""Fixtures of the API tests: an app running the service in its lifespan (real anvil, SQLite,
embedded store under ``tmp_path/data``) that verifies callers against the test consortium's
keys, a client signing as member A's broker, and the parties' keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.settings import Settings
from tests._fixtures.members import Consortium, signing


@pytest.fixture
def client(tmp_path: Path, anvil_url: str, consortium: Consortium) -> Iterator[TestClient]:
    """Requests are signed by member A's broker unless a test passes ``auth=`` (``None``:
    unsigned)."""
    settings = Settings(
        data_dir=tmp_path / "data",
        chain_rpc_url=anvil_url,
        chain_private_key=DEV_PRIVATE_KEY,
        batch_max_wait_s=0.1,
    )
    app = create_app(run_service=True, settings=settings, directory=consortium.directory())
    with TestClient(app) as client:
        client.auth = signing(consortium.broker_a)
        yield client


@pytest.fixture
def keys(consortium: Consortium) -> dict[str, SM2PrivateKey]:
    """The parties' signing keys: a registered customer key, and member A's broker key."""
    return {"customer": consortium.customer, "broker": consortium.broker_a}
