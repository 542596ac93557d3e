"""RFC 9457 problem details: the one place errors become HTTP responses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.attestation.disclosure import DisclosureError
from ledger.audit.errors import PeriodInvalid
from ledger.chain.errors import (
    DeploymentError,
    InvalidArgument,
    InvalidKeyEntry,
    NodeError,
    NotMined,
    NotPermitted,
    StateConflict,
    TransactionFailed,
    UnknownRecord,
)
from ledger.consent import release as consent_release
from ledger.customer.errors import DocumentError
from ledger.db.errors import Conflict, DatabaseError, NotFound
from ledger.errors import LedgerError
from ledger.httpsig import ACCEPT_SIGNATURE, RequestSignatureError
from ledger.member import AccessError, Forbidden
from ledger.member.attestations import AttestationDeskError, AttestationNotFound
from ledger.member.consent_proofs import ConsentProofRefused
from ledger.member.consents import ConsentNotFound, ConsentSignatureInvalid
from ledger.member.releases import NoDisclosureKey, ReleaseRequestInvalid
from ledger.member.reuse import (
    AttesterRefused,
    AttesterUnreachable,
    ReleaseMismatch,
    RelianceRefused,
    ReuseError,
)
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


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``), the body of every error."""

    type: str = Field(
        description="urn:ledger:problem:<kind>", examples=["urn:ledger:problem:conflict"]
    )
    title: str
    status: int = Field(ge=400, le=599)
    detail: str


