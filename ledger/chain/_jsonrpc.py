"""JSON-RPC over HTTP for :mod:`ledger.chain.client`: requests, answers, errors, encodings.

POSTs go through one httpx client per process (keep-alive connections, proxies from the
environment); a forked child makes its own.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Any

import httpx

from ledger.chain.errors import NodeError


class RpcError(NodeError):
    """The node answered a JSON-RPC call with an error object."""

    def __init__(self, message: str, *, code: int | None, rpc_message: str, data: Any) -> None:
        super().__init__(message)
        self.code = code
        self.rpc_message = rpc_message
        self.data = data


_JSON_HEADERS = {"Content-Type": "application/json"}


class HttpStatusError(NodeError):
    """The node answered with an HTTP error and no JSON-RPC answer."""


_http_lock = threading.Lock()
_http: tuple[int, httpx.Client] | None = None  # (pid, client)


def _http_client() -> httpx.Client:
    global _http
    shared = _http
    if shared is None or shared[0] != os.getpid():
        with _http_lock:
            shared = _http
            if shared is None or shared[0] != os.getpid():
                client = httpx.Client(
                    headers=_JSON_HEADERS,
                    limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30),
                )
                _http = shared = (os.getpid(), client)
    return shared[1]


def request(request_id: int, method: str, params: Sequence[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def post(url: str, payload: Any, timeout_s: float) -> Any:
    body = json.dumps(payload).encode()
    try:
        try:
            reply = _http_client().post(url, content=body, timeout=timeout_s)
        except (httpx.RemoteProtocolError, httpx.NetworkError):
            # A kept-alive connection the node closed just as we sent on it (it need not say
            # so first; under load the socket may already be gone: EBADF, a reset): once more,
            # on a fresh connection. Safe: every call we make is a read or the re-send of
            # signed bytes, which the node takes once (same hash). A node that is down fails
            # the second attempt too, at once.
            reply = _http_client().post(url, content=body, timeout=timeout_s)
        data = reply.content
        if reply.status_code != 200 and not data.startswith((b"{", b"[")):
            raise HttpStatusError(f"chain node at {url} answered HTTP {reply.status_code}")
        return json.loads(data)
    except httpx.HTTPError as exc:
        raise NodeError(f"chain node at {url} unreachable: {exc}") from exc
    except ValueError as exc:
        raise NodeError(f"chain node at {url} answered something other than JSON") from exc


def result_of(url: str, method: str, answer: Any) -> Any:
    """The result of one JSON-RPC answer, or the :class:`RpcError` it carries."""
    if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
        raise NodeError(f"chain node at {url} gave no answer to {method}: {answer!r:.200}")
    error = answer.get("error")
    if error is None:
        return answer["result"]
    if not isinstance(error, dict):
        error = {"message": str(error)}
    message = str(error.get("message", ""))
    return RpcError(
        f"chain node at {url} failed: {method}: {message} (code {error.get('code')})",
        code=error.get("code"),
        rpc_message=message,
        data=error.get("data"),
    )


def from_hex(value: str) -> bytes:
    return bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)


def quantity(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)
