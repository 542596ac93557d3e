"""The ipfs_node fixture itself: it must fail loudly, never skip, when js-ipfs is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._fixtures import ipfs


def test_missing_node_modules_fails_the_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ipfs, "JS_IPFS", tmp_path / "node_modules" / "ipfs" / "package.json")
    with pytest.raises(pytest.fail.Exception, match="npm ci"):
        ipfs.start_or_fail(tmp_path)


def test_a_launcher_that_dies_fails_the_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher = tmp_path / "start"
    launcher.write_text("echo 'boom: no polyfill' >&2\nexit 3\n")
    monkeypatch.setattr(ipfs, "LAUNCHER", launcher)
    with pytest.raises(pytest.fail.Exception, match="boom: no polyfill"):
        ipfs.start_or_fail(tmp_path)


def test_node_answers_on_loopback(ipfs_node: ipfs.IpfsNode) -> None:
    assert ipfs_node.api_url.startswith("http://127.0.0.1:")
    assert ipfs_node.process.poll() is None
    version = ipfs_node.rpc("version").json()
    assert version["Version"]
    # offline and alone: no swarm addresses, no peers
    assert ipfs_node.rpc("id").json()["Addresses"] in (None, [])
    assert ipfs_node.rpc("bootstrap/list").json()["Peers"] == []
