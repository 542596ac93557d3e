"""``ledger serve``: the HTTP API with the evidence service (same as ``python -m api``)."""

from __future__ import annotations

import click

from ledger.settings import Settings

#: Service processes one ``ledger serve`` (and ``ledger bench evidence``) starts at most.
MAX_WORKERS = 64


@click.command()
@click.option("--host", default=None, help="Bind address (default LEDGER_API_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default LEDGER_API_PORT, 8000).")
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    default=1,
    show_default=True,
    help="Service processes. They share the database, store and chain; batches are claimed"
    " through the database, so any of them may anchor. On SQLite they take turns on the write"
    " lock (measured: no gain on 2 cores); meant for PostgreSQL.",
)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the API: drafts, signatures, acknowledgments, anchoring, proofs."""
    from api.server import serve as serve_api

    settings = Settings()
    if workers > 1:
        from ledger.service import prepare

        prepare(settings)  # once, before the workers race to migrate, create keys, deploy
    serve_api(settings, host=host, port=port, workers=workers)
