"""The Besu QBFT files, decoded independently of how they were written: the genesis
``extraData`` against the vectors in Besu's own QBFT documentation and by RLP-decoding it, enode
URLs and validator addresses against eth-account's derivation, the nodes file's checks, and the
written files with json/tomllib against Besu's documented field names."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import coincurve
import pytest
import rlp
from eth_account import Account
from rlp.sedes import big_endian_int

from ledger.chain.besu import (
    QBFT_MIX_HASH,
    BesuConfigError,
    BesuNode,
    Enode,
    QbftOptions,
    load_nodes,
    nodes_for_validators,
    qbft_extra_data,
    write_network,
)

#: besu-docs, "Configure QBFT consensus": the genesis example's extraData, and the output of
#: `besu rlp encode --type=QBFT_EXTRA_DATA` for the four validators of its toEncode.json; both
#: list the validators in the order given, ours sorts them ascending.
DOC_VECTORS = [
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f8549464a702e6263b72"
    "97a96638cac6ae65e6541f4169943923390ad55e90c237593b3b0e401f3b08a0318594aefdb9a738c9f433e5b6"
    "b212a6d62f6370c2f69294c7eeb9a4e00ce683cf93039b212648e01c6c6b78c080c0",
    "0xf87aa00000000000000000000000000000000000000000000000000000000000000000f854944592c8e45706cc"
    "08b8f44b11e43cba0cfc5892cb9406e23768a0f59cf365e18c2e0c89e151bcdedc7094c5327f96ee02d7bcbc1b"
    "f1236b8c15148971e1de94ab5e7f4061c605820d3744227eed91ff8e2c8908c080c0",
]
HEADER = 37  # f87a, a0 + 32 vanity bytes, f854 (the validators list of 4 x 21 bytes)


def _validators_in(vector: bytes) -> list[bytes]:
    return [vector[HEADER + 21 * i + 1 : HEADER + 21 * (i + 1)] for i in range(4)]


@pytest.mark.parametrize("vector", DOC_VECTORS)
def test_extra_data_is_besus_documented_encoding_with_validators_ascending(vector: str) -> None:
    documented = bytes.fromhex(vector[2:])
    validators = _validators_in(documented)
    assert [v.hex() for v in validators] != sorted(v.hex() for v in validators)  # not sorted
    ours = qbft_extra_data(["0x" + v.hex() for v in validators])
    ascending = b"".join(b"\x94" + v for v in sorted(validators))
    assert ours == documented[:HEADER] + ascending + documented[HEADER + 84 :]
    assert ours[-3:] == bytes.fromhex("c080c0")  # no vote, round 0 as an RLP integer, no seals


def test_extra_data_decodes_to_the_five_qbft_fields() -> None:
    accounts = [Account.create().address for _ in range(5)]
    vanity, validators, vote, round_, seals = rlp.decode(qbft_extra_data(accounts))
    assert vanity == bytes(32)
    assert validators == sorted(bytes.fromhex(a[2:]) for a in accounts)
    assert vote == []
    assert big_endian_int.deserialize(round_) == 0
    assert seals == []


def test_extra_data_refuses_no_validator_a_duplicate_and_a_bad_address() -> None:
    with pytest.raises(BesuConfigError, match=r"^a QBFT network needs at least one validator$"):
        qbft_extra_data([])
    one = Account.create().address
    with pytest.raises(BesuConfigError, match=r"^a validator is listed twice$"):
        qbft_extra_data([one, one.lower()])
    with pytest.raises(BesuConfigError, match=r"^validator '0x1234' is not a \(checksummed\)"):
        qbft_extra_data(["0x1234"])


def _enode_of(private_key: bytes, host: str = "10.0.0.7", port: int = 30303) -> str:
    public = coincurve.PrivateKey(private_key).public_key.format(compressed=False)[1:]
    return f"enode://{public.hex()}@{host}:{port}"


def test_enode_address_is_the_node_keys_address() -> None:
    account = Account.create()
    enode = Enode.parse(_enode_of(account.key))
    assert enode.address == account.address  # eth-account derives it independently
    assert (enode.host, enode.port) == ("10.0.0.7", 30303)
    assert enode.url() == _enode_of(account.key)
    other_discovery = Enode.parse(_enode_of(account.key) + "?discport=30310")
    assert other_discovery.discport == 30310
    assert other_discovery.url() == _enode_of(account.key) + "?discport=30310"
    assert Enode.parse(_enode_of(account.key) + "?discport=30303").url() == enode.url()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://" + "ab" * 64 + "@h:1", "is not an enode URL"),
        ("enode://" + "ab" * 63 + "@h:1", "is not an enode URL"),
        ("enode://" + "zz" * 64 + "@h:1", "is not an enode URL"),
        ("enode://" + "ab" * 64 + "@h", "is not an enode URL"),
        ("enode://" + "ab" * 64 + "@h:1?disc=2", "is not an enode URL"),
        ("enode://" + "ab" * 64 + "@h:1?discport=x", "is not an enode URL"),
        ("enode://" + "00" * 64 + "@h:1", "the node ID is not a secp256k1 point"),
    ],
)
def test_enode_refuses_what_is_not_one(text: str, reason: str) -> None:
    with pytest.raises(BesuConfigError, match=reason):
        Enode.parse(text)


def test_nodes_file_gives_validators_by_key_and_refuses_mistakes(tmp_path: Path) -> None:
    keys = [Account.create() for _ in range(3)]
    path = tmp_path / "nodes.toml"
    path.write_text(
        f'[[nodes]]\nenode = "{_enode_of(keys[0].key)}"\n'
        f'[[nodes]]\nenode = "{_enode_of(keys[1].key, port=30304)}"\nrpc_http_port = 8546\n'
        f'[[nodes]]\nenode = "{_enode_of(keys[2].key, port=30305)}"\nvalidator = false\n',
        "utf-8",
    )
    nodes = load_nodes(path)
    assert [n.validator_address for n in nodes] == [keys[0].address, keys[1].address, None]
    assert [n.rpc_http_port for n in nodes] == [8545, 8546, 8545]

    bad = [
        ("", r"expected one or more \[\[nodes\]\] tables and nothing else"),
        ('[[nodes]]\nenode = "x"\nport = 1\n', r"nodes #1: unknown field\(s\) port"),
        ("[[nodes]]\nvalidator = true\n", r"nodes #1: enode \(a string\) is required"),
        (f'[[nodes]]\nenode = "{_enode_of(keys[0].key)}"\nvalidator = 1\n', "true or false"),
        (f'[[nodes]]\nenode = "{_enode_of(keys[0].key)}"\nrpc_http_port = 0\n', "a port number"),
        ('[[nodes]]\nenode = "enode://x@h:1"\n', "nodes #1: 'enode://x@h:1' is not an enode URL"),
        (f'[[nodes]]\nenode = "{_enode_of(keys[0].key)}"\n' * 2, "the same node key is listed"),
        ("[[nodes]\n", "cannot read the nodes file"),
    ]
    for text, reason in bad:
        path.write_text(text, "utf-8")
        with pytest.raises(BesuConfigError, match=reason):
            load_nodes(path)


def test_options_refuse_a_timeout_within_the_block_period() -> None:
    with pytest.raises(BesuConfigError, match=r"request timeout \(2 s\) must exceed"):
        QbftOptions(block_period_s=2, request_timeout_s=2)
    with pytest.raises(BesuConfigError, match=r"^epoch_length must be at least 1, not 0$"):
        QbftOptions(epoch_length=0)


def _network(tmp_path: Path, nodes: list[BesuNode], accounts: list[str]) -> Path:
    out = tmp_path / "besu"
    write_network(out, accounts=accounts, nodes=nodes, options=QbftOptions(chain_id=4242))
    return out


def test_files_with_enodes_have_allowlists_bootnodes_and_besus_option_names(
    tmp_path: Path,
) -> None:
    keys = [Account.create() for _ in range(3)]
    accounts = [Account.create().address for _ in range(2)]
    path = tmp_path / "nodes.toml"
    path.write_text(
        "".join(
            f'[[nodes]]\nenode = "{_enode_of(k.key, host=f"10.0.0.{i}")}"\n'
            for i, k in enumerate(keys, start=1)
        ),
        "utf-8",
    )
    out = _network(tmp_path, load_nodes(path), accounts)
    genesis = json.loads((out / "genesis.json").read_text())
    assert genesis["config"]["chainId"] == 4242
    assert genesis["mixHash"] == QBFT_MIX_HASH
    validators = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))[1]
    assert validators == sorted(bytes.fromhex(k.address[2:]) for k in keys)
    permissions = tomllib.loads((out / "permissions_config.toml").read_text())
    assert permissions == {
        "accounts-allowlist": sorted(a.lower() for a in accounts),
        "nodes-allowlist": [_enode_of(k.key, host=f"10.0.0.{i}") for i, k in enumerate(keys, 1)],
    }
    configs = [tomllib.loads((out / f"node-{i}" / "config.toml").read_text()) for i in (1, 2, 3)]
    assert "bootnodes" not in configs[0]
    assert configs[1]["bootnodes"] == configs[2]["bootnodes"] == [permissions["nodes-allowlist"][0]]
    assert [c["p2p-host"] for c in configs] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    for c in configs:
        assert c["permissions-nodes-config-file-enabled"] is True
        assert c["permissions-nodes-config-file"] == c["permissions-accounts-config-file"]
        assert c["permissions-accounts-config-file"] == "permissions_config.toml"
    for i in (1, 2, 3):  # each node its own copy: Besu rewrites it on every perm_* change
        assert tomllib.loads((out / f"node-{i}" / "permissions_config.toml").read_text()) == (
            permissions
        )


def test_a_non_empty_directory_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "besu"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    accounts = [Account.create().address]
    nodes = nodes_for_validators(accounts)
    with pytest.raises(BesuConfigError, match=r"besu is not empty; overwrite its files with"):
        write_network(out, accounts=accounts, nodes=nodes, options=QbftOptions())
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    write_network(out, accounts=accounts, nodes=nodes, options=QbftOptions(), force=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "genesis.json",
        "keep.txt",
        "node-1",
        "permissions_config.toml",
    ]
