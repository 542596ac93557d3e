"""RFC 9457 problem details: the one place errors become HTTP responses."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.chain.errors import NodeError
from ledger.db.errors import Conflict, DatabaseError, NotFound
from ledger.errors import LedgerError
from ledger.proof import ProofInvalid
from ledger.service.errors import (
    AgreementConflict,
    AgreementNotFound,
    NotAnchoredYet,
    ServiceUnavailable,
    SignatureRejected,
)
from ledger.store.errors import StoreUnavailable

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, *, kind: str) -> JSONResponse:
    return JSONResponse(
        {"type": f"urn:ledger:problem:{kind}", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type=PROBLEM_JSON,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ProofInvalid)
    async def _proof_invalid(_: Request, exc: ProofInvalid) -> JSONResponse:
        return problem(422, "Proof is invalid", str(exc), kind="proof-invalid")

    @app.exception_handler(NodeError)
    async def _node(_: Request, exc: NodeError) -> JSONResponse:
        return problem(503, "Chain node unavailable", str(exc), kind="chain-unavailable")

    @app.exception_handler(StoreUnavailable)
    async def _store(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return problem(503, "Content store unavailable", str(exc), kind="store-unavailable")

    @app.exception_handler(AgreementNotFound)
    async def _not_found(_: Request, exc: AgreementNotFound) -> JSONResponse:
        return problem(404, "Agreement not found", str(exc), kind="not-found")

    @app.exception_handler(AgreementConflict)
    async def _conflict(_: Request, exc: AgreementConflict) -> JSONResponse:
        return problem(409, "Conflicts with the agreement's state", str(exc), kind="conflict")

    @app.exception_handler(NotAnchoredYet)
    async def _not_anchored(_: Request, exc: NotAnchoredYet) -> JSONResponse:
        return problem(409, "Not anchored yet", str(exc), kind="not-anchored-yet")

    @app.exception_handler(SignatureRejected)
    async def _bad_signature(_: Request, exc: SignatureRejected) -> JSONResponse:
        return problem(422, "Signature rejected", str(exc), kind="signature-rejected")

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_: Request, exc: ServiceUnavailable) -> JSONResponse:
        return problem(503, "Service unavailable", str(exc), kind="service-unavailable")

    @app.exception_handler(DatabaseError)
    async def _database(_: Request, exc: DatabaseError) -> JSONResponse:
        # the service translates these; should one escape, it is still not a 400 or a 500
        if isinstance(exc, NotFound):
            return problem(404, "Not found", str(exc), kind="not-found")
        if isinstance(exc, Conflict):
            return problem(409, "Conflict", str(exc), kind="conflict")
        return problem(503, "Database unavailable", str(exc), kind="service-unavailable")

    @app.exception_handler(LedgerError)
    async def _ledger(_: Request, exc: LedgerError) -> JSONResponse:
        return problem(400, "Bad request", str(exc), kind="bad-request")

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem(422, "Invalid request", f"{where}: {first['msg']}", kind="invalid-request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail), kind="http")
