"""``ledger bench``: measurements on this machine.

The :data:`bench` group is shared: other modules add their own commands to it
(``from ledger.cli.bench import bench`` then ``@bench.command(...)``).
"""

from __future__ import annotations

import json
import os

import click

from ledger.cli.serve import MAX_WORKERS


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


@bench.command("httpsig")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.05),
    default=2.0,
    show_default=True,
    help="Duration of each measurement.",
)
@click.option(
    "--database-url",
    default=None,
    help="Where nonces go (an empty database; default: a fresh SQLite file).",
)
def httpsig_command(as_json: bool, seconds: float, database_url: str | None) -> None:
    """Request signing (RFC 9421, sm2-sm3): µs to sign and verify one call, beside
    `openssl speed sm2` in the same run, single thread."""
    from ledger.httpsig import _bench

    result = _bench.run(seconds=seconds, database_url=database_url)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        click.echo(_bench.format_table(result))


@bench.command("governance")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--members",
    type=click.IntRange(min=3, max=64),
    default=3,
    show_default=True,
    help="Founding members of the consortium measured.",
)
def governance_command(as_json: bool, members: int) -> None:
    """Gas of every governance and key-registry operation on a private anvil node, beside a
    value transfer and one anchorBatch measured in the same run."""
    from ledger.chain._bench_governance import format_table, governance_gas

    rows = governance_gas(members=members)
    if as_json:
        click.echo(json.dumps(dict(rows), indent=2))
    else:
        click.echo(format_table(rows))


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
    default=2,
    show_default=True,
    help="Client threads per service process (with --bulk 1, use more: 16 or so).",
)
@click.option(
    "--processes",
    type=click.IntRange(1, MAX_WORKERS),
    default=os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="Service processes sharing one database, store and chain (as `ledger serve --workers`;"
    " SQLite writers queue on one lock, so each process's group commits stay cheap).",
)
@click.option(
    "--agreements-per-customer",
    "per_customer",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="A new customer every N agreements (one broker signs them all). A customer opening an"
    " account signs several documents; each new customer costs the service one SM2 encryption"
    " (its key-encryption key). 1 = every agreement from a new customer.",
)
@click.option(
    "--bulk",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Agreements per call: N = submit_many of N (the bulk path, POST /v1/agreements/bulk),"
    " 1 = one submit each (POST /v1/agreements).",
)
@click.option(
    "--database-url",
    default=None,
    help="The service database, an empty one (sqlite:///... or postgresql://...); default:"
    " LEDGER_DATABASE_URL, else a fresh SQLite file. The report names the backend measured.",
)
@click.option(
    "--http",
    is_flag=True,
    help="Then the same again through a real `ledger serve --workers <processes>` over HTTP"
    " (clients in their own processes), reported beside the in-process figure.",
)
@click.option(
    "--http-clients",
    type=click.IntRange(1, 16),
    default=None,
    show_default="--processes",
    help="With --http: client processes, each with --workers connections. The default gives"
    " the server as many requests in flight as the in-process run has submitting threads"
    " (--processes x --workers).",
)
def evidence_command(
    as_json: bool,
    seconds: float,
    workers: int,
    processes: int,
    per_customer: int,
    bulk: int,
    database_url: str | None,
    http: bool,
    http_clients: int | None,
) -> None:
    """The evidence service end to end: acknowledgments/s, time to ack and to on-chain
    inclusion, gas per agreement and proof size by batch size; `openssl speed sm2` reference."""
    from ledger.service import _bench, _bench_report

    result = _bench.run(
        seconds=seconds,
        workers=workers,
        processes=processes,
        per_customer=per_customer,
        bulk=bulk,
        database_url=database_url,
        http=http,
        http_clients=processes if http_clients is None else http_clients,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        click.echo(_bench_report.format_table(result))


@bench.command("reuse")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option(
    "--seconds",
    type=click.FloatRange(min=1.0),
    default=10.0,
    show_default=True,
    help="How long each phase sends requests.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=1.0),
    default=500.0,
    show_default=True,
    help="Requests per second offered in the open-loop phases.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    default=os.cpu_count() or 1,
    show_default="the number of CPUs",
    help="`ledger serve --workers` of member A's service.",
)
@click.option(
    "--clients",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Client processes (member B).",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 256),
    default=32,
    show_default=True,
    help="Keep-alive connections per client process.",
)
@click.option(
    "--database-url",
    default=None,
    help="A's database, an empty one (sqlite:///... or postgresql://...); default: a fresh"
    " SQLite file.",
)
def reuse_command(
    as_json: bool,
    seconds: float,
    rate: float,
    workers: int,
    clients: int,
    connections: int,
    database_url: str | None,
) -> None:
    """Consent-checked releases of a customer's attested fields: releases/s and p50/p99 at the
    offered rate, standing and per-use, beside a signed read at the same rate and `openssl speed
    sm2`; gas per attestation, grant, revocation and receipt."""
    from ledger.service import _bench_report, _bench_reuse

    result = _bench_reuse.run(
        seconds=seconds,
        rate=rate,
        workers=workers,
        processes=clients,
        threads=connections,
        database_url=database_url,
        progress=lambda m: click.echo(f"... {m}", err=True),
    )
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        click.echo(_bench_report.format_reuse_table(result))
