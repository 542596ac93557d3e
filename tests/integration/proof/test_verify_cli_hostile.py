"""``ledger verify FILE`` of a hostile file, in its own process: a verdict, never a crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests._fixtures.paths import ROOT


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"[" * 70_000 + b"]" * 70_000, "decoding a JSON array"),
        (b'{"a":' * 30_000 + b"1" + b"}" * 30_000, "decoding a JSON object"),
    ],
    ids=["arrays", "objects"],
)
def test_a_deeply_nested_file_is_invalid_not_a_segfault(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "hostile.proof.json"
    path.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "ledger.cli", "verify", str(path)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr.decode()
    assert done.stdout.decode() == (
        "invalid: not a proof file: not JSON: maximum recursion depth exceeded while "
        f"{reason} from a unicode string\n"
    )
