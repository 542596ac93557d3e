"""The ``ledger`` command line: one group, one module per noun, imported only when used.

Errors are translated here, once: a :class:`~ledger.errors.LedgerError` becomes one readable line
on stderr and exit status 2 (commands that answer "valid / invalid" use exit 1 for "invalid").
"""

from __future__ import annotations

import importlib

import click

from ledger.errors import LedgerError

#: command name -> "module:attribute". Loaded lazily, so `ledger cid` does not import web3.
_COMMANDS = {
    "audit": "ledger.cli.audit:audit",
    "bench": "ledger.cli.bench:bench",
    "chain": "ledger.cli.chain:chain",
    "cid": "ledger.cli.cid:cid",
    "client": "ledger.cli.client:client",
    "consortium": "ledger.cli.consortium:consortium",
    "customer": "ledger.cli.customer:customer",
    "demo": "ledger.cli.demo:demo",
    "serve": "ledger.cli.serve:serve",
    "sm2": "ledger.cli.sm2:sm2",
    "verify": "ledger.cli.verify:verify",
}


class _LedgerGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute = _COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_LedgerGroup)
@click.version_option(package_name="ledger")
def cli() -> None:
    """Evidence ledger: SM2 e-signatures, encrypted IPFS storage, on-chain anchoring, proofs."""


def main() -> None:
    cli(prog_name="ledger")


if __name__ == "__main__":  # pragma: no cover
    main()
