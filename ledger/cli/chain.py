"""``ledger chain ...``: the managed anvil dev chain and contract deployments."""

from __future__ import annotations

import click

from ledger import _runtime
from ledger.chain.deployments import Deployments, deploy_evidence_ledger
from ledger.chain.evidence import CONTRACT_NAME
from ledger.settings import Settings


@click.group("chain")
def chain() -> None:
    """Start, stop and inspect the dev chain; deploy the contracts."""


@chain.command("start")
def start() -> None:
    """Start the dev chain (state persists in LEDGER_DATA_DIR/chain) and print its RPC URL."""
    click.echo(_runtime.dev_node(Settings()).start())


@chain.command("stop")
def stop() -> None:
    """Stop the dev chain; its state is saved and reloaded by the next start."""
    stopped = _runtime.dev_node(Settings()).stop()
    click.echo("stopped" if stopped else "not running")


@chain.command("status")
def status() -> None:
    """Print whether the dev chain runs, where, and the recorded deployments."""
    settings = Settings()
    current = _runtime.dev_node(settings).status()
    click.echo(f"running: {current.rpc_url}" if current.running else "not running")
    click.echo(f"state: {current.state_file}")


@chain.command("deploy")
@click.option("--force", is_flag=True, help="Deploy again even if a deployment is recorded.")
def deploy_cmd(force: bool) -> None:
    """Deploy the contracts to the configured chain (once) and print their addresses."""
    settings = Settings()
    with _runtime.chain_client(settings) as client:
        if force:
            deployments = Deployments(directory=settings.deployments_dir)
            issuer = _runtime.service_key(settings, _runtime.ISSUER_KEY_NAME).public_key()
            address = deploy_evidence_ledger(client, deployments, dev_member_key=issuer).address
        else:
            address = _runtime.evidence_ledger(settings, client).address
        click.echo(f"{CONTRACT_NAME} {address} (chain {client.chain_id})")
