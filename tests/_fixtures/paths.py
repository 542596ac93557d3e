"""Where the project's own tools live (installed by `make setup`, never by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
