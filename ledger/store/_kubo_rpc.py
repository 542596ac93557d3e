"""The Kubo RPC transport of :class:`~ledger.store.kubo.KuboStore`: one ``POST /api/v0/<command>``
at a time over httpx, and what the node's answers mean as :mod:`ledger.store.errors`.

Every transport failure, HTTP timeout or unexplained 5xx is :class:`StoreUnavailable` (one line,
naming the API URL); a "not found" or timed-out answer about a CID is :class:`ContentNotFound`.
A CID the node does not have makes js-ipfs (and an online Kubo) look for it until the request's
``timeout=`` expires; the answer is then HTTP 500 ``"... request timed out"`` (Kubo: ``context
deadline exceeded``).
"""

from __future__ import annotations

from typing import Any, NoReturn

import httpx

from ledger.errors import ConfigurationError, one_line
from ledger.store._multiformats import Cid
from ledger.store.errors import ContentNotFound, StoreError, StoreUnavailable

_HTTP_MARGIN_S = 5.0  # HTTP read timeout beyond the node-side `timeout=` of a request
_MAX_CONNECT_S = 5.0
_HEALTH_TIMEOUT_S = 3.0

# Error messages (lower-cased) by which a node says "I do not have that content": js-ipfs's
# `timeout=` expiring ("request timed out") or a refs stream's "want ... aborted", Kubo's
# "context deadline exceeded" / offline "block was not found locally" / "ipld: could not find".
_NOT_FOUND_HINTS = ("timed out", "deadline exceeded", "not found", "could not find", "aborted")
# ... "that content is not a (UnixFS) file": a user error, not an unavailable node.
_NOT_A_FILE_HINTS = ("directory", "not a file", "not unixfs", "unsupported")
#: ... "that was not pinned" (``pin/rm``; Kubo: "not pinned or pinned indirectly").
NOT_PINNED_HINTS = ("not pinned", "pinned indirectly")
#: ... "that block stays" (``block/rm``): gone already, or another pin still holds it.
KEPT_HINTS = ("not found", "pinned")


def _duration(seconds: float) -> str:
    """A node-side ``timeout=`` value (Go ``time.ParseDuration`` / js ``parse-duration``)."""
    return f"{max(1, round(seconds * 1000))}ms"


class KuboRpc:
    """``POST /api/v0/<command>`` on the node at ``api_url`` (``http(s)://host:port``, with or
    without ``/api/v0``). ``timeout_s``: the node-side ``timeout=`` of content commands (and,
    with a margin, the HTTP read timeout). A ``client`` passed in is used as is (and not
    closed)."""

    def __init__(self, *, api_url: str, timeout_s: float, client: httpx.Client | None) -> None:
        url = api_url.strip().rstrip("/")
        url = url.removesuffix("/api/v0")
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ConfigurationError(f"invalid IPFS API URL {api_url!r}: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError(
                f"invalid IPFS API URL {api_url!r}: expected http(s)://host:port"
            )
        self.api_url = url
        self.timeout_s = timeout_s
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()

    def close(self) -> None:
        """Close the HTTP client if this transport created it."""
        if self._owns_client:
            self._client.close()

    def content_params(self, cid: Cid, timeout_s: float | None = None) -> dict[str, str]:
        """``arg`` and node-side ``timeout`` of a command that reads ``cid``."""
        return {"arg": str(cid), "timeout": _duration(timeout_s or self.timeout_s)}

    def read_timeout(self, node_timeout_s: float) -> float:
        """The HTTP read timeout of a command whose node-side ``timeout=`` is given."""
        return node_timeout_s + _HTTP_MARGIN_S

    def call(
        self,
        command: str,
        params: dict[str, str],
        *,
        read_s: float | None = None,
        cid: Cid | None = None,
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """POST ``/api/v0/<command>``; return a 200 response or raise the matching StoreError.

        ``cid``: the content the command reads; a "not found"/timeout answer then raises
        :class:`ContentNotFound` for it.
        """
        response = self.post(command, params, read_s=read_s, files=files)
        if response.status_code != 200:
            self.raise_for(command, response, cid)
        return response

    def post(
        self,
        command: str,
        params: dict[str, str],
        *,
        read_s: float | None = None,
        files: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """POST ``/api/v0/<command>``, any HTTP status; transport failures: StoreUnavailable."""
        url = f"{self.api_url}/api/v0/{command}"
        read_s = read_s if read_s is not None else self.read_timeout(self.timeout_s)
        timeout = httpx.Timeout(read_s, connect=min(self.timeout_s, _MAX_CONNECT_S))
        try:
            return self._client.post(url, params=params, files=files, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(
                f"IPFS node at {self.api_url} timed out on {command} "
                f"({type(exc).__name__}, limit {read_s:g}s)",
                url=self.api_url,
            ) from None
        except httpx.TransportError as exc:  # refused, reset, closed mid-answer, DNS, ...
            raise StoreUnavailable(
                f"IPFS node at {self.api_url} is unreachable ({command}): "
                f"{one_line(str(exc) or type(exc).__name__, 200)}",
                url=self.api_url,
            ) from None

    @staticmethod
    def message(response: httpx.Response) -> str:
        """The node's error message (Kubo RPC errors: ``{"Message", "Code", "Type"}``)."""
        message = response.text
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("Message"), str):
                message = body["Message"]
        except ValueError:
            pass
        return one_line(message, 300) or response.reason_phrase

    def raise_for(self, command: str, response: httpx.Response, cid: Cid | None) -> NoReturn:
        """The StoreError of a non-200 answer to ``command`` (about ``cid``, if given)."""
        status = response.status_code
        message = self.message(response)
        lower = message.lower()
        where = f"IPFS node at {self.api_url}"
        if cid is not None and status in (404, 500):
            if any(hint in lower for hint in _NOT_FOUND_HINTS) and lower not in ("not found", ""):
                raise ContentNotFound(
                    f"content {cid} not found on the {where} ({command}: {message})",
                    cid=str(cid),
                )
            if status == 500 and any(hint in lower for hint in _NOT_A_FILE_HINTS):
                raise StoreError(f"{cid} cannot be read as a file ({command}: {message})")
        if status >= 500:
            raise StoreUnavailable(
                f"{where} failed {command}: HTTP {status}: {message}", url=self.api_url
            )
        if status in (404, 405, 501):
            raise StoreUnavailable(
                f"{where} does not serve /api/v0/{command} (HTTP {status}: {message}): "
                "not a Kubo RPC API?",
                url=self.api_url,
            )
        raise StoreError(f"{where} rejected {command}: HTTP {status}: {message}")

    def unexpected(self, command: str, response: httpx.Response) -> StoreUnavailable:
        """The error for a 200 answer to ``command`` that is not what the RPC API answers."""
        return StoreUnavailable(
            f"IPFS node at {self.api_url} gave an unexpected {command} answer: "
            f"{one_line(response.text, 200)!r}",
            url=self.api_url,
        )

    def healthy(self) -> bool:
        """Whether the node answers ``version`` (quickly); never raises."""
        try:
            response = self._client.post(
                f"{self.api_url}/api/v0/version",
                timeout=httpx.Timeout(min(self.timeout_s, _HEALTH_TIMEOUT_S)),
            )
            return response.status_code == 200 and bool(response.json().get("Version"))
        except (httpx.HTTPError, ValueError, AttributeError):
            return False
