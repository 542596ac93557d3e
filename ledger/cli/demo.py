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
@click.option(
    "--count",
    type=click.IntRange(1, 100_000),
    default=1,
    show_default=True,
    help="How many agreements to submit (anchored together; one proof file each).",
)
def demo(out_dir: Path, count: int) -> None:
    """Customer and broker sign a sample agreement; the evidence service verifies, stores it
    encrypted, acknowledges, anchors it in a Merkle batch and writes its proof file.

    Runs on the embedded defaults (managed anvil dev chain, local store and keystore under
    LEDGER_DATA_DIR, default .data) unless LEDGER_CHAIN_RPC_URL points at another chain.
    """
    result = run_demo(Settings(), out_dir=out_dir, count=count)
    click.echo(
        f"agreement {result.agreement_id} anchored in block {result.block_number}, "
        f"document stored as {result.cid}",
        err=True,
    )
    for path in result.proof_paths:
        click.echo(str(path))
