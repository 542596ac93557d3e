"""The FastAPI application: one router per noun, errors as problem+json.

``create_app(run_service=True)`` (what ``python -m api`` serves) starts the evidence service in
the app's lifespan (database, store, chain, group committer, anchoring loop) and stops it
cleanly; ``run_service=False`` serves only what needs no service (proof verification, health).
Callers are verified against ``directory`` (a :class:`~ledger.httpsig.KeyDirectory`; default:
:func:`ledger.member.directory_for` the settings, which ``ledger serve`` uses).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import _openapi, problems
from api.deps import MAX_PROOF_BYTES, get_settings
from api.limits import BodyLimit
from api.routers import (
    agreements,
    attestations,
    audit,
    consent_proofs,
    consents,
    consortium,
    domain,
    health,
    proofs,
    releases,
    reliances,
)
from ledger import __version__
from ledger.httpsig import KeyDirectory
from ledger.service import running_service
from ledger.settings import Settings


def create_app(
    *,
    run_service: bool = False,
    settings: Settings | None = None,
    directory: KeyDirectory | None = None,
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not run_service:
            yield
            return
        with running_service(settings, directory=directory) as service:
            app.state.service = service
            app.state.request_verifier = service.verifier
            try:
                yield
            finally:
                app.state.service = None
                app.state.request_verifier = None

    app = FastAPI(
        title="Evidence ledger",
        version=__version__,
        description="SM2 e-signatures, encrypted IPFS storage, on-chain anchoring, proofs.",
        lifespan=lifespan,
    )
    problems.install(app)
    _openapi.install(app)
    app.include_router(health.router)
    app.include_router(domain.router)
    app.include_router(agreements.router)
    app.include_router(proofs.router)
    app.include_router(consortium.router)
    app.include_router(consents.router)
    app.include_router(reliances.router)
    app.include_router(consent_proofs.router)
    app.include_router(attestations.router)
    app.include_router(releases.router)
    app.include_router(audit.router)
    app.add_middleware(
        BodyLimit,
        default=settings.api_max_body_bytes,
        by_path={
            app.url_path_for("submit_bulk"): settings.api_max_bulk_body_bytes,
            app.url_path_for("verify"): MAX_PROOF_BYTES,
        },
    )
    return app


def service_app() -> FastAPI:
    """The app with the evidence service (uvicorn factory for ``python -m api``)."""
    return create_app(run_service=True)
