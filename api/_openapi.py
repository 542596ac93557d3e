"""What the OpenAPI document says about errors and path parameters, written once.

Routers take their path-parameter types and error responses from here; :func:`install` makes
the document say what the app does: every error is ``application/problem+json`` with the
:class:`~api.problems.Problem` schema (FastAPI would say ``application/json`` and its own
validation-error model), and every operation documents a ``default`` problem for the statuses
any route can answer (405, 413, 500).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Path

from api.problems import PROBLEM_JSON, Problem
from ledger._ids import AGREEMENT_ID_PATTERN
from ledger.agreement import MAX_VERSION

AgreementIdPath = Annotated[
    str,
    Path(
        pattern=AGREEMENT_ID_PATTERN,
        description="The agreement ID (agr_ and 32 hex digits)",
        examples=["agr_0123456789abcdef0123456789abcdef"],
    ),
]
VersionPath = Annotated[int, Path(ge=1, le=MAX_VERSION, description="Agreement version, from 1")]

#: What a route taking ``SignedCaller`` answers a caller it does not admit.
AUTH_PROBLEMS: dict[int, str] = {
    401: "The request is not signed, or its RFC 9421 signature is refused (the problem names"
    " what was missing or wrong; Accept-Signature says what to sign)",
    403: "The signed caller may not do this (the problem names the role or ownership it lacks)",
}

#: Problems any operation with a JSON body can answer before its own code runs.
BODY_PROBLEMS: dict[int, str] = {
    400: "The body is not JSON, or is nested too deeply",
    413: "The body is over its limit (refused before it was read)",
    422: "The request does not match its schema",
}


def problems(descriptions: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: these statuses, each a problem+json :class:`Problem`."""
    return {
        status: {"description": text, "model": Problem} for status, text in descriptions.items()
    }


_REF = "#/components/schemas/"
_PROBLEM = {"schema": {"$ref": _REF + "Problem"}}
_FASTAPI_VALIDATION = {_REF + "HTTPValidationError"}


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _errors_are_problems(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _errors_are_problems(document: dict[str, Any]) -> None:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                content = response.get("content", {})
                schema = content.get("application/json", {}).get("schema", {})
                if (
                    status != "default"
                    and int(status) >= 400
                    and (schema.get("$ref") in {_REF + "Problem", *_FASTAPI_VALIDATION})
                ):
                    del content["application/json"]
                    content[PROBLEM_JSON] = _PROBLEM
            responses.setdefault(
                "default",
                {
                    "description": "Any other error (405, 413, 500, ...)",
                    "content": {PROBLEM_JSON: _PROBLEM},
                },
            )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema())
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
