"""Fixtures of the API tests: an app running the service in its lifespan (real anvil, SQLite,
embedded store under ``tmp_path/data``), and the parties' keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.settings import Settings


@pytest.fixture
def client(tmp_path: Path, anvil_url: str) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        chain_rpc_url=anvil_url,
        chain_private_key=DEV_PRIVATE_KEY,
        batch_max_wait_s=0.1,
    )
    with TestClient(create_app(run_service=True, settings=settings)) as client:
        yield client


@pytest.fixture
def keys() -> dict[str, SM2PrivateKey]:
    return {"customer": SM2PrivateKey.generate(), "broker": SM2PrivateKey.generate()}
