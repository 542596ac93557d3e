"""`ledger cid FILE`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ledger.cli import cli
from tests.unit.store._data import CHUNK, EMPTY_CID, KNOWN_CIDS, payload


def test_prints_the_kubo_cid(tmp_path: Path) -> None:
    size = 2 * CHUNK + 7
    path = tmp_path / "doc.pdf"
    path.write_bytes(payload(size))
    result = CliRunner().invoke(cli, ["cid", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output == KNOWN_CIDS[size] + "\n"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    result = CliRunner().invoke(cli, ["cid", str(path)])
    assert (result.exit_code, result.output) == (0, EMPTY_CID + "\n")


def test_stdin() -> None:
    result = CliRunner().invoke(cli, ["cid", "-"], input=payload(1000))
    assert (result.exit_code, result.output) == (0, KNOWN_CIDS[1000] + "\n")


def test_missing_file_is_one_line_and_non_zero(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cid", str(tmp_path / "nope.pdf")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot read ")
    assert "No such file" in lines[0]


def test_directory_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cid", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ")
