"""The ``ledger`` command line: one group, one module per noun.

Errors are translated here, once: a :class:`~ledger.errors.LedgerError` becomes one readable line
on stderr and exit status 2 (commands that answer "valid / invalid" use exit 1 for "invalid").
"""

from __future__ import annotations

import click

from ledger.errors import LedgerError


class _LedgerGroup(click.Group):
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


def _register() -> None:
    # Each noun registers its own commands; imported here so `ledger --help` lists them all.
    import importlib

    for name in ("sm2", "cid", "bench", "chain", "demo", "verify"):
        try:
            module = importlib.import_module(f"ledger.cli.{name}")
        except ModuleNotFoundError as exc:  # a noun not built yet
            if exc.name != f"ledger.cli.{name}":
                raise
            continue
        module.register(cli)


_register()


def main() -> None:
    cli(prog_name="ledger")


if __name__ == "__main__":  # pragma: no cover
    main()
