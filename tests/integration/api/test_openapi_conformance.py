"""Schemathesis over the OpenAPI document, against a real ``python -m api`` process (uvicorn,
the evidence service on a real anvil and SQLite): every operation, generated valid and invalid
requests, each signed (RFC 9421) as a registered broker just before it is sent, and the reply
must be what the document says (status, media type, schema, headers), never a server error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from ledger._ids import AGREEMENT_ID_PATTERN
from ledger.agreement import MAX_VERSION
from ledger.chain.devnode import DEV_PRIVATE_KEY
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import RequestSigner
from tests._fixtures.anvil import free_port
from tests._fixtures.members import Consortium
from tests._fixtures.server import ServiceProcess

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class SignedRequests(requests.auth.AuthBase):
    """Signs each request as sent (its final URL, headers and body), as LedgerClient does."""

    def __init__(self, key: SM2PrivateKey) -> None:
        self.signer = RequestSigner(key=key)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        self.signer.sign(
            method=request.method or "GET",
            url=request.url or "",
            headers=request.headers,
            body=body.encode() if isinstance(body, str) else body,
        )
        return request


BROKER = Consortium()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory, anvil_url: str) -> Iterator[str]:
    service = ServiceProcess(
        data_dir=tmp_path_factory.mktemp("schemathesis"),
        port=free_port(),
        env={"LEDGER_CHAIN_RPC_URL": anvil_url, "LEDGER_CHAIN_PRIVATE_KEY": DEV_PRIVATE_KEY},
        consortium=BROKER,
    )
    service.start()
    try:
        yield service.url
    finally:
        service.close()


@pytest.fixture(scope="module")
def api_schema(live_api: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live_api}/openapi.json")


#: Every operation of the document (read from the app, so a new route is tested without edits)
#: with each way of generating requests; invalid ones only where there is input to spoil.
CASES = [
    (mode, method.upper(), path)
    for path, operations in create_app().openapi()["paths"].items()
    for method, operation in operations.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE or "parameters" in operation or "requestBody" in operation
]


# Each operation is its own test and drives Hypothesis itself: schemathesis' pytest plugin
# (``schemathesis.pytest.from_fixture``) reads a private attribute pytest 9 no longer has.
@pytest.mark.parametrize(("mode", "method", "path"), CASES)
def test_the_api_does_what_its_openapi_document_says(
    api_schema: schemathesis.BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def conforms(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=CHECKS, auth=SignedRequests(BROKER.broker_a))
        # every request is signed by a registered broker after it was generated: never a 401
        assert response.status_code != 401, response.text

    conforms()


def test_every_error_is_documented_as_a_problem_and_path_ids_carry_their_pattern() -> None:
    document = create_app().openapi()
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status == "default" or int(status) >= 400:
                    expected = (
                        {"application/json"}
                        if (path, method, status) == ("/health", "get", "503")
                        else {"application/problem+json"}
                    )
                    assert set(response["content"]) == expected, (path, method, status)
                    if expected == {"application/problem+json"}:
                        assert response["content"]["application/problem+json"] == problem
            assert "default" in operation["responses"], (path, method)
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "agreement_id":
                    assert parameter["schema"]["pattern"] == AGREEMENT_ID_PATTERN
                if parameter["name"] == "version":
                    assert parameter["schema"]["minimum"] == 1
                    assert parameter["schema"]["maximum"] == MAX_VERSION
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "detail",
    ]
