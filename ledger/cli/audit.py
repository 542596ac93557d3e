"""``ledger audit ...``: an auditor's tools.

``ledger audit reconcile --service URL [--service URL ...] --from T --to T [--format json|csv]
[--out FILE] [--rpc URL] --key-file auditor.pem`` collects every service's access receipts of the
period and the reliances it recorded (a service without reliances answers 404: none), reads the
grants, revocations and attestations from the chain itself (``--rpc``, else
``LEDGER_CHAIN_RPC_URL``), reconciles across all the services (member B's reliance on a receipt
at member A's service is matched against A's receipts) and writes the report
(:mod:`ledger.audit.report`) to ``--out`` or stdout. Requests are signed with the auditor's key
(``--key-file``, or ``--keystore DIR --name NAME``; ``--keyid`` defaults to ``sm3:<fingerprint>``).

Exit status: **0** the report has no anomaly; **1** it has some (each kind and count on stderr);
**2** the reconciliation could not be made (one line on stderr: a bad period, a service refusing
or unreachable, the chain unreachable ...).
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import click

from ledger.cli.sm2 import load_private

#: The exit status of a reconciliation that found anomalies.
ANOMALIES_FOUND = 1

_path = click.Path(dir_okay=False, path_type=Path)


@click.group()
def audit() -> None:
    """An auditor's tools: reconcile access receipts, grants and reliances."""


@audit.command("reconcile")
@click.option("--service", "services", multiple=True, required=True, help="A member's service.")
@click.option("--from", "start", required=True, help="RFC 3339 with offset; inclusive.")
@click.option("--to", "end", required=True, help="RFC 3339 with offset; exclusive.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@click.option("--out", type=_path, help="Write the report here (default: stdout).")
@click.option("--rpc", help="The chain node (default: LEDGER_CHAIN_RPC_URL).")
@click.option("--key-file", type=_path, help="The auditor's PEM key, or a keystore document.")
@click.option("--keystore", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Key name in the keystore.")
@click.option("--keyid", help="The registered key's ID (default: sm3:<fingerprint>).")
@click.pass_context
def reconcile(
    ctx: click.Context,
    services: tuple[str, ...],
    start: str,
    end: str,
    fmt: str,
    out: Path | None,
    rpc: str | None,
    key_file: Path | None,
    keystore: Path | None,
    name: str | None,
    keyid: str | None,
) -> None:
    """Reconcile a period's access receipts at SERVICEs against the chain."""
    from ledger.audit.collect import reconcile_services
    from ledger.audit.period import Period
    from ledger.audit.report import write_csv, write_json
    from ledger.chain.client import ChainClient
    from ledger.client import LedgerClient
    from ledger.settings import Settings

    period = Period.parse(start, end)
    node = rpc or Settings().chain_rpc_url
    if not node:
        raise click.UsageError("give the chain node: --rpc URL (or LEDGER_CHAIN_RPC_URL)")
    key = load_private(key_file, keystore, name, key_option="--key-file")
    with ExitStack() as stack:
        clients = [
            stack.enter_context(LedgerClient(base_url=url, key=key, keyid=keyid))
            for url in services
        ]
        report = reconcile_services(
            clients,
            chain=ChainClient(rpc_url=node, timeout_s=30),
            period=period,
            now=lambda: datetime.now(UTC),
        )
    text = write_csv(report) if fmt == "csv" else write_json(report)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_bytes(text.encode())
    anomalies = report.anomalies
    if anomalies:
        counts = Counter(a.kind.value for a in anomalies)
        listed = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
        click.echo(f"{len(anomalies)} anomalies: {listed}", err=True)
        ctx.exit(ANOMALIES_FOUND)