def _body(status: int, title: str, detail: str, *, kind: str) -> dict[str, Any]:
    return {
        "type": f"urn:ledger:problem:{kind}",
        "title": title,
        "status": status,
        "detail": detail,
    }


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    kind: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The one function that writes a problem+json reply (handlers and middleware call it)."""
    return JSONResponse(
        _body(status, title, detail, kind=kind),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


#: Exception -> (status, title, problem kind). Starlette picks the handler of the most specific
#: class in the exception's MRO, so a subclass listed here wins over its base.
_PROBLEMS: dict[type[Exception], tuple[int, str, str]] = {
    ProofInvalid: (422, "Proof is invalid", "proof-invalid"),
    NodeError: (503, "Chain node unavailable", "chain-unavailable"),
    # a contract's refusal (its custom error and arguments in the detail); nothing was sent
    NotPermitted: (403, "Refused by the contract", "not-permitted"),
    UnknownRecord: (404, "Not found on chain", "not-found"),
    StateConflict: (409, "Conflicts with the contract's state", "state-conflict"),
    InvalidArgument: (422, "Refused by the contract as invalid", "invalid-argument"),
    # reverted when mined (its state changed since the simulation): nothing changed
    TransactionFailed: (409, "Transaction reverted", "transaction-failed"),
    NotMined: (503, "Transaction not mined in time", "not-mined"),
    DeploymentError: (503, "Contracts not deployed", "service-unavailable"),
    InvalidKeyEntry: (502, "Malformed key registry entry", "invalid-key-entry"),
    StoreUnavailable: (503, "Content store unavailable", "store-unavailable"),
    AgreementNotFound: (404, "Agreement not found", "not-found"),
    Forbidden: (403, "Forbidden", "forbidden"),
    # NotVisible is answered by the service as a missing agreement; should one escape, still 404
    AccessError: (404, "Agreement not found", "not-found"),
    AgreementConflict: (409, "Conflicts with the agreement's state", "conflict"),
    NotAnchoredYet: (409, "Not anchored yet", "not-anchored-yet"),
    SignatureRejected: (422, "Signature rejected", "signature-rejected"),
    ServiceUnavailable: (503, "Service unavailable", "service-unavailable"),
    DocumentError: (422, "Invalid consent document", "invalid-document"),
    ConsentSignatureInvalid: (422, "Consent signature rejected", "consent-signature-invalid"),
    ConsentNotFound: (404, "Grant not found", "not-found"),
    # reusing another member's KYC: what it relied on ended, or the attester's side failed
    RelianceRefused: (409, "Reliance refused", "reliance-refused"),
    ReleaseMismatch: (502, "The release does not check", "release-mismatch"),
    AttesterRefused: (502, "Refused by the attester", "attester-refused"),
    AttesterUnreachable: (503, "Attester unreachable", "attester-unavailable"),
    ReuseError: (422, "Cannot reuse", "reuse-refused"),
    PeriodInvalid: (422, "Invalid period", "invalid-period"),
    ConsentProofRefused: (409, "No proof of this consent", "consent-proof-refused"),
    DisclosureError: (422, "Invalid attested fields", "invalid-fields"),
    AttestationNotFound: (404, "Attestation not found", "not-found"),
    AttestationDeskError: (409, "Attestation refused", "attestation-refused"),
    ReleaseRequestInvalid: (422, "Invalid release request", "invalid-release-request"),
    NoDisclosureKey: (409, "No key to release to", "no-disclosure-key"),
    # a release refused: the type names the check that failed; nothing written, nothing released
    consent_release.NotGrantee: (403, "Not the grantee", "not-grantee"),
    consent_release.FieldOutOfScope: (422, "Field out of scope", "field-out-of-scope"),
    consent_release.PurposeOutOfScope: (422, "Purpose out of scope", "purpose-out-of-scope"),
    consent_release.PerUseAuthorizationInvalid: (
        422,
        "Use authorization invalid",
        "per-use-authorization-invalid",
    ),
    consent_release.GrantInert: (409, "Grant inert", "grant-inert"),
    consent_release.AttestationNotValid: (409, "Attestation not valid", "attestation-not-valid"),
    consent_release.GrantNotYetValid: (409, "Grant not yet valid", "grant-not-yet-valid"),
    consent_release.GrantExpired: (409, "Grant expired", "grant-expired"),
    consent_release.GrantRevoked: (409, "Grant revoked", "grant-revoked"),
    consent_release.UsesExhausted: (409, "Uses exhausted", "uses-exhausted"),
    consent_release.PerUseAuthorizationMissing: (
        409,
        "Use authorization missing",
        "per-use-authorization-missing",
    ),
    consent_release.PerUseAuthorizationReplayed: (
        409,
        "Use authorization replayed",
        "per-use-authorization-replayed",
    ),
    consent_release.ReleaseRefused: (409, "Release refused", "release-refused"),
    # the service translates database errors; should one escape, it is still not a 400 or 500
    NotFound: (404, "Not found", "not-found"),
    Conflict: (409, "Conflict", "conflict"),
    DatabaseError: (503, "Database unavailable", "service-unavailable"),
    LedgerError: (400, "Bad request", "bad-request"),
}


#: What a 401 tells the client to send: an RFC 9421 signature covering what ``Accept-Signature``
#: lists (RFC 9421 §5.1). RFC 9421 defines no authentication scheme; ``Signature`` is the name
#: HTTP signature schemes commonly go by.
UNAUTHENTICATED_HEADERS = {"WWW-Authenticate": "Signature", "Accept-Signature": ACCEPT_SIGNATURE}


def _unauthenticated(error: RequestSignatureError) -> tuple[int, str, str]:
    return 401, "Request signature refused", error.kind


def problem_of(error: LedgerError) -> dict[str, Any]:
    """The problem details of ``error`` as the handlers would write them (for results that
    carry one problem per item, such as a bulk submission's)."""
    if isinstance(error, RequestSignatureError):
        status, title, kind = _unauthenticated(error)
        return _body(status, title, str(error), kind=kind)
    for cls in type(error).__mro__:
        if cls in _PROBLEMS:
            status, title, kind = _PROBLEMS[cls]
            return _body(status, title, str(error), kind=kind)
    raise AssertionError(f"{type(error).__name__} is a LedgerError: it has a problem")


def _handler(status: int, title: str, kind: str) -> Callable[[Request, Exception], Any]:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        return problem(status, title, str(exc), kind=kind)

    return handle


def install(app: FastAPI) -> None:
    for exception, (status, title, kind) in _PROBLEMS.items():
        app.add_exception_handler(exception, _handler(status, title, kind))

    @app.exception_handler(RequestSignatureError)
    async def _signature(_: Request, exc: RequestSignatureError) -> JSONResponse:
        status, title, kind = _unauthenticated(exc)
        return problem(status, title, str(exc), kind=kind, headers=UNAUTHENTICATED_HEADERS)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem(422, "Invalid request", f"{where}: {first['msg']}", kind="invalid-request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return http_problem(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette's ServerErrorMiddleware calls this, logs the traceback and re-raises.
        return http_problem(500, "the server failed; the error is in its log")


def http_problem(
    status: int, detail: str, *, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A problem named after its HTTP status (routing, body limits, server errors)."""
    phrase = HTTPStatus(status).phrase
    kind = phrase.lower().replace(" ", "-")
    return problem(status, phrase, detail, kind=kind, headers=headers)
