"""``ledger consortium besu-config`` and ``ledger consortium sync-permissions``: the consortium's
network on Besu (QBFT), generated from and kept in line with the on-chain member list.

Both read the Consortium recorded for the configured chain (``LEDGER_CHAIN_RPC_URL`` /
``LEDGER_DATA_DIR``, or the managed dev chain), as every ``ledger consortium`` command does.
"""

from __future__ import annotations

from pathlib import Path

import click

from ledger.chain.besu import (
    BesuNode,
    QbftOptions,
    checked_account,
    load_nodes,
    nodes_for_validators,
    write_network,
)
from ledger.chain.besu_permissions import sync_node


def _member_accounts() -> list[str]:
    # Imported here: ledger.cli.consortium registers these commands, so it imports this module.
    from ledger.cli.consortium import _governance

    with _governance() as governance:
        council, _keys = governance.contracts()
        return [member.account for member in council.members()]


_NODES_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("besu-config")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write genesis.json, permissions_config.toml and node-<n>/ into.",
)
@click.option(
    "--nodes",
    "nodes_file",
    type=_NODES_FILE,
    help="TOML file of [[nodes]] with enode URLs (validators: their key's address).",
)
@click.option(
    "--validator",
    "validators",
    multiple=True,
    help="A validator address (repeatable); default, without --nodes: the members' accounts.",
)
@click.option("--chain-id", type=click.IntRange(min=1), default=1337, show_default=True)
@click.option(
    "--block-period", type=click.IntRange(min=1), default=2, show_default=True, help="Seconds."
)
@click.option(
    "--request-timeout",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Seconds a QBFT round waits for its block (more than the block period).",
)
@click.option(
    "--epoch-length",
    type=click.IntRange(min=1),
    default=30000,
    show_default=True,
    help="Blocks after which pending validator votes are discarded.",
)
@click.option("--force", is_flag=True, help="Overwrite files in a non-empty --out directory.")
def besu_config(
    out_dir: Path,
    nodes_file: Path | None,
    validators: tuple[str, ...],
    chain_id: int,
    block_period: int,
    request_timeout: int,
    epoch_length: int,
    force: bool,
) -> None:
    """Write a Besu QBFT network for the consortium's members into --out."""
    if nodes_file is not None and validators:
        raise click.UsageError("give --nodes or --validator, not both")
    options = QbftOptions(
        chain_id=chain_id,
        block_period_s=block_period,
        epoch_length=epoch_length,
        request_timeout_s=request_timeout,
    )
    accounts = _member_accounts()
    nodes: list[BesuNode]
    if nodes_file is not None:
        nodes = load_nodes(nodes_file)
    else:
        nodes = nodes_for_validators([checked_account(v) for v in validators] or accounts)
    written = write_network(out_dir, accounts=accounts, nodes=nodes, options=options, force=force)
    click.echo(f"genesis: {written.genesis} (chain {chain_id}, QBFT)")
    click.echo(f"validators ({len(written.validators)}): {', '.join(written.validators)}")
    click.echo(f"accounts allowlist ({len(accounts)}): {', '.join(accounts)}")
    for path in written.node_configs:
        click.echo(f"node config: {path}")
    if not written.enodes_known:
        click.echo(
            "note: no enode URLs (--nodes FILE): node allowlisting is off and the nodes have no"
            " bootnodes; give --nodes to turn both on"
        )


@click.command("sync-permissions")
@click.option(
    "--rpc",
    "urls",
    multiple=True,
    required=True,
    help="JSON-RPC URL of a Besu node (repeatable); each is brought in line.",
)
@click.option(
    "--nodes",
    "nodes_file",
    type=_NODES_FILE,
    help="The nodes file: also bring the nodes allowlists in line with its enode URLs.",
)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True)
@click.pass_context
def sync_permissions(
    ctx: click.Context, urls: tuple[str, ...], nodes_file: Path | None, timeout: float
) -> None:
    """Make each node's accounts allowlist the consortium's current members (perm_* JSON-RPC).

    One line per node saying what changed; a node that fails gets one error line, the others
    are still processed, and the exit status is 2.
    """
    enodes = None
    if nodes_file is not None:
        enodes = [node.enode for node in load_nodes(nodes_file) if node.enode is not None]
    accounts = _member_accounts()
    failed = False
    for url in urls:
        report = sync_node(url, accounts=accounts, enodes=enodes, timeout_s=timeout)
        if report.error is not None:
            failed = True
            if report.accounts_added or report.accounts_removed:
                click.echo(report.describe())
            click.echo(f"error: {report.error}", err=True)
        else:
            click.echo(report.describe())
    if failed:
        ctx.exit(2)
