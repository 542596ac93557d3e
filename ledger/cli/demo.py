"""``ledger demo``: one signed, stored, anchored agreement and its proof file."""

from __future__ import annotations

from pathlib import Path

import click

from ledger.demo import run_demo
from ledger.settings import Settings


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Directory the proof file is written to.",
)
def demo(out_dir: Path) -> None:
    """Sign a sample agreement by customer and broker, store it encrypted, anchor it, write a proof.

    Runs on the embedded defaults (managed anvil dev chain, local store and keystore under
    LEDGER_DATA_DIR, default .data) unless LEDGER_CHAIN_RPC_URL points at another chain.
    """
    result = run_demo(Settings(), out_dir=out_dir)
    click.echo(
        f"agreement {result.agreement_id} anchored in block {result.block_number}, "
        f"document stored as {result.cid}",
        err=True,
    )
    click.echo(str(result.proof_path))
