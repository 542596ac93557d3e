"""``ledger bench``: measurements on this machine.

The :data:`bench` group is shared: other modules add their own commands to it
(``from ledger.cli.bench import bench`` then ``@bench.command(...)``).
"""

from __future__ import annotations

import json

import click


@click.group("bench")
def bench() -> None:
    """Benchmarks, each compared with a reference measured in the same run."""


@bench.command("crypto")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.05),
    default=2.0,
    show_default=True,
    help="Duration of each measurement (openssl speed rounds it to whole seconds).",
)
def crypto_command(as_json: bool, seconds: float) -> None:
    """SM2 sign/verify, SM3 and SM4-GCM throughput, ours vs `openssl speed`, single thread."""
    from ledger.crypto import _bench

    result = _bench.run(seconds=seconds)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        click.echo(_bench.format_table(result))
