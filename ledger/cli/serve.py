"""``ledger serve``: the HTTP API with the evidence service (same as ``python -m api``)."""

from __future__ import annotations

import click

from ledger.settings import Settings


@click.command()
@click.option("--host", default=None, help="Bind address (default LEDGER_API_HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default LEDGER_API_PORT, 8000).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the API: drafts, signatures, acknowledgments, anchoring, proofs."""
    import uvicorn

    settings = Settings()
    uvicorn.run(
        "api.app:service_app",
        factory=True,
        host=host or settings.api_host,
        port=port if port is not None else settings.api_port,
        log_level="info",
    )
