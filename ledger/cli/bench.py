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


@bench.command("evidence")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.5),
    default=5.0,
    show_default=True,
    help="How long clients submit agreements.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="Client threads per service process.",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Service processes sharing one database, store and chain (as `ledger serve --workers`;"
    " on SQLite they take turns on the write lock, so more than one does not pay here).",
)
def evidence_command(as_json: bool, seconds: float, workers: int, processes: int) -> None:
    """The evidence service end to end: acknowledgments/s, time to ack and to on-chain
    inclusion, gas per agreement and proof size by batch size; `openssl speed sm2` reference."""
    from ledger.service import _bench

    result = _bench.run(
        seconds=seconds,
        workers=workers,
        processes=processes,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        click.echo(_bench.format_table(result))
