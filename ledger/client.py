"""A client of a member's service that signs every request with the caller's SM2 key.

:class:`LedgerClient` is an ``httpx`` client whose every request carries a ``Content-Digest``
and an RFC 9421 ``sm2-sm3`` signature (:class:`ledger.httpsig.RequestSigner`), so brokers,
customers, auditors and other members call a service without writing any of it themselves.
:class:`SigningAuth` is the same signing as an ``httpx.Auth``, for any other ``httpx`` client
(``auth=SigningAuth(signer)``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from datetime import datetime
from typing import Any, Literal

import httpx

from ledger.crypto.keystore import Keystore
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.httpsig import RequestSigner
from ledger.settings import Settings

__all__ = ["LedgerClient", "SigningAuth", "refusal_line"]


class SigningAuth(httpx.Auth):
    """Signs each request just before it is sent (the body is read first)."""

    requires_request_body = True

    def __init__(self, signer: RequestSigner) -> None:
        self.signer = signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.signer.sign(
            method=request.method,
            url=str(request.url),
            headers=request.headers,
            body=request.content,
        )
        yield request


class LedgerClient:
    """Signed calls to one service (``base_url``) with one key; a context manager."""

    def __init__(
        self,
        *,
        base_url: str,
        key: SM2PrivateKey,
        keyid: str | None = None,
        digest: Literal["sha-256", "sm3"] = "sha-256",
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.signer = RequestSigner(key=key, keyid=keyid, digest=digest, clock=clock)
        self.http = httpx.Client(
            base_url=base_url,
            auth=SigningAuth(self.signer),
            timeout=timeout_s,
            transport=transport,
        )

    @classmethod
    def from_keystore(
        cls, *, base_url: str, keystore: Keystore, name: str, password: bytes, **options: Any
    ) -> LedgerClient:
        """With the key stored under ``name`` in ``keystore`` (opened with ``password``)."""
        return cls(base_url=base_url, key=keystore.load(name, password), **options)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, base_url: str, name: str, **options: Any
    ) -> LedgerClient:
        """With the key ``name`` of the local keystore (``LEDGER_DATA_DIR``/keys, opened with
        ``LEDGER_KEYSTORE_PASSWORD``)."""
        return cls.from_keystore(
            base_url=base_url,
            keystore=Keystore(directory=settings.keys_dir),
            name=name,
            password=settings.keystore_password.get_secret_value().encode(),
            **options,
        )

    @property
    def keyid(self) -> str:
        return self.signer.keyid

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One signed request; the response as it came (raise on it with
        ``raise_for_status()`` if need be)."""
        return self.http.request(
            method, path, json=json, content=content, params=params, headers=headers
        )

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def delete(self, path: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", path, **options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_PROBLEM_PREFIX = "urn:ledger:problem:"


def refusal_line(reply: httpx.Response) -> str:
    """One line of a refused request: the status, the problem type and its detail (or the
    reply's first line)."""
    try:
        problem = reply.json()
    except ValueError:
        problem = None
    if isinstance(problem, dict) and "detail" in problem:
        kind = str(problem.get("type", "")).removeprefix(_PROBLEM_PREFIX)
        said = f"{kind}: {problem['detail']}"
    else:
        said = reply.text.strip() or reply.reason_phrase
    return f"{reply.status_code} " + " ".join(said.split())
