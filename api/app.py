"""The FastAPI application: one router per noun, errors as problem+json."""

from __future__ import annotations

from fastapi import FastAPI

from api import problems
from api.routers import health, proofs
from ledger import __version__


def create_app() -> FastAPI:
    app = FastAPI(
        title="Evidence ledger",
        version=__version__,
        description="SM2 e-signatures, encrypted IPFS storage, on-chain anchoring, proofs.",
    )
    problems.install(app)
    app.include_router(health.router)
    app.include_router(proofs.router)
    return app


app = create_app()
