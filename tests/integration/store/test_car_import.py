"""CARs we write from the embedded store import into a real node (js-ipfs ``dag/import``), which
then ``cat``s the same bytes; and the node's own ``dag/export`` is byte-identical to ours."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from ledger.store import EmbeddedStore, KuboStore, car_bytes, read_car, verify_car
from tests._fixtures.ipfs import IpfsNode
from tests.unit.store._data import CHUNK

SIZES = [0, 1, CHUNK + 1, 3 * CHUNK + 5]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_our_car_imports_into_the_node(ipfs_node: IpfsNode, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)  # never seen by the node (except the empty file, which is unique)
    store = EmbeddedStore(root=tmp_path / "store", fsync=False)
    cid = store.put(data)
    car = car_bytes(store, cid)
    assert verify_car(car, cid) == data

    response = httpx.post(
        f"{ipfs_node.api_url}/api/v0/dag/import",
        params={"pin-roots": "true"},
        files={"file": ("doc.car", car, "application/vnd.ipld.car")},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    root = response.json()["Root"]
    assert root["Cid"]["/"] == cid
    assert root["PinErrorMsg"] == ""
    assert cid in ipfs_node.pins()
    assert ipfs_node.cat(cid, timeout=5) == data

    # and back: the node exports the very same bytes, and KuboStore's blocks give them too
    exported = ipfs_node.rpc("dag/export", {"arg": cid, "timeout": "5s"}).content
    assert exported == car
    with KuboStore(api_url=ipfs_node.api_url, timeout_s=5) as kubo:
        assert car_bytes(kubo, cid) == car
    assert read_car(exported)[0] == cid
