"""The ``/v1/reliances`` endpoints for the HTTP authorization matrix. The service under test
runs on the dev chain's one-member consortium (its own account is the operator's member):
reliances are read by auditors, the regulator and the member itself (the operator); a reuse is
asked only by the member's own brokers (the operator; its request names a grant the chain does
not know, so it gets as far as the chain: 404)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

from ledger import canonical
from ledger.service import RunningService

Built = tuple[str, str, Any]
#: A route of the matrix: the running service -> request.
Build = Callable[[RunningService], Built]


def _list(_: RunningService) -> Built:
    return "GET", "/v1/reliances?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z", None


def _affected(_: RunningService) -> Built:
    return "GET", "/v1/reliances?affected=true", None


def _reuse(_: RunningService) -> Built:
    body = {
        "grant_id": canonical.hex0x(os.urandom(32)),
        "fields": ["family_name"],
        "purpose": "account-opening",
        "terms": {"content": base64.b64encode(b"terms").decode()},
    }
    return "POST", "/v1/reliances", body


ROUTES: dict[str, Build] = {
    "list-reliances": _list,
    "affected-reliances": _affected,
    "reuse": _reuse,
}
ENDPOINTS = {
    "list-reliances": ("GET", "/v1/reliances"),
    "affected-reliances": ("GET", "/v1/reliances"),
    "reuse": ("POST", "/v1/reliances"),
}
#: Who reads the operator's member's reliances.
READERS = {"auditor", "regulator", "operator"}


def expected(caller: str, route: str) -> tuple[int, str | None]:
    """(status, problem type or None) of an authenticated ``caller`` on ``route``."""
    if route == "reuse":
        return (404, "not-found") if caller == "operator" else (403, "forbidden")
    return (200, None) if caller in READERS else (403, "forbidden")
