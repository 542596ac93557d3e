"""``ledger consortium besu-config`` and ``sync-permissions`` against a real consortium on anvil.

The generated files are decoded independently (json, tomllib, RLP) and checked against Besu's
documented fields. Besu cannot be installed here: ``sync-permissions`` is tested against
``BesuPermStandIn``, a small real HTTP JSON-RPC server in this process that keeps allowlists
and answers the ``perm_*`` methods as Besu documents them (see its module); anvil, which has no
``perm_*`` methods, and a port nobody listens on stand for nodes that fail.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import rlp
from click.testing import CliRunner, Result
from eth_account import Account
from rlp.sedes import big_endian_int

from ledger.chain.besu import QBFT_MIX_HASH
from ledger.cli import cli
from tests._fixtures.anvil import free_port
from tests._fixtures.consortium import ANVIL_KEYS, DeployConsortium, Deployed, carry
from tests.integration.chain._besu_perm_standin import BesuPermStandIn, running

ACCOUNTS = [Account.from_key(k).address for k in ANVIL_KEYS]


def _run(tmp_path: Path, url: str, *args: str) -> Result:
    env = {
        "LEDGER_DATA_DIR": str(tmp_path),  # make_consortium records under tmp_path/deployments
        "LEDGER_CHAIN_RPC_URL": url,
        "LEDGER_CHAIN_PRIVATE_KEY": ANVIL_KEYS[0],
    }
    return CliRunner().invoke(cli, ["consortium", *args], env=env)


def _sync(tmp_path: Path, url: str, *rpc_urls: str, nodes: Path | None = None) -> Result:
    """``sync-permissions`` with ``--rpc`` for each of ``rpc_urls`` (and ``--nodes``)."""
    args = [arg for rpc in rpc_urls for arg in ("--rpc", rpc)]
    return _run(
        tmp_path, url, "sync-permissions", *args, *(["--nodes", str(nodes)] if nodes else [])
    )


def _members(deployed: Deployed) -> list[str]:
    return [party.address for party in deployed.members]


def test_besu_config_from_the_on_chain_members(
    deploy_consortium: DeployConsortium, governance_url: str, tmp_path: Path
) -> None:
    deployed = deploy_consortium(founders=3)
    members = _members(deployed)
    out = tmp_path / "besu"
    result = _run(tmp_path, governance_url, "besu-config", "--out", str(out), "--chain-id", "2027")
    assert result.exit_code == 0, result.output
    ascending = sorted(members, key=str.lower)
    assert f"validators (3): {', '.join(ascending)}\n" in result.output
    assert result.output.endswith(
        "note: no enode URLs (--nodes FILE): node allowlisting is off and the nodes have no"
        " bootnodes; give --nodes to turn both on\n"
    )

    genesis = json.loads((out / "genesis.json").read_text())
    assert genesis["config"] == {
        "chainId": 2027,
        "berlinBlock": 0,
        "londonBlock": 0,
        "zeroBaseFee": True,
        "contractSizeLimit": 2147483647,
        "qbft": {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 4},
    }
    assert genesis["difficulty"] == "0x1"
    assert genesis["mixHash"] == QBFT_MIX_HASH
    assert int(genesis["gasLimit"], 16) > 0
    assert sorted(genesis["alloc"]) == sorted(m[2:].lower() for m in members)
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    assert (vanity, vote, big_endian_int.deserialize(round_), seals) == (bytes(32), [], 0, [])
    assert validators == [bytes.fromhex(a[2:]) for a in ascending]  # default: members' accounts

    permissions = tomllib.loads((out / "permissions_config.toml").read_text())
    assert permissions == {
        "accounts-allowlist": sorted(m.lower() for m in members),
        "nodes-allowlist": [],
    }
    for n in (1, 2, 3):
        config = tomllib.loads((out / f"node-{n}" / "config.toml").read_text())
        assert config == {
            "genesis-file": "../genesis.json",
            "data-path": "data",
            "min-gas-price": 0,
            "p2p-port": 30302 + n,
            "rpc-http-enabled": True,
            "rpc-http-port": 8544 + n,
            "rpc-http-api": ["ETH", "NET", "WEB3", "QBFT", "PERM"],
            "permissions-accounts-config-file-enabled": True,
            "permissions-accounts-config-file": "permissions_config.toml",
            "permissions-nodes-config-file-enabled": False,
        }

    again = _run(tmp_path, governance_url, "besu-config", "--out", str(out))
    assert again.exit_code == 2
    assert again.output == f"error: {out} is not empty; overwrite its files with --force\n"


def test_besu_config_with_named_validators_and_bad_input(
    deploy_consortium: DeployConsortium, governance_url: str, tmp_path: Path
) -> None:
    deploy_consortium(founders=2)
    out = tmp_path / "besu"
    chosen = [ACCOUNTS[7], ACCOUNTS[5]]
    args = ["besu-config", "--out", str(out), "--validator", chosen[0], "--validator", chosen[1]]
    assert _run(tmp_path, governance_url, *args).exit_code == 0
    extra = json.loads((out / "genesis.json").read_text())["extraData"]
    assert rlp.decode(bytes.fromhex(extra[2:]))[1] == sorted(bytes.fromhex(a[2:]) for a in chosen)
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["node-1", "node-2"]

    bad = _run(
        tmp_path,
        governance_url,
        "besu-config",
        "--out",
        str(out),
        "--force",
        "--validator",
        "0xabc",
    )
    assert (bad.exit_code, bad.output) == (
        2,
        "error: validator '0xabc' is not a (checksummed) account address\n",
    )
    nodes = tmp_path / "nodes.toml"
    nodes.write_text("[[nodes]]\n", "utf-8")
    both = _run(
        tmp_path,
        governance_url,
        "besu-config",
        "--out",
        str(out),
        "--nodes",
        str(nodes),
        "--validator",
        chosen[0],
    )
    assert both.exit_code == 2
    assert "give --nodes or --validator, not both" in both.output


def test_sync_permissions_brings_a_node_in_line_and_reports_each_change(
    deploy_consortium: DeployConsortium, governance_url: str, tmp_path: Path
) -> None:
    deployed = deploy_consortium(founders=3)
    members = _members(deployed)
    stranger = ACCOUNTS[9].lower()
    node_key = Account.create()
    public = node_key._key_obj.public_key.to_bytes().hex()
    enode, old_enode = f"enode://{public}@10.1.0.1:30303", f"enode://{'cd' * 64}@10.1.0.9:30303"
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(f'[[nodes]]\nenode = "{enode}"\n', "utf-8")
    standin = BesuPermStandIn(accounts=[members[0], stranger], nodes=[old_enode])
    with running(standin):
        result = _sync(tmp_path, governance_url, standin.url, nodes=nodes)
        assert result.exit_code == 0, result.output
        added = sorted(m.lower() for m in members[1:])
        assert result.output == (
            f"{standin.url}: accounts +{added[0]}, +{added[1]}, -{stranger};"
            f" nodes +{enode}, -{old_enode}\n"
        )
        assert sorted(standin.accounts) == sorted(m.lower() for m in members)
        assert standin.nodes == [enode]
        assert [c for c in standin.calls if not c[0].startswith("perm_get")] == [
            ("perm_addAccountsToAllowlist", [added]),
            ("perm_removeAccountsFromAllowlist", [[stranger]]),
            ("perm_addNodesToAllowlist", [[enode]]),
            ("perm_removeNodesFromAllowlist", [[old_enode]]),
        ]

        standin.calls.clear()
        again = _sync(tmp_path, governance_url, standin.url)
        assert again.output == f"{standin.url}: accounts unchanged\n"
        assert [c[0] for c in standin.calls] == ["perm_getAccountsAllowlist"]


def test_a_failing_node_gets_one_error_line_and_the_others_are_still_synced(
    deploy_consortium: DeployConsortium, governance_url: str, tmp_path: Path
) -> None:
    deployed = deploy_consortium(founders=2)
    members = _members(deployed)
    nobody = f"http://127.0.0.1:{free_port()}"
    standin = BesuPermStandIn(accounts=[])
    with running(standin):
        result = _sync(tmp_path, governance_url, governance_url, nobody, standin.url)
    assert result.exit_code == 2
    added = ", ".join(f"+{m}" for m in sorted(m.lower() for m in members))
    assert result.stdout == f"{standin.url}: accounts {added}\n"
    errors = result.stderr.splitlines()
    assert len(errors) == 2
    assert errors[0] == (
        f"error: {governance_url}: perm_getAccountsAllowlist refused: Method not found"
        " (code -32601); is it Besu with PERM in --rpc-http-api and"
        " --permissions-accounts-config-file-enabled (and -nodes- for nodes)?"
    )
    assert re.fullmatch(
        rf"error: {re.escape(nobody)}: perm_getAccountsAllowlist: chain node at"
        rf" {re.escape(nobody)} unreachable: .+",
        errors[1],
    )
    assert sorted(standin.accounts) == sorted(m.lower() for m in members)


def test_a_member_voted_out_loses_its_account_on_the_nodes(
    deploy_consortium: DeployConsortium, governance_url: str, tmp_path: Path
) -> None:
    deployed = deploy_consortium(founders=3)
    alpha, beta, gamma = deployed.members
    standin = BesuPermStandIn(accounts=_members(deployed))
    with running(standin):
        first = _sync(tmp_path, governance_url, standin.url)
        assert first.output == f"{standin.url}: accounts unchanged\n"

        removal = alpha.consortium.propose_removal(gamma.address).proposal_id
        carry(alpha, [alpha, beta], removal)
        assert not alpha.consortium.is_member(gamma.address)

        after = _sync(tmp_path, governance_url, standin.url)
        assert after.exit_code == 0, after.output
        assert after.output == f"{standin.url}: accounts -{gamma.address.lower()}\n"
    assert sorted(standin.accounts) == sorted(p.address.lower() for p in (alpha, beta))
